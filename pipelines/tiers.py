"""DVC stage `tiers`: assign every account of the scoring population a collection tier.

Population: the current book (split == 'score') when the scores hold one; otherwise the file named
in params `tiers.score_file` (scores and policy inputs in one table), else the test split. The
labelled `tiers.backtest_split` is tiered too, for the observed bad rate per tier (summary only).
Reasons from the explain stage are optional: without the file the `reasons` column is empty.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from collection_policy.engine import (
    FEATURE_COLUMN_MAP,
    MODES,
    accounts_from_features,
    assign_tiers,
    summarise_tiers,
)
from collection_policy.loader import load_policy
from collection_policy.render import policy_markdown
from collection_policy.schema import CollectionPolicy
from features.errors import ConfigError, DataValidationError
from features.io import atomic_path, write_json, write_parquet
from pipelines.common import base_parser, load_params, run_stage, section

log = logging.getLogger(__name__)

KEYS = ["account_id", "observation_date"]
SCORE_COLUMNS = ["account_id", "observation_date", "split", "default", "pd", "score", "grade"]
POLICY_COLUMNS = list(FEATURE_COLUMN_MAP)


@dataclass(frozen=True)
class TiersConfig:
    policy: Path
    mode: str
    score_file: Path | None
    backtest_split: str


def load_config(params: dict[str, Any]) -> TiersConfig:
    s = section(params, "tiers")
    policy = s.get("policy")
    if not isinstance(policy, str) or not policy:
        raise ConfigError("tiers.policy", "must be the path of the policy YAML", policy)
    mode = s.get("mode", "rules")
    if mode not in MODES:
        raise ConfigError("tiers.mode", f"must be one of {list(MODES)}", mode)
    score_file = s.get("score_file")
    if score_file is not None and (not isinstance(score_file, str) or not score_file):
        raise ConfigError("tiers.score_file", "must be null or a Parquet path", score_file)
    backtest = s.get("backtest_split", "test")
    if backtest not in ("train", "validation", "test"):
        raise ConfigError("tiers.backtest_split", "must be train, validation or test", backtest)
    return TiersConfig(Path(policy), mode, Path(score_file) if score_file else None, backtest)


def _read(path: Path, wanted: list[str], required: list[str]) -> pd.DataFrame:
    """Read only the columns the stage needs, failing clearly on absent files/columns."""
    if not path.exists():
        raise DataValidationError(str(path), "file not found")
    names = set(pq.read_schema(path).names)
    missing = [c for c in required if c not in names]
    if missing:
        raise DataValidationError(
            str(path), f"missing required column(s) {missing}", column=missing[0]
        )
    return pd.read_parquet(path, columns=[c for c in wanted if c in names])


def _join(scores: pd.DataFrame, features: pd.DataFrame, path: str) -> pd.DataFrame:
    """One-to-one join of scores and policy inputs; every scored account needs its inputs."""
    feats = features.drop(columns=["split"], errors="ignore")
    try:
        joined = scores.merge(feats, on=KEYS, how="left", validate="one_to_one", indicator=True)
    except pd.errors.MergeError as exc:
        raise DataValidationError(
            path, f"account keys are not unique: {exc}", column="account_id"
        ) from None
    lost = (joined["_merge"] != "both").to_numpy()
    if lost.any():
        raise DataValidationError(
            path,
            "a scored account has no row in the feature table",
            column="account_id",
            row=int(np.argmax(lost)),
        )
    return joined.drop(columns="_merge").reset_index(drop=True)


def select_population(
    scores: pd.DataFrame, features: pd.DataFrame, cfg: TiersConfig, features_path: str
) -> tuple[pd.DataFrame, str]:
    """The accounts to tier and a label of where they came from."""
    if (scores["split"] == "score").any():
        s = scores[scores["split"] == "score"]
        return _join(s, features[features["split"] == "score"], features_path), "score"
    if cfg.score_file is not None:
        frame = _read(
            cfg.score_file,
            [*SCORE_COLUMNS, *POLICY_COLUMNS, *FEATURE_COLUMN_MAP.values()],
            ["account_id", "pd", "score", "grade"],
        )
        if "observation_date" not in frame:
            frame["observation_date"] = pd.NaT
        if "split" not in frame:
            frame["split"] = "score_file"
        return frame.reset_index(drop=True), f"score_file:{cfg.score_file}"
    s = scores[scores["split"] == "test"]
    if s.empty:
        raise DataValidationError(
            features_path, "no 'score' or 'test' rows to tier", column="split"
        )
    return _join(s, features[features["split"] == "test"], features_path), "test"


def load_reasons(path: Path | None) -> pd.DataFrame | None:
    """Top reasons as one text per account ('; ' in rank order); None when explain has not run."""
    if path is None or not path.exists():
        log.warning("no reasons file at %s: the reasons column stays empty", path)
        return None
    r = _read(path, [*KEYS, "rank", "text"], [*KEYS, "rank", "text"])
    r = r.sort_values([*KEYS, "rank"], kind="stable")
    agg = r.groupby(KEYS, dropna=False, sort=False)["text"].agg(lambda s: "; ".join(map(str, s)))
    return agg.rename("reasons").reset_index()


def tier_frame(
    population: pd.DataFrame, policy: CollectionPolicy, mode: str, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    accounts = accounts_from_features(population)
    result = assign_tiers(accounts, policy, mode, source=source)
    return accounts, result


def build_output(
    population: pd.DataFrame,
    accounts: pd.DataFrame,
    result: pd.DataFrame,
    reasons: pd.DataFrame | None,
    policy: CollectionPolicy,
) -> pd.DataFrame:
    base = population[
        [c for c in ("account_id", "observation_date", "split", "default") if c in population]
    ]
    inputs = accounts[
        ["pd", "score", "grade", "days_past_due", "overdue_amount", "outstanding_balance"]
    ]
    out = pd.concat([base, inputs, result], axis=1)
    if reasons is not None:
        out = out.merge(reasons, on=KEYS, how="left", validate="many_to_one")
        out["reasons"] = out["reasons"].fillna("")
    else:
        out["reasons"] = ""
    out["policy_version"] = f"{policy.version}@{policy.fingerprint()}"
    first = ["account_id", "observation_date", "split", "pd", "score", "grade", "tier", "tier_name"]
    rest = ["channels", "caps", "offer", "rule", "guardrails", "reasons", "rule_tier", "ev_tier"]
    order = [c for c in first + ["handling"] + rest if c in out]
    return out[order + [c for c in out.columns if c not in order]]


def plot_tiers(summary: dict[str, Any], policy: CollectionPolicy, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"T{t.id}" for t in policy.tiers]
    x = np.arange(len(labels))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, metric, title in (
        (axes[0], "accounts", "Accounts per tier"),
        (axes[1], "expected_loss", f"Expected loss (PD x exposure, {policy.currency})"),
    ):
        r = [summary["rules_tiers"][k][metric] for k in labels]
        e = [summary["ev_tiers"][k][metric] for k in labels]
        ax.bar(x - 0.2, r, 0.4, label="rules")
        ax.bar(x + 0.2, e, 0.4, label="expected value")
        ax.set_xticks(x, labels)
        ax.set_title(title)
        ax.legend()
    bt = summary.get("backtest") or {}
    ax = axes[2]
    if bt.get("rules_tiers"):
        for key, name in (("rules_tiers", "rules"), ("ev_tiers", "expected value")):
            rates = [bt[key][k].get("bad_rate") for k in labels]
            ax.plot(x, [np.nan if v is None else v for v in rates], marker="o", label=name)
        ax.set_title(f"Observed bad rate per tier ({bt.get('split')}, n={bt.get('accounts')})")
        ax.set_xticks(x, labels)
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no labelled back-test", ha="center", va="center")
        ax.set_axis_off()
    fig.suptitle(f"Collection tiers: {policy.name} {policy.version} (mode: {summary['mode']})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    cfg = load_config(load_params(args.params))
    policy = load_policy(args.policy or cfg.policy)
    log.info(
        "policy %s %s (%s), mode %s", policy.name, policy.version, policy.fingerprint(), cfg.mode
    )
    scores_path, features_path = Path(args.scores), Path(args.features)
    scores = _read(
        scores_path,
        SCORE_COLUMNS,
        ["account_id", "observation_date", "split", "pd", "score", "grade"],
    )
    features = _read(
        features_path, [*KEYS, "split", *POLICY_COLUMNS], [*KEYS, "split", *POLICY_COLUMNS]
    )
    population, origin = select_population(scores, features, cfg, str(features_path))
    accounts, result = tier_frame(population, policy, cfg.mode, f"{origin} population")
    reasons = load_reasons(Path(args.reasons) if args.reasons else None)
    out = build_output(population, accounts, result, reasons, policy)
    write_parquet(out, args.out)

    labels = population.get("default")
    summary: dict[str, Any] = {
        "policy": {
            "name": policy.name,
            "version": policy.version,
            "fingerprint": policy.fingerprint(),
        },
        "population": origin,
        **summarise_tiers(accounts, result, policy, labels),
        "reasons_available": reasons is not None,
    }
    bt = scores[(scores["split"] == cfg.backtest_split) & scores["default"].notna()]
    if origin != cfg.backtest_split and not bt.empty:
        bpop = _join(bt, features[features["split"] == cfg.backtest_split], str(features_path))
        b_acc, b_res = tier_frame(bpop, policy, cfg.mode, f"{cfg.backtest_split} back-test")
        b = summarise_tiers(b_acc, b_res, policy, bpop["default"])
        summary["backtest"] = {"split": cfg.backtest_split, **b}
        log.info(
            "back-test on %s (%d labelled): bad rate rises with rules tier: %s, with EV tier: %s",
            cfg.backtest_split,
            b.get("labelled", 0),
            b.get("bad_rate_rises_with_rules_tier"),
            b.get("bad_rate_rises_with_ev_tier"),
        )
    write_json(summary, args.summary)  # no timings in metrics: they would differ on every run
    plot_tiers(summary, policy, Path(args.plot))
    with atomic_path(args.policy_summary) as tmp:
        tmp.write_text(policy_markdown(policy))
    log.info(
        "tiered %d accounts (%s) in %.1fs: %s",
        len(out),
        origin,
        time.perf_counter() - t0,
        {k: v["accounts"] for k, v in summary["tiers"].items()},
    )


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--scores", default="data/scores/scores.parquet")
    p.add_argument("--features", default="data/features/features.parquet")
    p.add_argument("--reasons", default="data/explanations/reasons.parquet", help="optional")
    p.add_argument("--policy", default=None, help="override params tiers.policy")
    p.add_argument("--out", default="data/tiers/tiers.parquet")
    p.add_argument("--summary", default="reports/tiers.json")
    p.add_argument("--plot", default="reports/tiers.png")
    p.add_argument("--policy-summary", default="reports/policy_summary.md")
    return p


if __name__ == "__main__":
    run_stage(main, build_parser())

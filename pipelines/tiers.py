"""DVC stage `tiers`: assign every account of the scoring population a collection tier.

Population: the current book (split == 'score') when the scores hold one; otherwise the file named
in params `tiers.score_file` (scores and policy inputs in one table), else the test split. The
labelled `tiers.backtest_split` is tiered too, for the observed bad rate per tier (summary only).
Reasons come from the explain stage (`--reasons`, as dvc.yaml passes it): a named file that is
missing is an error; only a run without `--reasons` tiers with an empty `reasons` column.
The work is `collection_policy.book.tier_book`; this module reads, calls and writes.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from collection_policy.book import REASON_COLUMNS, TiersConfig, simulated_history, tier_book
from collection_policy.ev_rates import EVRates, learn_ev_rates
from collection_policy.loader import load_policy
from collection_policy.outcomes import ExperimentConfig, book_experiment
from collection_policy.population import FEATURE_COLUMNS, SCORE_COLUMNS
from collection_policy.render import policy_markdown
from collection_policy.report import tiers_png
from collection_policy.schema import CollectionPolicy
from features.contracts import FEATURES, REASONS, SCORES
from features.errors import ConfigError, DataValidationError
from features.io import atomic_path, write_json, write_parquet
from features.synthetic import EFFECTS_FILE, MACRO_FILE
from pipelines.common import add_output, base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.tiers import read_experiment, read_tiers

log = logging.getLogger(__name__)


def read_truth(truth_dir: Path | None) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """The built-in book's hidden cure effects and monthly macro factors; (None, empty) for a
    book without truth."""
    no_macro = pd.DataFrame({"month": pd.to_datetime([]), "macro_factor": []})
    if truth_dir is None or not (truth_dir / EFFECTS_FILE).is_file():
        return None, no_macro
    effects = pd.read_parquet(truth_dir / EFFECTS_FILE)
    macro = (
        pd.read_parquet(truth_dir / MACRO_FILE) if (truth_dir / MACRO_FILE).is_file() else no_macro
    )
    return (None if effects.empty else effects), macro


def month_after(macro: pd.DataFrame, table: pd.DataFrame) -> float:
    """The macro factor of the month after the tiered book (the month the treatment plays out);
    0 (a normal month) where the generator's horizon ends before it."""
    if macro.empty or "observation_date" not in table:
        return 0.0
    month = pd.to_datetime(table["observation_date"]).max() + pd.offsets.MonthBegin(1)
    hit = macro.loc[pd.to_datetime(macro["month"]) == month, "macro_factor"]
    return float(hit.iloc[0]) if len(hit) else 0.0


def learned_rates(
    args: argparse.Namespace,
    config: TiersConfig,
    experiment: ExperimentConfig,
    policy: CollectionPolicy,
    scores: pd.DataFrame,
    features: pd.DataFrame,
    effects: pd.DataFrame | None,
    macro: pd.DataFrame,
) -> EVRates | None:
    """Cure rates for the expected-value mode: from the lender's outcome log (params
    `tiers.history_file`), else
    on the built-in book from a history simulated on the back-test split's earlier months; None
    (the policy's assumptions) when neither exists."""
    true_uplift = None
    if config.history_file is not None:
        history = read_history(config.history_file)
        source = f"outcome history {config.history_file}"
    elif effects is not None:
        simulated = simulated_history(
            scores,
            features,
            policy,
            config.backtest_split,
            effects,
            macro,
            experiment.holdout_tier,
            experiment.seed,
            str(args.features),
        )
        if simulated is None:
            return None
        history, true_uplift = simulated
        source = (
            f"simulated history: the {config.backtest_split} split's past-due account-months, "
            "tiers drawn between the minimum treatment and the rules' tier, outcomes from the "
            "generator's truth"
        )
    else:
        return None
    rates = learn_ev_rates(history, policy.n_tiers, experiment.holdout_tier, source=source)
    log.info("learned EV rates from %d past-due rows (%s)", rates.rows, source)
    return rates if true_uplift is None else rates.with_truth(true_uplift)


def read_history(path: Path) -> pd.DataFrame:
    """A lender's outcome log (Parquet or CSV) with the `ev_rates.HISTORY_COLUMNS`."""
    if not path.is_file():
        raise DataValidationError(str(path), "file not found")
    return pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)


def main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    params = load_params(args.params)
    config, experiment = read_tiers(params), read_experiment(params)
    policy = load_policy(config.policy)
    log.info(
        "policy %s %s (%s), mode %s", policy.name, policy.version, policy.fingerprint(), config.mode
    )
    scores = SCORES.read(args.scores, columns=SCORE_COLUMNS, stage="train")
    features = FEATURES.read(args.features, columns=FEATURE_COLUMNS, stage="features")
    reasons = None
    if args.reasons:
        reasons = REASONS.read(args.reasons, columns=REASON_COLUMNS, stage="explain")
    else:
        log.warning("no --reasons given: the reasons column stays empty")
    effects, macro = read_truth(Path(args.truth_dir) if args.truth_dir else None)
    rates = learned_rates(args, config, experiment, policy, scores, features, effects, macro)
    if rates is not None and config.mode == "expected_value":
        raise ConfigError(
            "tiers.mode",
            "expected_value with cure rates learned from an outcome history would tier accounts "
            "differently from the registered model, which carries the policy's assumed rates; "
            "use mode 'rules' (the learned expected-value tiers run as the experiment's "
            "challenger arm) or drop tiers.history_file",
        )
    book = tier_book(scores, features, reasons, policy, config, str(args.features), rates)
    arms, treated, arms_report = book_experiment(
        book.table, experiment, effects, month_after(macro, book.table)
    )
    book.table["arm"] = arms
    book.table["treatment_tier"] = treated
    book.summary["arms"] = arms_report.pop("arms")
    book.summary["experiment"] = arms_report

    write_parquet(book.table, args.out)
    write_json(book.summary, args.summary)  # no timings in reports: they differ on every run
    write_json(book.headline, args.headline)
    with atomic_path(args.plot) as tmp:
        tmp.write_bytes(tiers_png(book.summary, policy))
    with atomic_path(args.policy_summary) as tmp:
        tmp.write_text(policy_markdown(policy))
    log.info(
        "tiered %d accounts (%s) in %.1fs: %s",
        len(book.table),
        book.origin,
        time.perf_counter() - started,
        {tier: row["accounts"] for tier, row in book.summary["tiers"].items()},
    )


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--scores", default="data/scores/scores.parquet")
    parser.add_argument("--features", default="data/features/features.parquet")
    parser.add_argument(
        "--reasons", default=None, help="the explain stage's reasons.parquet (omit: no reasons)"
    )
    parser.add_argument(
        "--truth-dir", default=None, help="the built-in book's truth: simulates the arms' outcomes"
    )
    add_output(parser, "--out", default="data/tiers/tiers.parquet")
    add_output(parser, "--summary", default="reports/tiers.json")
    add_output(parser, "--headline", default="reports/headline/tiers.json")
    add_output(parser, "--plot", default="reports/tiers.png")
    add_output(parser, "--policy-summary", default="reports/policy_summary.md")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())

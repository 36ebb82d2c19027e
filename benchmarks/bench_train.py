"""Training cost of the train stage at given feature-table sizes, against LightGBM alone.

For each size a fresh child process generates a synthetic feature table (contract-shaped: 30
numeric features with risk directions, 3 categoricals, splits 60/20/20 plus a 10% current book,
~5% defaults, a non-linear truth), then times
  * `pipelines.train.run`, the train stage (reading the feature table, booster with early
    stopping, calibration, monotonicity check, baseline, metrics, plots, scoring every row,
    writing outputs; the stage touches no registry), and
  * `lightgbm.train` alone on the prepared matrix for the same number of rounds,
and reports peak RSS of the child (ru_maxrss). The config is params.yaml `train:` read by the
stage's reader (`pipelines.params.train.read_train`) with `--threads` threads. MLflow logging and
registration are the register stage's and are not timed here.

    .venv/bin/python benchmarks/bench_train.py --rows 20000 50000 [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N_NUMERIC = 30
CATS = {
    "income_band": ["low", "mid", "high", "very_high"],
    "channel": ["app", "web", "partner"],
    "region": [f"r{i}" for i in range(12)],
}


def make_table(n: int, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_NUMERIC)).astype("float64")
    x[rng.random((n, N_NUMERIC)) < 0.03] = np.nan
    directions = rng.choice([1, -1, 0], N_NUMERIC, p=[0.4, 0.4, 0.2])
    beta = directions * rng.uniform(0.05, 0.4, N_NUMERIC)
    xf = np.nan_to_num(x)
    logit = -3.4 + xf @ beta + 0.4 * np.maximum(xf[:, 0], 0) ** 2 * (directions[0] or 1)
    logit += 0.3 * (xf[:, 1] > 1) * (xf[:, 2] > 0)
    cols: dict[str, object] = {f"f{i:02d}": x[:, i] for i in range(N_NUMERIC)}
    for j, (name, levels) in enumerate(CATS.items()):
        codes = rng.integers(0, len(levels), n)
        logit += (codes - len(levels) / 2) * 0.05 * (j + 1)
        cols[name] = pd.Categorical.from_codes(codes, categories=levels)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
    split = rng.choice(["train", "validation", "test", "score"], n, p=[0.54, 0.18, 0.18, 0.10])
    df = pd.DataFrame(
        {
            "account_id": np.arange(n, dtype="int64"),
            "observation_date": pd.Timestamp("2025-01-01"),
            "default": pd.array(y, dtype="Int8"),
            "split": split,
            **cols,
        }
    )
    df.loc[df["split"] == "score", "default"] = pd.NA
    feats = [
        {"name": f"f{i:02d}", "dtype": "float", "direction": int(directions[i])}
        for i in range(N_NUMERIC)
    ] + [{"name": k, "dtype": "category", "direction": 0, "categories": v} for k, v in CATS.items()]
    return df, {"id_column": "account_id", "features": feats}


def one_size(n: int, threads: int, features_dir: Path | None = None) -> dict:
    """Time the stage and LightGBM alone on one table: generated (n rows) or a real feature dir
    (params.yaml `train:` applies in both cases, with `threads` threads)."""
    import lightgbm as lgb

    from core.catalogue import CATALOGUE_FILE, Catalogue, to_model_frame
    from core.contracts import FEATURES
    from core.io import write_json
    from models.train_config import lgb_params
    from pipelines import train as train_stage
    from pipelines.params import load_params
    from pipelines.params.train import read_train

    config = dataclasses.replace(read_train(load_params(ROOT / "params.yaml")), num_threads=threads)
    if features_dir is not None:
        df = pd.read_parquet(features_dir / FEATURES.file)
        cat_doc = json.loads((features_dir / CATALOGUE_FILE).read_text())
        n = len(df)
    else:
        df, cat_doc = make_table(n)
    catalogue = Catalogue.from_dict(cat_doc)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "features").mkdir()
        df.to_parquet(root / "features" / FEATURES.file, index=False)
        write_json(cat_doc, root / "features" / CATALOGUE_FILE)
        paths = train_stage.STAGE.paths(
            features_dir=root / "features",
            model_dir=root / "model",
            scores=root / "scores.parquet",
            metrics=root / "metrics.json",
            deciles=root / "deciles.json",
            plots_dir=root / "plots",
            headline=root / "headline.json",
        )
        t0 = time.perf_counter()
        result = train_stage.run(paths, config)
        stage_s = time.perf_counter() - t0
    doc = result.metrics
    rounds = result.fit_report.best_iteration
    train = df[df["split"] == "train"]
    x = to_model_frame(train, catalogue)
    params = {k: v for k, v in lgb_params(config, catalogue).items() if k != "metric"}
    t0 = time.perf_counter()
    lgb.train(params, lgb.Dataset(x, label=train["default"].astype("int8").to_numpy()), rounds)
    lgb_s = time.perf_counter() - t0
    # The same job done by LightGBM alone: early stopping on the validation split (as the stage),
    # then scoring every row of the table (the stage writes scores for all rows).
    valid = df[df["split"] == "validation"]
    x_all = to_model_frame(df, catalogue)
    t0 = time.perf_counter()
    dtrain = lgb.Dataset(x, label=train["default"].astype("int8").to_numpy())
    dvalid = lgb.Dataset(
        to_model_frame(valid, catalogue),
        label=valid["default"].astype("int8").to_numpy(),
        reference=dtrain,
    )
    booster = lgb.train(
        lgb_params(config, catalogue),
        dtrain,
        config.num_boost_round,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    booster.predict(x_all, raw_score=True, num_iteration=booster.best_iteration)
    same_job_s = time.perf_counter() - t0
    return {
        "rows": n,
        "train_rows": len(train),
        "rounds": rounds,
        "stage_s": round(stage_s, 2),
        "lightgbm_only_s": round(lgb_s, 2),
        "ratio": round(stage_s / lgb_s, 2),
        "lightgbm_same_job_s": round(same_job_s, 2),
        "ratio_same_job": round(stage_s / same_job_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "test_auc": round(doc["test"]["auc"], 4),
        "baseline_auc": round(doc["baseline_test"]["auc"], 4),
        "test_ece": round(doc["test"]["ece"], 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[20000, 50000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument(
        "--features-dir", type=Path, help="time a real feature table (e.g. a 1M-customer run)"
    )
    args = ap.parse_args()
    if args.one or args.features_dir:
        import logging

        logging.disable(logging.WARNING)
        print(json.dumps(one_size(args.one or 0, args.threads, args.features_dir)))
        return
    print(
        f"{'rows':>9} {'train':>8} {'rounds':>6} {'stage s':>8} {'lgbm s':>7} {'ratio':>6} "
        f"{'peak MB':>8} {'AUC':>7} {'base':>7} {'ECE':>7}"
    )
    for n in args.rows:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--threads", str(args.threads)],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise SystemExit(f"size {n} failed:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['rows']:>9} {r['train_rows']:>8} {r['rounds']:>6} {r['stage_s']:>8} "
            f"{r['lightgbm_only_s']:>7} {r['ratio']:>6} {r['peak_rss_mb']:>8} "
            f"{r['test_auc']:>7} {r['baseline_auc']:>7} {r['test_ece']:>7}"
        )


if __name__ == "__main__":
    main()

"""Benchmark the explain stage: TreeSHAP rows/s (native vs shap.TreeExplainer) and the stage's cost.

    python benchmarks/bench_explain.py --rows 5000                 # quick
    python benchmarks/bench_explain.py --rows 100000               # engines at 100k rows
    python benchmarks/bench_explain.py --rows 100000 --stage --no-engines --population all

One process, one model (`--trees` x `--leaves`, `--features` columns incl. 2 categorical), the same
rows for both engines: the ratio is measured, not assumed. `--stage` also writes a synthetic
features/model/scores layout (half test, half current book with ~10% overdue) and runs
`python -m pipelines.explain` on it in a child process with `--population` and
`--test-sample-rows` (a full copy of params.yaml with those keys set; the actionable line comes
from `tiers.policy`), reporting its wall time and peak RSS (`harness.measure`, `os.wait4` of the
child), then times raw `booster.predict(pred_contrib=True)` on exactly the rows the stage
explained: the stage-vs-limit ratio of issue 8. The stage's step timings come from its one log line
`explain timings (s): {...}` (reports/explain.json carries no timings).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPO, bench_env, measure  # noqa: E402

from core.catalogue import Catalogue, FeatureSpec, to_model_frame  # noqa: E402
from core.io import write_json, write_parquet  # noqa: E402
from tests.helpers import set_params  # noqa: E402

CATS = ["app", "web", "partner"]


def make_frame(n: int, n_features: int, seed: int) -> tuple[pd.DataFrame, Catalogue, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_num = n_features - 2
    data = {f"x{i:02d}": rng.normal(size=n) for i in range(n_num)}
    data["x00"][rng.random(n) < 0.05] = np.nan
    data["channel"] = pd.Categorical(rng.choice(CATS, n), categories=CATS)
    data["tier"] = pd.Categorical(rng.choice(["a", "b", "c", "d"], n), categories=list("abcd"))
    X = pd.DataFrame(data)
    logit = -2.5 + X[[f"x{i:02d}" for i in range(min(8, n_num))]].fillna(
        0
    ).to_numpy() @ np.linspace(1, 0.2, min(8, n_num))
    logit = logit + (X["channel"] == "partner").to_numpy() * 0.7
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    cat = Catalogue(
        features=[
            FeatureSpec(
                c,
                "category" if c in ("channel", "tier") else "float",
                "",
                [],
                0,
                list(X[c].cat.categories) if c in ("channel", "tier") else None,
            )
            for c in X.columns
        ],
    )
    return X, cat, y


def train(X: pd.DataFrame, y: np.ndarray, trees: int, leaves: int, threads: int):
    import lightgbm as lgb

    params = {
        "objective": "binary",
        "num_leaves": leaves,
        "learning_rate": 0.05,
        "min_data_in_leaf": 50,
        "verbose": -1,
        "num_threads": threads,
        "seed": 1,
    }
    n = min(len(X), 50_000)
    return lgb.train(params, lgb.Dataset(X.iloc[:n], y[:n]), num_boost_round=trees)


def bench_engines(booster, X: pd.DataFrame, batch_rows: int, repeats: int = 1) -> dict:
    """Time both engines on the same rows, alternating which goes first; best of `repeats`.

    Both end in LightGBM's C++ TreeSHAP, so on a quiet machine the ratio is about 1; the native
    path adds a raw-score predict per batch (about 1% of the cost) for its additivity check.
    """
    from models.explain.treeshap import shap_values

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap

        explainer = shap.TreeExplainer(booster)

        def run_native():
            return shap_values(booster, X, batch_rows=batch_rows, progress=False).values

        def run_shap():
            return np.asarray(explainer.shap_values(X), np.float64)

        times: dict[str, list[float]] = {"native": [], "shap": []}
        out = {}
        for r in range(max(repeats, 1)):
            order = [("native", run_native), ("shap", run_shap)]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                t = time.perf_counter()
                out[name] = fn()
                times[name].append(time.perf_counter() - t)
    t_native, t_shap = min(times["native"]), min(times["shap"])
    return {
        "rows": len(X),
        "repeats": max(repeats, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "native_seconds": round(t_native, 3),
        "native_rows_per_s": round(len(X) / t_native, 1),
        "native_note": "batched pred_contrib + raw-score additivity check per batch",
        "shap_seconds": round(t_shap, 3),
        "shap_rows_per_s": round(len(X) / t_shap, 1),
        "ratio_native_over_shap_speed": round(t_shap / t_native, 3),
        "max_abs_diff": float(np.max(np.abs(out["shap"] - out["native"]))),
    }


def write_layout(
    root: Path,
    X: pd.DataFrame,
    cat: Catalogue,
    y: np.ndarray,
    booster,
    population: str = "actionable",
    test_sample_rows: int | None = 20_000,
) -> None:
    n = len(X)
    split = np.where(np.arange(n) % 2 == 0, "test", "score")
    raw = booster.predict(X, raw_score=True)
    pd_ = 1 / (1 + np.exp(-raw))
    grade = pd.cut(
        pd_, [0, 0.01, 0.02, 0.04, 0.08, 0.16, 1.0], labels=list("ABCDEF"), include_lowest=True
    ).astype(str)
    ids = pd.DataFrame(
        {
            "account_id": np.arange(n, dtype=np.int64),
            "observation_date": pd.to_datetime(
                np.where(split == "score", "2026-01-01", "2025-06-01")
            ),
            "split": split,
        }
    )
    rng = np.random.default_rng(7)
    dpd = np.where(rng.random(n) < 0.1, rng.integers(1, 120, n), 0).astype(np.int16)
    feats = pd.concat(
        [
            ids,
            pd.Series(pd.array(np.where(split == "score", None, y), "Int8"), name="default"),
            X,
            pd.Series(dpd, name="policy__days_past_due"),
        ],
        axis=1,
    )
    write_parquet(feats, root / "data/features/features.parquet")
    write_json(cat.to_dict(), root / "data/features/catalogue.json")
    (root / "data/model").mkdir(parents=True, exist_ok=True)
    booster.save_model(str(root / "data/model/booster.txt"))
    write_json({"best_iteration": booster.num_trees()}, root / "data/model/model_meta.json")
    label = pd.Series(pd.array(np.where(split == "score", None, y), "Int8"), name="default")
    write_parquet(
        ids.assign(default=label, raw_score=raw, pd=pd_, score=0.0, grade=grade),
        root / "data/scores/scores.parquet",
    )
    # The stage reads a complete params.yaml (every key required): the repo's, with the
    # benchmark's explain settings and the repo's reason dictionary and collection policy.
    shutil.copy2(REPO / "params.yaml", root / "params.yaml")
    set_params(
        root,
        {
            "seed": 1,
            "explain.reasons": str(REPO / "configs/reasons.yaml"),
            "explain.population": population,
            "explain.test_sample_rows": test_sample_rows,
            "tiers.policy": str(REPO / "configs/collection_policy.yaml"),
        },
    )


TIMINGS_LINE = re.compile(r"explain timings \(s\): (\{[^}]*\})")


def bench_stage(root: Path) -> dict:
    """Run `python -m pipelines.explain` in `root`; wall time, peak RSS and its step timings."""
    env = {**bench_env(), "MPLBACKEND": "Agg"}
    log_path = root / "explain.log"
    m = measure(
        [sys.executable, "-m", "pipelines.explain", "--metrics", "", "--data-quality", ""],
        cwd=root,
        env=env,
        log_path=log_path,
    )
    log_text = log_path.read_text()
    if m.returncode != 0:
        raise SystemExit(f"explain stage failed:\n{log_text[-3000:]}")
    found = TIMINGS_LINE.search(log_text)
    if found is None:
        raise SystemExit(f"explain stage logged no timings line:\n{log_text[-3000:]}")
    summary = json.loads((root / "reports/explain.json").read_text())
    return {
        "stage_seconds": m.wall_s,
        "stage_cpu_seconds": m.cpu_s,
        "stage_peak_rss_mb": m.peak_rss_mb,
        "stage_timings_s": json.loads(found.group(1)),
        "stage_summary": summary,
    }


def bench_raw_limit(root: Path, booster, X: pd.DataFrame, stage: dict) -> dict:
    """Raw `pred_contrib` on exactly the rows the stage explained (account_id = row of X)."""
    ids = pd.read_parquet(root / "data/explanations/shap_values.parquet", columns=["account_id"])[
        "account_id"
    ].to_numpy()
    rows = X.iloc[ids]
    t = time.perf_counter()
    booster.predict(rows, pred_contrib=True)
    raw = time.perf_counter() - t
    timings = stage["stage_timings_s"]
    return {
        "explained_rows": int(len(ids)),
        "raw_pred_contrib_seconds": round(raw, 3),
        "raw_pred_contrib_rows_per_s": round(len(ids) / raw, 1),
        "stage_rows_per_s": round(len(ids) / stage["stage_seconds"], 1),
        "ratio_stage_wall_over_raw": round(stage["stage_seconds"] / raw, 3),
        "ratio_stage_treeshap_step_over_raw": round(timings["treeshap"] / raw, 3),
        "stage_fixed_costs_s": {k: v for k, v in timings.items() if k not in ("treeshap",)},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=5000)
    p.add_argument("--features", type=int, default=30)
    p.add_argument("--trees", type=int, default=200)
    p.add_argument("--leaves", type=int, default=31)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-rows", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=1, help="alternating runs per engine (best of)")
    p.add_argument("--stage", action="store_true", help="also run the whole explain stage")
    p.add_argument("--no-engines", action="store_true", help="skip the native-vs-shap timing")
    p.add_argument("--population", choices=["actionable", "all"], default="actionable")
    p.add_argument("--test-sample-rows", type=int, default=20_000, help="0 = every test row")
    p.add_argument("--out", default=None, help="write the result JSON here")
    args = p.parse_args()

    X, cat, y = make_frame(args.rows, args.features, seed=0)
    X = to_model_frame(X, cat)
    t = time.perf_counter()
    booster = train(X, y, args.trees, args.leaves, args.threads)
    result = {
        "config": vars(args)
        | {"train_seconds": round(time.perf_counter() - t, 2), "cpu_count": os.cpu_count()},
    }
    if not args.no_engines:
        result["engines"] = bench_engines(booster, X, args.batch_rows, args.repeats)
    if args.stage:
        with tempfile.TemporaryDirectory(prefix="bench_explain_") as tmp:
            cap = args.test_sample_rows or None
            write_layout(Path(tmp), X, cat, y, booster, args.population, cap)
            result["stage"] = bench_stage(Path(tmp))
            result["stage_vs_raw"] = bench_raw_limit(Path(tmp), booster, X, result["stage"])
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

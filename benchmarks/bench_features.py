"""Benchmark the behavioural feature build against the same aggregation as one DuckDB query.

    python benchmarks/bench_features.py --sizes 10000 100000 1000000 --out reports/bench_features.json

Each size runs in fresh subprocesses so peak RSS (getrusage ru_maxrss) belongs to one job:
  1. generate the book (features.synthetic, with params.yaml `data.synthetic` and `seed` read by
     the ingest stage's reader, at the benchmark's size and seed 42) and write it to Parquet;
  2. `engine`: load the Parquet, time `build_behavioural_features` (all features) and
     `core_window_aggregates` (the representative subset: max dpd, mean utilisation and late
     payment counts over each window);
  3. `duckdb`: load the same Parquet into DuckDB tables, time the subset as one SQL query
     (join to the 12-month history, lag for late payments, FILTERed aggregates).
The two subsets are compared value by value, so the ratio is between equal results.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
PARAMS = ROOT / "params.yaml"


def feature_windows() -> tuple[int, ...]:
    """The feature windows of params.yaml (`features.windows`), as the features stage reads them."""
    from pipelines.params import load_params
    from pipelines.params.features import read_features

    return read_features(load_params(PARAMS)).windows


def feature_lookback() -> int:
    """features.max_lookback_months of params.yaml, as the features stage reads it."""
    from pipelines.params import load_params
    from pipelines.params.features import read_features

    return read_features(load_params(PARAMS)).max_lookback_months


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def child_generate(n: int, folder: Path) -> dict:
    from features.synthetic import generate_book
    from pipelines.params import load_params
    from pipelines.params.data import read_synthetic

    config = dataclasses.replace(read_synthetic(load_params(PARAMS)), n_customers=n, seed=42)
    t = time.perf_counter()
    book = generate_book(config)
    gen_s = time.perf_counter() - t
    book.customers.to_parquet(folder / "customers.parquet")
    book.statements.to_parquet(folder / "statements.parquet")
    book.observations.to_parquet(folder / "observations.parquet")
    return {
        "generate_s": gen_s,
        "statements": len(book.statements),
        "observations": len(book.observations),
        "generate_peak_rss_mb": _peak_rss_mb(),
    }


def child_engine(folder: Path) -> dict:
    import pandas as pd

    from features.behavioural import build_behavioural_features, core_window_aggregates

    customers = pd.read_parquet(folder / "customers.parquet")
    statements = pd.read_parquet(folder / "statements.parquet")
    observations = pd.read_parquet(folder / "observations.parquet")
    loaded_rss = _rss_mb()
    loaded_peak = _peak_rss_mb()
    windows = feature_windows()
    t = time.perf_counter()
    frame, cat, _ = build_behavioural_features(
        customers, statements, observations, windows, feature_lookback()
    )
    full_s = time.perf_counter() - t
    full_peak = _peak_rss_mb()
    del frame
    limit = customers.set_index("account_id")["credit_limit"]
    t = time.perf_counter()
    core = core_window_aggregates(statements, observations, limit, windows)
    core_s = time.perf_counter() - t
    core.insert(0, "account_id", observations["account_id"].to_numpy())
    core.insert(1, "observation_date", observations["observation_date"].to_numpy())
    core.to_parquet(folder / "engine_core.parquet")
    return {
        "engine_full_s": full_s,
        "engine_core_s": core_s,
        "engine_features": len(cat.features),
        "engine_loaded_rss_mb": loaded_rss,
        "engine_loaded_peak_rss_mb": loaded_peak,
        "engine_peak_rss_mb": full_peak,
    }


def duckdb_sql(windows: tuple[int, ...]) -> str:
    cols = []
    for w in windows:
        since = f"s.statement_date >= o.observation_date - INTERVAL {w} MONTH"
        cols += [
            f"max(s.days_past_due) FILTER (WHERE {since}) AS max_dpd_{w}m",
            f"avg(s.util) FILTER (WHERE {since}) AS utilisation_mean_{w}m",
            f"sum(s.late) FILTER (WHERE {since}) AS late_payments_{w}m",
        ]
    hi = max(windows)
    return f"""
    WITH s AS (
      SELECT st.account_id, st.statement_date, st.days_past_due,
             CASE WHEN c.credit_limit > 0 THEN st.outstanding_balance / c.credit_limit END AS util,
             CASE WHEN lag(st.due_date) OVER w IS NULL THEN 0
                  WHEN coalesce(date_diff('day', lag(st.due_date) OVER w, st.payment_date) > 0,
                                false)
                    OR (lag(st.min_due) OVER w > 0
                        AND st.paid_amount + 1e-6 < lag(st.min_due) OVER w) THEN 1
                  ELSE 0 END AS late
      FROM statements st JOIN customers c USING (account_id)
      WINDOW w AS (PARTITION BY st.account_id ORDER BY st.statement_date)
    )
    SELECT o.account_id, o.observation_date, {", ".join(cols)}
    FROM observations o
    LEFT JOIN s ON s.account_id = o.account_id
       AND s.statement_date < o.observation_date
       AND s.statement_date >= o.observation_date - INTERVAL {hi} MONTH
    GROUP BY o.account_id, o.observation_date
    """


def child_duckdb(folder: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    for name in ("customers", "statements", "observations"):
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{folder / (name + '.parquet')}')"
        )
    loaded_rss = _rss_mb()
    t = time.perf_counter()
    result = con.execute(duckdb_sql(feature_windows())).df()
    q_s = time.perf_counter() - t
    result.to_parquet(folder / "duckdb_core.parquet")
    return {
        "duckdb_core_s": q_s,
        "duckdb_threads": int(con.execute("SELECT current_setting('threads')").fetchone()[0]),
        "duckdb_loaded_rss_mb": loaded_rss,
        "duckdb_peak_rss_mb": _peak_rss_mb(),
    }


def compare(folder: Path) -> float:
    """Largest absolute difference between the engine's and DuckDB's subsets."""
    import numpy as np
    import pandas as pd

    keys = ["account_id", "observation_date"]
    a = pd.read_parquet(folder / "engine_core.parquet").sort_values(keys).reset_index(drop=True)
    b = pd.read_parquet(folder / "duckdb_core.parquet").sort_values(keys).reset_index(drop=True)
    worst = 0.0
    for col in a.columns[2:]:
        x = a[col].to_numpy(np.float64)
        y = pd.to_numeric(b[col]).to_numpy(np.float64)
        if col.startswith("late_payments"):
            y = np.where(np.isnan(x) & np.isnan(y), np.nan, y)
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            raise AssertionError(f"missing values differ in {col}")
        ok = ~np.isnan(x)
        worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]), initial=0.0)))
    return worst


def _run_child(kind: str, *args: str) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench(n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_features_") as tmp:
        res = {"customers": n}
        res.update(_run_child("generate", str(n), tmp))
        res.update(_run_child("engine", tmp))
        res.update(_run_child("duckdb", tmp))
        res["core_max_abs_diff"] = compare(Path(tmp))
    rows = res["statements"]
    res["engine_full_rows_per_s"] = rows / res["engine_full_s"]
    res["engine_core_rows_per_s"] = rows / res["engine_core_s"]
    res["duckdb_core_rows_per_s"] = rows / res["duckdb_core_s"]
    res["duckdb_over_engine_core_time"] = res["duckdb_core_s"] / res["engine_core_s"]
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    p.add_argument("--out", default=None, help="write results as JSON here")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        kind, *rest = a.child
        if kind == "generate":
            out = child_generate(int(rest[0]), Path(rest[1]))
        elif kind == "engine":
            out = child_engine(Path(rest[0]))
        else:
            out = child_duckdb(Path(rest[0]))
        print(json.dumps(out))
        return
    results = []
    for n in a.sizes:
        r = bench(n)
        results.append(r)
        print(
            f"{n:>9,} customers {r['statements']:>11,} statements | full build "
            f"{r['engine_full_s']:6.2f}s ({r['engine_full_rows_per_s'] / 1e6:5.2f}M rows/s, peak "
            f"{r['engine_peak_rss_mb']:,.0f} MB, loaded {r['engine_loaded_rss_mb']:,.0f} MB) | "
            f"subset: engine {r['engine_core_s']:.2f}s vs DuckDB {r['duckdb_core_s']:.2f}s "
            f"({r['duckdb_threads']} threads, peak {r['duckdb_peak_rss_mb']:,.0f} MB) -> DuckDB/engine "
            f"time {r['duckdb_over_engine_core_time']:.2f}x, max |diff| {r['core_max_abs_diff']:.2g}",
            flush=True,
        )
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(
            json.dumps({"windows": list(feature_windows()), "results": results}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()

"""Time and memory of the tier engine on a generated book (default 1M accounts).

    python benchmarks/bench_tiers.py --rows 1000000 [--out reports/bench_tiers.json]

Peak memory is the process's maximum resident set (ru_maxrss) above the level after the frame
was built, so it counts the engine's working arrays and its output, not the input.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from collection_policy.engine import assign_tiers  # noqa: E402
from collection_policy.loader import load_policy  # noqa: E402


def make_book(n: int, seed: int = 0) -> pd.DataFrame:
    """A book shaped like the synthetic current book: mostly current, a tail of arrears."""
    rng = np.random.default_rng(seed)
    dpd = np.where(rng.random(n) < 0.85, 0, rng.integers(1, 200, n))
    pd_ = np.clip(rng.beta(0.6, 12, n) + dpd / 250, 0.0003, 1.0)
    overdue = np.where(dpd > 0, rng.lognormal(5.5, 1.2, n), 0.0)
    return pd.DataFrame(
        {
            "pd": pd_,
            "score": 600 - 20 * np.log2(pd_ / (1 - np.minimum(pd_, 0.9999)) * 50),
            "grade": pd.Categorical(rng.choice(list("ABCDEFG"), n)),
            "days_past_due": dpd,
            "overdue_amount": overdue,
            "first_time_delinquency": rng.random(n) < 0.4,
            "dispute": rng.random(n) < 0.005,
            "hardship": rng.random(n) < 0.01,
            "opt_out": rng.random(n) < 0.01,
            "deceased": rng.random(n) < 0.001,
            "timezone": pd.Categorical(
                rng.choice(
                    ["Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "bad/zone"],
                    n,
                    p=[0.9, 0.05, 0.049, 0.001],
                )
            ),
            "outstanding_balance": overdue + rng.lognormal(7.5, 1.0, n),
        }
    )


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--policy", default=str(REPO / "configs" / "collection_policy.yaml"))
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    t = time.perf_counter()
    policy = load_policy(args.policy)
    load_s = time.perf_counter() - t
    book = make_book(args.rows)
    base_rss = _maxrss_mb()
    result: dict[str, object] = {
        "rows": args.rows,
        "policy_load_and_validate_s": round(load_s, 3),
        "input_mb": round(book.memory_usage(deep=True).sum() / 2**20, 1),
    }
    for mode in ("rules", "expected_value"):
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = assign_tiers(book, policy, mode)
            times.append(time.perf_counter() - t)
        result[mode] = {
            "best_s": round(min(times), 3),
            "accounts_per_s": int(args.rows / min(times)),
            "tiers": {f"T{k}": int(v) for k, v in out["tier"].value_counts().sort_index().items()},
        }
    result["output_mb"] = round(out.memory_usage(deep=True).sum() / 2**20, 1)
    result["peak_rss_above_input_mb"] = round(_maxrss_mb() - base_rss, 1)
    result["peak_rss_mb"] = round(_maxrss_mb(), 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Time the monitor stage's fairness view on a generated book shaped like the stage's `current`.

    python benchmarks/bench_monitor.py --rows 2400000 [--tiered 520000] [--repeat 2]
        [--module path/to/fairness.py] [--out reports/bench_monitor.json]

The frame holds `rows` scored rows (pd, 12 grades, a 5-band protected__age_band with a few
missing), the development splits train/validation and the out-of-time test split labelled, the
current book (split "score") unlabelled; the tiers table covers `tiered` accounts of the current
book. Proportions follow a 1M-customer book: 2.4M rows, ~1.9M labelled, 520k tiered.
`--module` times `fairness` from another copy of models/monitoring/fairness.py (an older one).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.monitoring.thresholds import MonitorConfig  # noqa: E402

GRADES = [f"{g}{s}" for g in "ABCD" for s in ("1", "2", "3")]  # 12 grades
BANDS = ["18-24", "25-34", "35-44", "45-59", "60+"]
CHANNEL_LISTS = [
    "",
    "app_push",
    "app_push;sms",
    "app_push;sms;email",
    "app_push;sms;email;ivr",
    "sms;email;agent_call;letter",
    "priority_agent_call;letter;field_visit",
    "legal_review_queue",
]
TIER_NAMES = [
    "T0 monitor",
    "T1 nudge",
    "T1 nudge",
    "T2 soft reminder",
    "T3 early collection",
    "T4 collection",
    "T5 intensive",
    "T6 legal",
]


def make_book(rows: int, tiered: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(current, tiers): `rows` scored rows in the stage's shape and a tiers table of `tiered`
    accounts of the current book (split "score")."""
    rng = np.random.default_rng(seed)
    n_score = min(tiered, rows) if tiered else rows // 5
    n_lab = rows - n_score
    # labelled rows: 58% train, 15% validation, 27% out-of-time test
    split = np.empty(rows, dtype=object)
    u = rng.random(n_lab)
    split[:n_lab] = np.where(u < 0.58, "train", np.where(u < 0.73, "validation", "test"))
    split[n_lab:] = "score"
    band = rng.integers(0, len(BANDS), rows)
    x = rng.normal(size=rows) + 0.15 * band
    pd_ = 1.0 / (1.0 + np.exp(-(-3.2 + 0.9 * x)))
    grade = np.searchsorted(np.quantile(pd_, np.linspace(0, 1, len(GRADES) + 1)[1:-1]), pd_)
    default = (rng.random(rows) < pd_).astype("float64")
    default[n_lab:] = np.nan
    age = np.asarray(BANDS, dtype=object)[band]
    age[rng.random(rows) < 0.002] = None
    dates = pd.to_datetime("2024-01-01") + pd.to_timedelta(
        np.where(split == "score", 730, rng.integers(0, 24, rows) * 30), unit="D"
    )
    current = pd.DataFrame(
        {
            "account_id": np.arange(rows, dtype="int64"),
            "observation_date": dates,
            "split": split,
            "default": pd.array(default, dtype="Float64").astype("Int8"),
            "pd": pd_,
            "grade": pd.Categorical(np.asarray(GRADES, dtype=object)[grade], categories=GRADES),
            "protected__age_band": age,
        }
    )
    score_ids = current["account_id"].to_numpy()[n_lab:]
    ids = score_ids[:tiered]
    level = np.minimum(grade[n_lab:][:tiered] * len(CHANNEL_LISTS) // len(GRADES), 7)
    level = np.clip(level + rng.integers(-1, 2, len(ids)), 0, len(CHANNEL_LISTS) - 1)
    tiers = pd.DataFrame(
        {
            "account_id": ids,
            "tier": level,
            "tier_name": np.asarray(TIER_NAMES, dtype=object)[level],
            "channels": np.asarray(CHANNEL_LISTS, dtype=object)[level],
        }
    )
    return current, tiers


def load_fairness(module: str | None):
    if module is None:
        from models.monitoring.fairness import fairness

        return fairness
    spec = importlib.util.spec_from_file_location("fairness_under_test", module)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod.fairness


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_400_000)
    ap.add_argument("--tiered", type=int, default=None, help="default: 520k per 2.4M rows")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--module", default=None, help="a fairness.py to time instead of the repo's")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    tiered = args.tiered if args.tiered is not None else round(args.rows * 520 / 2400)

    current, tiers = make_book(args.rows, tiered)
    fairness = load_fairness(args.module)
    cfg = MonitorConfig()
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        out = fairness(current, cfg, tiers, GRADES)
        times.append(time.perf_counter() - t)
    view = out["age_band"]
    result = {
        "module": args.module or "models/monitoring/fairness.py",
        "rows": args.rows,
        "labelled_rows": int(current["default"].notna().sum()),
        "tiered_accounts": tiered,
        "fairness_s": [round(s, 3) for s in times],
        "best_s": round(min(times), 3),
        "groups": len(view["groups"]),
        "adverse_impact_ratio": view["adverse_impact_ratio"],
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

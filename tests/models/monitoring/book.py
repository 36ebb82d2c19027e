"""Small scored books in the stage tables' shapes (scores joined with features, tiers) for the
monitoring tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

GRADE_BOUNDS = [0.0, 0.02, 0.05, 0.1, 1.0]
GRADES = ["1", "2", "3", "4"]


def grades_of(pd_values: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(GRADE_BOUNDS[1:-1], pd_values, side="right")
    return np.asarray(GRADES, dtype=object)[idx]


def make_rows(
    n: int,
    month: str,
    split: str,
    rng: np.random.Generator,
    *,
    shift: float = 0.0,
    labelled: bool = True,
) -> pd.DataFrame:
    """`n` rows of one observation month: x1 ~ N(shift, 1), a text feature, an age band, PD from
    x1, a grade and (when labelled) a default drawn from the PD."""
    x1 = stats.norm.ppf((np.arange(n) + 0.5) / n) + shift  # exact quantiles: no sampling noise
    rng.shuffle(x1)
    pd_values = 1.0 / (1.0 + np.exp(-(-3.2 + 0.9 * x1)))
    default = (rng.random(n) < pd_values).astype(float) if labelled else np.full(n, np.nan)
    return pd.DataFrame(
        {
            "account_id": np.arange(n) + int(month.replace("-", "")) * 10_000,
            "observation_date": pd.Timestamp(month + "-01"),
            "split": split,
            "default": pd.array([None if np.isnan(v) else int(v) for v in default], dtype="Int8"),
            "pd": pd_values,
            "grade": grades_of(pd_values),
            "x1": x1,
            "x2": rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]),
            "protected__age_band": rng.choice(["18-34", "35+"], size=n),
        }
    )


def tiers_for(frame: pd.DataFrame, skew_group: str | None = None) -> pd.DataFrame:
    """A tiers table: grade 4 phoned, grade 3 messaged, grades 1-2 left alone; with `skew_group`
    that group's grade-3 accounts are phoned too (unequal treatment at equal PD)."""
    channels = np.where(
        frame["grade"] == "4",
        "app_push;sms;email;ivr;agent_call",
        np.where(frame["grade"] == "3", "app_push;sms;email", ""),
    )
    if skew_group is not None:
        skew = (frame["grade"] == "3") & (frame["protected__age_band"] == skew_group)
        channels = np.where(skew, "app_push;sms;email;ivr;agent_call", channels)
    tier_name = np.where(
        channels == "",
        "T0 monitor",
        np.where(
            pd.Series(channels).str.contains("ivr"), "T2 early collection", "T1 soft reminder"
        ),
    )
    return pd.DataFrame(
        {
            "account_id": frame["account_id"].to_numpy(),
            "observation_date": frame["observation_date"].to_numpy(),
            "pd": frame["pd"].to_numpy(),
            "grade": frame["grade"].to_numpy(),
            "tier": np.where(tier_name == "T0 monitor", 0, np.where(channels == "", 0, 1)),
            "tier_name": tier_name,
            "channels": channels,
            "rule": "r",
            "guardrails": "",
        }
    )

"""Settings of the monitoring stage and the small vocabulary every monitoring module shares.

`MonitorConfig` is frozen and checked when built, so a bad threshold in params.yaml stops the
stage with one clear message instead of producing a dashboard that is silently all green.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.io import json_safe  # noqa: F401  (re-exported: the monitoring modules use it)
from models.metrics import month_labels

GREEN, AMBER, RED = "green", "amber", "red"
RAG_ORDER: dict[str, int] = {GREEN: 0, AMBER: 1, RED: 2}


#: Label of the rows without an observation date (a user's current book may have none).
UNDATED_PERIOD = "current"


@dataclass(frozen=True)
class MonitorConfig:
    """Thresholds and choices of one monitoring run (defaults are the conventional ones)."""

    psi_amber: float = 0.10
    psi_red: float = 0.25
    n_bins: int = 10
    level: float = 0.95  # confidence level of AUC and O/E intervals
    p_amber: float = 0.05  # Jeffreys test: below -> amber
    p_red: float = 0.01  # Jeffreys test: below -> red
    oe_floor: float = 0.8  # PD overstated: amber only when the O/E interval lies below this
    top_features: int = 5
    protected: tuple[str, ...] = ("protected__age_band",)
    air_threshold: float = 0.8  # four-fifths rule
    air_outcome: str = "phone"  # "phone" (a voice channel) or "contact" (any contact channel)
    min_group_size: int = 30  # smaller groups are reported but not used for the AIR
    cohort_freq: str = "Q"  # vintage cohorts: "Q" quarter or "M" month of opening
    roll_months: int | None = 12  # roll rates over the last N month pairs; None: all

    def __post_init__(self) -> None:
        if isinstance(self.protected, str):
            raise ValueError("protected must be a sequence of column names, not one string")
        object.__setattr__(self, "protected", tuple(self.protected))
        if not (0.0 < self.psi_amber < self.psi_red):
            raise ValueError(
                f"need 0 < psi_amber < psi_red, got psi_amber={self.psi_amber}, "
                f"psi_red={self.psi_red}"
            )
        if not (0.0 < self.level < 1.0):
            raise ValueError(f"level must lie in (0, 1), got {self.level}")
        if not (0.0 < self.p_red < self.p_amber < 1.0):
            raise ValueError(
                f"need 0 < p_red < p_amber < 1, got p_red={self.p_red}, p_amber={self.p_amber}"
            )
        if not (0.0 < self.oe_floor <= 1.0):
            raise ValueError(f"oe_floor must lie in (0, 1], got {self.oe_floor}")
        if self.n_bins < 2:
            raise ValueError(f"n_bins must be at least 2, got {self.n_bins}")
        if self.top_features < 1:
            raise ValueError(f"top_features must be at least 1, got {self.top_features}")
        if not (0.0 < self.air_threshold <= 1.0):
            raise ValueError(f"air_threshold must lie in (0, 1], got {self.air_threshold}")
        if self.air_outcome not in ("phone", "contact"):
            raise ValueError(f"air_outcome must be 'phone' or 'contact', got {self.air_outcome!r}")
        if self.min_group_size < 1:
            raise ValueError(f"min_group_size must be at least 1, got {self.min_group_size}")
        if self.cohort_freq not in ("Q", "M"):
            raise ValueError(f"cohort_freq must be 'Q' or 'M', got {self.cohort_freq!r}")
        if self.roll_months is not None and self.roll_months < 1:
            raise ValueError(f"roll_months must be at least 1 or None, got {self.roll_months}")
        bad = [c for c in self.protected if not isinstance(c, str) or not c]
        if bad:
            raise ValueError(f"protected columns must be non-empty names, got {bad!r}")


def psi_rag(value: float | None, amber: float, red: float) -> str | None:
    """Traffic light of a PSI: below amber green, below red amber, else red (None stays None)."""
    if value is None or not math.isfinite(value):
        return None
    if value >= red:
        return RED
    return AMBER if value >= amber else GREEN


def worst(*lights: str | None) -> str | None:
    """The most severe of some traffic lights, ignoring missing ones."""
    present = [x for x in lights if x is not None]
    return max(present, key=RAG_ORDER.__getitem__) if present else None


def period_labels(dates: Any) -> np.ndarray:
    """ "YYYY-MM" of each observation date; rows without one are the undated current book."""
    return month_labels(dates, missing=UNDATED_PERIOD)


def sorted_periods(labels: np.ndarray) -> list[str]:
    """Distinct period labels, oldest first, the undated book last."""
    distinct = {str(x) for x in pd.unique(pd.Series(labels, dtype=object))}
    uniq = sorted(distinct - {UNDATED_PERIOD})
    return uniq + ([UNDATED_PERIOD] if UNDATED_PERIOD in distinct else [])


@dataclass(frozen=True, eq=False)
class PeriodIndex:
    """Period labels of the monitored rows with each row's index into their sorted order, built
    once per run: the stability, performance and fairness views select a period's rows by an
    integer code instead of comparing millions of label strings per period."""

    labels: np.ndarray  # one label per row (object)
    codes: np.ndarray  # index of the row's label in `order`
    order: list[str]  # `sorted_periods` of the labels

    @classmethod
    def of(cls, periods: Any) -> PeriodIndex:
        """An index of `periods` (labels, one per row); an index passes through unchanged."""
        if isinstance(periods, PeriodIndex):
            return periods
        labels = np.asarray(periods, dtype=object)
        order = sorted_periods(labels)
        codes = pd.Categorical(labels, categories=order).codes.astype(np.int64)
        return cls(labels, codes, order)

    def __len__(self) -> int:
        return len(self.labels)


def labels_of(default: Any) -> np.ndarray:
    """The 0/1 label as float64 with NaN where unknown (Int8 with NA, float with NaN, object)."""
    return pd.to_numeric(pd.Series(default), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )

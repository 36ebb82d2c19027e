"""One vocabulary of days past due (DPD): the default threshold and the delinquency buckets.

Every module that asks "is this account in default?" or "which arrears bucket is it in?" asks
here, so the label, the scorer, monitoring's roll rates and the collection experiment cannot
disagree on an edge:

- `DEFAULT_DPD`: at or beyond 90 days past due an account is in default (not scored: PD 1,
  grade D); the default definition a label deriver applies may add materiality and probation on
  top, never move this threshold silently.
- `DPD_BUCKETS`: current, 1-30, 31-60, 61-89, 90+ (the last one is "in default").
- `COLLECTION_BUCKETS`: the same edges with 90+ refined into 90-120 and 121+, for collection
  work where arrears keep ageing after default. A refinement, not a second set of edges: every
  collection bucket lies inside exactly one `DPD_BUCKETS` bucket (checked at import by a test).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Days past due from which an account is in default.
DEFAULT_DPD = 90

#: (label, lowest DPD) of the delinquency buckets, in order; the last is in default.
DPD_BUCKETS: tuple[tuple[str, int], ...] = (
    ("current", 0),
    ("1-30", 1),
    ("31-60", 31),
    ("61-89", 61),
    (f"{DEFAULT_DPD}+", DEFAULT_DPD),
)
#: `DPD_BUCKETS` with the default bucket split where collection treatments change (121 days).
COLLECTION_BUCKETS: tuple[tuple[str, int], ...] = (
    *DPD_BUCKETS[:-1],
    (f"{DEFAULT_DPD}-120", DEFAULT_DPD),
    ("121+", 121),
)

BUCKET_LABELS: tuple[str, ...] = tuple(label for label, _ in DPD_BUCKETS)
COLLECTION_LABELS: tuple[str, ...] = tuple(label for label, _ in COLLECTION_BUCKETS)
#: Lower edges of the past-due collection buckets (1-30, ..., 121+).
COLLECTION_EDGES: tuple[int, ...] = tuple(low for _, low in COLLECTION_BUCKETS[1:])


def in_default(days_past_due: Any) -> np.ndarray:
    """True where an account is already in default (>= `DEFAULT_DPD`); unknown DPD is not."""
    dpd = np.asarray(pd.to_numeric(pd.Series(np.asarray(days_past_due).ravel()), errors="coerce"))
    return np.nan_to_num(dpd.astype("float64"), nan=-1.0) >= DEFAULT_DPD


def bucket_index(
    days_past_due: Any, buckets: tuple[tuple[str, int], ...] = DPD_BUCKETS
) -> np.ndarray:
    """Index into `buckets` per value (0 = current); -1 where missing. Negative DPD is an error:
    arrears do not run backwards."""
    lows = np.array([low for _, low in buckets[1:]], dtype="float64")
    s = days_past_due if isinstance(days_past_due, pd.Series) else pd.Series(days_past_due)
    if s.dtype.kind in "iu":  # whole days, no missing values: no float copy of the column
        d = s.to_numpy()
        if d.size and d.min() < 0:
            raise ValueError("days_past_due must be >= 0")
        return np.searchsorted(lows.astype(d.dtype), d, side="right").astype(np.int64)
    d = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if (d < 0).any():
        raise ValueError("days_past_due must be >= 0")
    out = np.searchsorted(lows, d, side="right")
    return np.where(np.isnan(d), -1, out).astype(np.int64)


def collection_bucket(days_past_due: Any) -> np.ndarray:
    """Index into `COLLECTION_BUCKETS` (0 current, 1 = 1-30, ..., 5 = 121+). Callers check for
    missing DPD first (the tier engine refuses it)."""
    dpd = np.asarray(days_past_due, dtype=float)
    return np.searchsorted(np.asarray(COLLECTION_EDGES, dtype=float), dpd, side="right")

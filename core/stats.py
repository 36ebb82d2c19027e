"""The one AUC and the one PSI of the project: model metrics, data quality and gates all use these.

AUC is sklearn's (rank-based, ties count half). PSI bins by the reference population's deciles,
so "10 bins" means ten bins. The intervals of a proportion (Wilson), of a difference of two
proportions (Newcombe) and of a difference of two means (normal, unequal variances) live here too:
the collection experiment's arm report uses them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def binary_arrays(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype="float64").ravel()
    p_arr = np.asarray(p, dtype="float64").ravel()
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"y and p differ in length: {y_arr.shape[0]} vs {p_arr.shape[0]}")
    if y_arr.size == 0:
        raise ValueError("empty input")
    if np.isnan(y_arr).any() or not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("y must be 0/1 without missing values")
    if np.isnan(p_arr).any():
        raise ValueError("predictions contain NaN")
    return y_arr, p_arr


def has_both_classes(y: np.ndarray) -> bool:
    return 0 < y.sum() < y.size


def auc(y: Any, p: Any) -> float:
    """ROC AUC (rank-based, ties count half); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    y_arr, p_arr = binary_arrays(y, p)
    if not has_both_classes(y_arr):
        return float("nan")
    return float(roc_auc_score(y_arr, p_arr))


def decile_edges(reference: np.ndarray, n_bins: int = 10, presorted: bool = False) -> np.ndarray:
    """Interior bin edges at the reference's quantiles (ties merged), point masses apart.

    A value holding at least 1/n_bins of the reference (zero days past due, zero overdue) gets a
    bin of its own: without it the mass and the values just above it share one bin, and a shift
    between them (the book falling behind) reads as PSI 0. Continuous scores have no such mass,
    so their bins are the plain deciles. `reference` must be non-empty and free of NaN
    (`presorted`: already in ascending order, e.g. sorted as float32 and then widened). Bin i
    holds [edges[i-1], edges[i]); see `bin_index`.

    One sort serves both parts: the quantiles of a sorted array are the same numbers, and a value
    with at least m = ceil(n / n_bins) copies fills a run of m sorted positions, so it sits at one
    of the positions 0, m, 2m, ...; those few candidates are counted by binary search (no
    `np.unique` of the whole column).
    """
    ordered = reference if presorted else np.sort(reference)
    edges = np.unique(np.quantile(ordered, np.linspace(0.0, 1.0, n_bins + 1))[1:-1])
    step = -(-ordered.size // n_bins)
    candidates = np.unique(ordered[::step])
    counts = np.searchsorted(ordered, candidates, side="right") - np.searchsorted(
        ordered, candidates, side="left"
    )
    masses = candidates[counts >= ordered.size / n_bins]
    above = np.nextafter(masses[np.isin(masses, edges)], np.inf)
    return np.unique(np.concatenate([edges, above]))


def bin_index(values: np.ndarray, edges: np.ndarray, dtype: Any = np.intp) -> np.ndarray:
    """The bin of each value for `decile_edges` (0 .. edges.size): how many edges are <= it
    (NaN in the last bin, as `np.searchsorted` puts it), as `dtype` (a small integer type
    moves fewer bytes when the caller's codes fit it).

    For the dozen edges of a decile binning, one vectorised comparison per edge is about ten
    times faster than a binary search per value on millions of rows; many edges use the search.
    """
    v = np.asarray(values)
    if edges.size > 32:
        return np.searchsorted(edges, v, side="right").astype(dtype, copy=False)
    out = np.zeros(v.shape, dtype=dtype)
    at_least = np.empty(v.shape, dtype=bool)
    for edge in edges:
        np.greater_equal(v, edge, out=at_least)
        out += at_least
    if v.dtype.kind == "f":
        out[np.isnan(v)] = edges.size
    return out


def bin_shares(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """Share of rows in each bin 0 .. n_codes - 1."""
    return np.bincount(codes, minlength=n_codes) / codes.size


def psi_from_shares(expected_share: Any, actual_share: Any, eps: float = 1e-4) -> float:
    """PSI of two share vectors over the same bins; empty bins count as `eps` so it stays finite.

    The one PSI formula: `psi` and the data-quality report (categories, a missing bin) use it.
    """
    e_share = np.maximum(np.asarray(expected_share, dtype="float64"), eps)
    a_share = np.maximum(np.asarray(actual_share, dtype="float64"), eps)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def psi(expected: Any, actual: Any, n_bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of `actual` against `expected`.

    Bin edges are the quantiles of `expected` (the reference population); empty bins get `eps`
    share so the index stays finite. Rule of thumb: < 0.1 stable, 0.1-0.25 watch, > 0.25 shift.
    """
    e = np.asarray(expected, dtype="float64").ravel()
    a = np.asarray(actual, dtype="float64").ravel()
    e, a = e[~np.isnan(e)], a[~np.isnan(a)]
    if e.size == 0 or a.size == 0:
        raise ValueError("psi needs non-empty expected and actual samples")
    edges = decile_edges(e, n_bins)
    n_codes = edges.size + 1
    return psi_from_shares(
        bin_shares(bin_index(e, edges), n_codes), bin_shares(bin_index(a, edges), n_codes), eps
    )


def _z(level: float) -> float:
    """The two-sided normal quantile of a confidence `level`."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def wilson_interval(successes: int, n: int, level: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaNs when n = 0)."""
    if n == 0:
        return (math.nan, math.nan)
    z = _z(level)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, level: float
) -> tuple[float, float, float]:
    """Difference p1 - p2 and its Newcombe hybrid-score interval (method 10)."""
    if n1 == 0 or n2 == 0:
        return (math.nan, math.nan, math.nan)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, level)
    l2, u2 = wilson_interval(x2, n2, level)
    d = p1 - p2
    return (d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2))


def welch_interval(a: np.ndarray, b: np.ndarray, level: float) -> tuple[float, float, float]:
    """Difference of means a - b and its two-sample normal (unequal variance) interval."""
    if len(a) < 2 or len(b) < 2:
        return (math.nan, math.nan, math.nan)
    d = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    z = _z(level)
    return (d, d - z * se, d + z * se)

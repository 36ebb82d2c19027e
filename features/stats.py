"""The one AUC and the one PSI of the project: model metrics, data quality and gates all use these.

AUC is sklearn's (rank-based, ties count half). PSI bins by the reference population's deciles,
so "10 bins" means ten bins.
"""

from __future__ import annotations

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
    edges = np.unique(np.quantile(e, np.linspace(0.0, 1.0, n_bins + 1))[1:-1])
    e_share = (
        np.bincount(np.searchsorted(edges, e, side="right"), minlength=edges.size + 1) / e.size
    )
    a_share = (
        np.bincount(np.searchsorted(edges, a, side="right"), minlength=edges.size + 1) / a.size
    )
    e_share, a_share = np.maximum(e_share, eps), np.maximum(a_share, eps)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))

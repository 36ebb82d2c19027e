"""Credit-risk metrics and plot data: discrimination, calibration, stability.

Every function takes the binary outcome `y` (1 = default) and a predicted PD or score `p` as
array-likes and returns plain Python floats / lists / dicts, so results go straight into strict
JSON (no NaN, no inf; `core.io.write_json` nulls any that slip through).

ECE uses equal-frequency bins by default: PDs in a credit book are heavily skewed towards zero, so
equal-width bins would leave almost every account in the first bin and hide miscalibration where
the volume is. `strategy="uniform"` gives the textbook equal-width variant.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.stats import auc, binary_arrays, has_both_classes
from core.stats import psi as psi  # re-exported: the model's metrics in one module

log = logging.getLogger(__name__)

_EPS = 1e-15
MAX_CURVE_POINTS = 201  # plot files stay small whatever the test size


def gini(y: Any, p: Any) -> float:
    """Accuracy ratio as lenders quote it: 2 * AUC - 1."""
    return 2.0 * auc(y, p) - 1.0


def _cum_rates(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative bad and good rates when accounts are taken riskiest first, one step per distinct
    prediction (ties move together so the curve does not depend on row order)."""
    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], y[order]
    last_of_group = np.r_[ps[1:] != ps[:-1], True]
    cum_bad = np.cumsum(ys)[last_of_group]
    cum_good = np.cumsum(1.0 - ys)[last_of_group]
    n_bad, n_good = max(y.sum(), _EPS), max((1.0 - y).sum(), _EPS)
    return (
        np.r_[0.0, cum_bad / n_bad],
        np.r_[0.0, cum_good / n_good],
        np.r_[np.inf, ps[last_of_group]],
    )


def ks(y: Any, p: Any) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the bad and good score CDFs."""
    y_arr, p_arr = binary_arrays(y, p)
    if not has_both_classes(y_arr):
        return float("nan")
    bad, good, _ = _cum_rates(y_arr, p_arr)
    return float(np.max(np.abs(bad - good)))


def brier(y: Any, p: Any) -> float:
    y_arr, p_arr = binary_arrays(y, p)
    return float(np.mean((p_arr - y_arr) ** 2))


def log_loss(y: Any, p: Any, eps: float = 1e-12) -> float:
    """Mean binary cross-entropy with PDs clipped to [eps, 1-eps]."""
    y_arr, p_arr = binary_arrays(y, p)
    q = np.clip(p_arr, eps, 1.0 - eps)
    return float(-np.mean(y_arr * np.log(q) + (1.0 - y_arr) * np.log1p(-q)))


def _bin_ids(p: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "quantile":
        # Equal-frequency by rank: ties broken by order so every bin has n/n_bins rows.
        ranks = np.argsort(np.argsort(p, kind="mergesort"), kind="mergesort")
        return np.minimum((ranks * n_bins) // p.size, n_bins - 1)
    if strategy == "uniform":
        return np.minimum((np.clip(p, 0.0, 1.0) * n_bins).astype(int), n_bins - 1)
    raise ValueError(f"unknown binning strategy {strategy!r} (use 'quantile' or 'uniform')")


def calibration_table(
    y: Any, p: Any, n_bins: int = 10, strategy: str = "quantile"
) -> list[dict[str, float]]:
    """Reliability data: per bin the mean predicted PD, observed default rate and count."""
    y_arr, p_arr = binary_arrays(y, p)
    ids = _bin_ids(p_arr, n_bins, strategy)
    rows = []
    for b in range(n_bins):
        m = ids == b
        n = int(m.sum())
        if n == 0:
            continue
        rows.append(
            {
                "bin": b + 1,
                "mean_pd": float(p_arr[m].mean()),
                "observed_rate": float(y_arr[m].mean()),
                "n": n,
            }
        )
    return rows


def ece(y: Any, p: Any, n_bins: int = 10, strategy: str = "quantile") -> float:
    """Expected calibration error: count-weighted mean |observed rate - mean PD| over bins."""
    y_arr, _ = binary_arrays(y, p)
    rows = calibration_table(y, p, n_bins, strategy)
    return float(sum(r["n"] * abs(r["observed_rate"] - r["mean_pd"]) for r in rows) / y_arr.size)


def summary(y: Any, p: Any, ece_bins: int = 10) -> dict[str, float]:
    """The metrics block every report uses: auc, gini, ks, brier, log_loss, ece, n, bad_rate."""
    y_arr, p_arr = binary_arrays(y, p)
    return {
        "auc": auc(y_arr, p_arr),
        "gini": gini(y_arr, p_arr),
        "ks": ks(y_arr, p_arr),
        "brier": brier(y_arr, p_arr),
        "log_loss": log_loss(y_arr, p_arr),
        "ece": ece(y_arr, p_arr, ece_bins),
        "n": int(y_arr.size),
        "bad_rate": float(y_arr.mean()),
    }


def decile_table(y: Any, p: Any, n_groups: int = 10) -> list[dict[str, float]]:
    """Risk-ranked groups, riskiest first: bad rate, lift over the book, cumulative bad capture.

    Groups are equal-frequency by rank of `p` (descending), the way collections teams read a
    gains table: "the top 10% riskiest hold X% of the bads".
    """
    y_arr, p_arr = binary_arrays(y, p)
    order = np.argsort(-p_arr, kind="mergesort")
    ys, ps = y_arr[order], p_arr[order]
    ids = np.minimum((np.arange(ys.size) * n_groups) // ys.size, n_groups - 1)
    total_bad = ys.sum()
    base_rate = ys.mean()
    rows, cum_bad, cum_n = [], 0.0, 0
    for g in range(n_groups):
        m = ids == g
        n = int(m.sum())
        if n == 0:
            continue
        bads = float(ys[m].sum())
        cum_bad += bads
        cum_n += n
        rate = bads / n
        rows.append(
            {
                "decile": g + 1,
                "n": n,
                "bads": int(bads),
                "min_pd": float(ps[m].min()),
                "max_pd": float(ps[m].max()),
                "mean_pd": float(ps[m].mean()),
                "bad_rate": rate,
                "lift": float(rate / base_rate) if base_rate > 0 else float("nan"),
                "cum_population": cum_n / ys.size,
                "cum_bad_capture": float(cum_bad / total_bad) if total_bad > 0 else float("nan"),
            }
        )
    return rows


def _thin(n: int, max_points: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Indices of at most `max_points` evenly spread points, always keeping the ends."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def roc_curve_data(y: Any, p: Any) -> list[dict[str, float]]:
    """Rows {fpr, tpr, threshold} (threshold of the first point is the max PD, never inf)."""
    y_arr, p_arr = binary_arrays(y, p)
    tpr, fpr, thr = _cum_rates(y_arr, p_arr)
    thr = thr.copy()
    thr[0] = float(p_arr.max())
    idx = _thin(tpr.size)
    return [{"fpr": float(fpr[i]), "tpr": float(tpr[i]), "threshold": float(thr[i])} for i in idx]


def ks_curve_data(y: Any, p: Any) -> list[dict[str, float]]:
    """Rows {population, bad_rate_cum, good_rate_cum, ks}: cumulative CDFs riskiest first."""
    y_arr, p_arr = binary_arrays(y, p)
    order = np.argsort(-p_arr, kind="mergesort")
    ys = y_arr[order]
    n_bad, n_good = max(ys.sum(), _EPS), max((1 - ys).sum(), _EPS)
    bad = np.r_[0.0, np.cumsum(ys) / n_bad]
    good = np.r_[0.0, np.cumsum(1 - ys) / n_good]
    pop = np.arange(ys.size + 1) / ys.size
    idx = _thin(pop.size)
    return [
        {
            "population": float(pop[i]),
            "bad_cum": float(bad[i]),
            "good_cum": float(good[i]),
            "ks": float(bad[i] - good[i]),
        }
        for i in idx
    ]


def pr_curve_data(y: Any, p: Any) -> list[dict[str, float]]:
    """Rows {recall, precision, threshold} for the default class."""
    from sklearn.metrics import precision_recall_curve

    y_arr, p_arr = binary_arrays(y, p)
    precision, recall, thr = precision_recall_curve(y_arr, p_arr)
    thr = np.r_[thr, p_arr.max()]  # sklearn returns one threshold fewer than points
    idx = _thin(recall.size)
    return [
        {"recall": float(recall[i]), "precision": float(precision[i]), "threshold": float(thr[i])}
        for i in idx
    ]


def bad_rate_by_grade(
    y: Any, p: Any, grades: Sequence[str], grade_order: Sequence[str]
) -> list[dict[str, Any]]:
    """Per master-scale grade: count, share, observed bad rate and mean PD (the per-grade check)."""
    y_arr, p_arr = binary_arrays(y, p)
    g = np.asarray(grades, dtype=object)
    rows = []
    for name in grade_order:
        m = g == name
        n = int(m.sum())
        rows.append(
            {
                "grade": name,
                "n": n,
                "share": n / y_arr.size,
                "bad_rate": float(y_arr[m].mean()) if n else None,
                "mean_pd": float(p_arr[m].mean()) if n else None,
            }
        )
    return rows


def curve_bundle(
    y: Any, p: Any, grades: Sequence[str], grade_order: Sequence[str], n_bins: int = 10
) -> dict[str, list[dict[str, Any]]]:
    """All plot files of the train stage, keyed by file stem."""
    return {
        "roc": roc_curve_data(y, p),
        "precision_recall": pr_curve_data(y, p),
        "calibration": calibration_table(y, p, n_bins),
        "ks": ks_curve_data(y, p),
        "bad_rate_by_grade": bad_rate_by_grade(y, p, grades, grade_order),
    }


#: Delinquency segments of the test split, by days past due at the snapshot: (name, low, high).
DPD_SEGMENTS: tuple[tuple[str, int, int], ...] = (
    ("not_past_due", 0, 0),
    ("dpd_1_30", 1, 30),
    ("dpd_31_60", 31, 60),
    ("dpd_61_89", 61, 89),
)


def optional_auc(y: Any, p: Any) -> float | None:
    """AUC, or None (JSON null) where it is undefined: no rows, one class, or a missing score."""
    y_arr = np.asarray(y, dtype="float64").ravel()
    p_arr = np.asarray(p, dtype="float64").ravel()
    if y_arr.size == 0 or np.isnan(p_arr).any() or not has_both_classes(y_arr):
        return None
    return auc(y_arr, p_arr)


def group_metrics(y: Any, p: Any, true_pd: Any | None) -> dict[str, Any]:
    """{"n", "bad_rate", "auc", "oracle_auc"} of one group of rows (true_pd NaN where unknown).

    The oracle AUC is null when the book has no truth or any row of the group lacks it: an oracle
    on a different set of rows would not be comparable with the model's AUC.
    """
    y_arr = np.asarray(y, dtype="float64").ravel()
    n = int(y_arr.size)
    oracle = None if true_pd is None else optional_auc(y_arr, true_pd)
    return {
        "n": n,
        "bad_rate": float(y_arr.mean()) if n else None,
        "auc": optional_auc(y_arr, p),
        "oracle_auc": oracle,
    }


def segment_metrics(
    y: Any, p: Any, days_past_due: Any, true_pd: Any | None = None
) -> dict[str, dict[str, Any]]:
    """`group_metrics` per delinquency segment (DPD_SEGMENTS), every segment listed even if empty.

    Past-due accounts are easy to rank (the delinquency is already visible), so the whole-test AUC
    flatters the model; the not-past-due segment shows how well it sees risk before arrears.
    """
    y_arr = np.asarray(y, dtype="float64").ravel()
    p_arr = np.asarray(p, dtype="float64").ravel()
    dpd = np.asarray(days_past_due, dtype="float64").ravel()
    truth = None if true_pd is None else np.asarray(true_pd, dtype="float64").ravel()
    out: dict[str, dict[str, Any]] = {}
    for name, low, high in DPD_SEGMENTS:
        rows = (dpd >= low) & (dpd <= high)
        out[name] = group_metrics(y_arr[rows], p_arr[rows], None if truth is None else truth[rows])
    return out


def month_labels(dates: Any, missing: str = "") -> np.ndarray:
    """'YYYY-MM' of each date (`missing` where there is none), each distinct month formatted once:
    the one period label of metrics.json, the validation document and the monitoring stage."""
    months = (
        pd.to_datetime(pd.Series(dates), errors="coerce")
        .to_numpy(dtype="datetime64[ns]")
        .astype("datetime64[M]")
    )
    distinct, inverse = np.unique(months, return_inverse=True)
    text = np.array([missing if np.isnat(m) else str(m) for m in distinct], dtype=object)
    return text[inverse.reshape(-1)]


def period_metrics(y: Any, p: Any, dates: Any, true_pd: Any | None = None) -> list[dict[str, Any]]:
    """`group_metrics` plus the mean PD per calendar month of `dates`, oldest first.

    Out of time, the bad rate and mean PD of each period show whether the model follows a change
    in the book (a stressed stretch) or only ranks within it.
    """
    y_arr = np.asarray(y, dtype="float64").ravel()
    p_arr = np.asarray(p, dtype="float64").ravel()
    months = month_labels(dates)
    truth = None if true_pd is None else np.asarray(true_pd, dtype="float64").ravel()
    out: list[dict[str, Any]] = []
    for month in sorted(set(months) - {""}):
        rows = months == month
        entry = {"period": month}
        entry.update(
            group_metrics(y_arr[rows], p_arr[rows], None if truth is None else truth[rows])
        )
        entry["mean_pd"] = float(p_arr[rows].mean())
        out.append(entry)
    return out

"""Discrimination with its uncertainty: DeLong AUC intervals, paired champion/challenger tests, KS.

A Gini quoted without an interval cannot tell a real gain from noise, and a challenger is usually
scored on the same accounts as the champion, so the two AUCs are correlated: the paired DeLong
test uses that covariance and is far sharper than comparing two separate intervals.

DeLong's variance uses the fast O(n log n) algorithm of Sun & Xu (2014, IEEE Signal Processing
Letters 21(11)): midranks of the positives, the negatives and the pooled scores give every
structural component at once. Higher score = more likely a default (pass PDs, not points).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from core.stats import binary_arrays, has_both_classes
from models.metrics import ks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AucInterval:
    """An AUC with its DeLong standard error and a normal interval clipped to [0, 1]."""

    auc: float
    se: float
    low: float
    high: float
    level: float

    def gini_interval(self) -> tuple[float, float, float]:
        """(gini, low, high) with gini = 2 * AUC - 1 applied to all three."""
        return 2.0 * self.auc - 1.0, 2.0 * self.low - 1.0, 2.0 * self.high - 1.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class PairedAuc:
    """Two AUCs on the same rows, their difference (a - b), its DeLong se, interval, p-value."""

    auc_a: float
    auc_b: float
    diff: float
    se: float
    low: float
    high: float
    p_value: float
    level: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _labels(y: Any) -> np.ndarray:
    y_arr = np.asarray(y, dtype="float64").ravel()
    y_arr, _ = binary_arrays(y_arr, np.zeros_like(y_arr))
    if not has_both_classes(y_arr):
        raise ValueError(
            f"AUC needs both defaults and non-defaults, but y has only class {int(y_arr[0])} "
            f"({y_arr.size} rows)"
        )
    return y_arr


def _delong(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) and their DeLong covariance (k, k) for k score rows (k, n) on labels y (n,).

    Sun & Xu (2014): with midranks tx of the m positives among themselves, ty of the n negatives
    among themselves and tz of all pooled, V10 = (tz_pos - tx) / n and V01 = 1 - (tz_neg - ty) / m
    are the structural components; cov(AUC) = S10 / m + S01 / n.
    """
    pos, neg = y == 1.0, y == 0.0
    m, n = int(pos.sum()), int(neg.sum())
    x, z = scores[:, pos], scores[:, neg]
    tx = stats.rankdata(x, axis=1)
    tz_neg_own = stats.rankdata(z, axis=1)
    tz = stats.rankdata(np.concatenate([x, z], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    if m < 2 or n < 2:
        log.warning("DeLong variance needs 2+ rows of each class (got %d and %d)", m, n)
        return aucs, np.full((scores.shape[0], scores.shape[0]), np.nan)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - tz_neg_own) / m
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


def _z(level: float, two_sided: bool = True) -> float:
    return float(stats.norm.ppf(0.5 + level / 2.0 if two_sided else level))


def delong_auc(y: Any, p: Any, level: float = 0.95) -> AucInterval:
    """AUC with a DeLong standard error and a `level` normal interval clipped to [0, 1].

    Raises ValueError when y holds one class only (no AUC exists); with a single row of a class
    the variance is undefined and se, low and high are NaN.
    """
    _check_level(level)
    y_arr = _labels(y)
    _, p_arr = binary_arrays(y_arr, p)
    aucs, cov = _delong(y_arr, p_arr[None, :])
    auc, se = float(aucs[0]), float(math.sqrt(max(cov[0, 0], 0.0)))
    half = _z(level) * se
    return AucInterval(
        auc=auc,
        se=se,
        low=float(np.clip(auc - half, 0.0, 1.0)),
        high=float(np.clip(auc + half, 0.0, 1.0)),
        level=level,
    )


def _paired(y: Any, p_a: Any, p_b: Any) -> tuple[float, float, float, float]:
    """(auc_a, auc_b, diff, se of diff) on the same rows."""
    y_arr = _labels(y)
    _, a = binary_arrays(y_arr, p_a)
    _, b = binary_arrays(y_arr, p_b)
    aucs, cov = _delong(y_arr, np.vstack([a, b]))
    var = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    # Rounding can leave a tiny negative variance for (near-)identical scores.
    se = float(math.sqrt(max(var, 0.0))) if np.isfinite(var) else float("nan")
    if se < 1e-12:
        se = 0.0
    return float(aucs[0]), float(aucs[1]), float(aucs[0] - aucs[1]), se


def delong_paired(y: Any, p_a: Any, p_b: Any, level: float = 0.95) -> PairedAuc:
    """Paired DeLong test of AUC(a) - AUC(b) on the same rows; p-value two-sided for diff == 0.

    Identical scores (se 0) give p 1 when the AUCs agree and 0 otherwise.
    """
    _check_level(level)
    auc_a, auc_b, diff, se = _paired(y, p_a, p_b)
    if se == 0.0:
        p_value = 1.0 if abs(diff) < 1e-12 else 0.0
    else:
        p_value = float(2.0 * stats.norm.sf(abs(diff) / se))
    half = _z(level) * se
    return PairedAuc(
        auc_a=auc_a,
        auc_b=auc_b,
        diff=diff,
        se=se,
        low=diff - half,
        high=diff + half,
        p_value=p_value,
        level=level,
    )


def non_inferiority(
    y: Any, p_challenger: Any, p_champion: Any, margin: float, level: float = 0.95
) -> dict[str, Any]:
    """Is the challenger's AUC no worse than the champion's by more than `margin`?

    H0: AUC(challenger) - AUC(champion) <= -margin, tested one-sided with the paired DeLong se;
    `passed` when p < 1 - level, which is the same as the one-sided `level` lower bound `low`
    lying above -margin. `high` is the matching upper bound (diff + z_level * se), so [low, high]
    is the two-sided (2 * level - 1) interval, e.g. the 90% interval for level 0.95 (the usual
    way to report a one-sided 5% non-inferiority test). Identical scores (se 0): passed iff
    diff > -margin, with p 0 (passed) or 1.
    """
    _check_level(level)
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0 (an AUC loss tolerated), got {margin}")
    auc_c, auc_p, diff, se = _paired(y, p_challenger, p_champion)
    if se == 0.0:
        passed = diff > -margin
        p, low, high = (0.0 if passed else 1.0), diff, diff
    else:
        p = float(stats.norm.sf((diff + margin) / se))
        half = _z(level, two_sided=False) * se
        low, high = diff - half, diff + half
        passed = p < 1.0 - level
    return {
        "auc_challenger": auc_c,
        "auc_champion": auc_p,
        "diff": diff,
        "se": se,
        "low": low,
        "high": high,
        "margin": float(margin),
        "p": p,
        "level": level,
        "passed": bool(passed),
    }


def _ks_resampled(
    codes_bad: np.ndarray,
    codes_good: np.ndarray,
    n_values: int,
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """KS of `n_boot` stratified resamples, in chunks of boots at once (bounded memory).

    Rows are reduced to the rank code of their score among the distinct scores, so a resample is
    a count per distinct score and its KS the largest gap of the two cumulative shares; ties move
    together exactly as in `models.metrics.ks`.
    """
    nb, ng = codes_bad.size, codes_good.size
    chunk = max(1, min(n_boot, 4_000_000 // max(nb + ng, n_values)))
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        offset = (np.arange(k) * n_values)[:, None]
        cum = []
        for codes, size in ((codes_bad, nb), (codes_good, ng)):
            draw = codes[rng.integers(0, size, size=(k, size))] + offset
            counts = np.bincount(draw.ravel(), minlength=k * n_values).reshape(k, n_values)
            cum.append(np.cumsum(counts, axis=1) / size)
        out[start : start + k] = np.abs(cum[0] - cum[1]).max(axis=1)
    return out


def ks_bootstrap_ci(
    y: Any, p: Any, n_boot: int = 200, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(ks, low, high): KS with a percentile interval from a stratified bootstrap.

    Defaults and non-defaults are resampled separately, so every resample keeps the book's bad
    rate (a plain bootstrap of a low-default book lets the number of bads wander).
    """
    _check_level(level)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    y_arr = _labels(y)
    _, p_arr = binary_arrays(y_arr, p)
    point = ks(y_arr, p_arr)
    values, codes = np.unique(p_arr, return_inverse=True)
    rng = np.random.default_rng(seed)
    boots = _ks_resampled(codes[y_arr == 1.0], codes[y_arr == 0.0], values.size, n_boot, rng)
    alpha = 1.0 - level
    low, high = np.quantile(boots, [alpha / 2.0, 1.0 - alpha / 2.0])
    return point, float(low), float(high)

"""Population stability over time: score PSI and per-feature CSI of each period vs the reference.

The reference is the development sample (the train split). Bins come from the reference once
(`features.stats.decile_edges`, point masses apart) and every period is binned against them in one
`bincount`, so a book of millions of rows and dozens of features costs one pass per feature. Text
features use the reference's categories (the rest as "other"), and missing values get a bin of
their own, the same rules as the data-quality report (`features.quality.population_stability`),
so a feature's drift reads the same number in both places.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.stats import bin_index, bin_shares, decile_edges, psi_from_shares
from models.monitoring.config import MonitorConfig, psi_rag, sorted_periods, worst

log = logging.getLogger(__name__)

#: Columns of the scores/features tables that are never model features.
NON_FEATURES = frozenset(
    {"account_id", "observation_date", "default", "split", "raw_score", "pd", "score", "grade"}
)
NON_FEATURE_PREFIXES = ("protected__", "policy__")
MAX_CATEGORIES = 20  # as the data-quality report: the rest of the categories share one bin


def model_features(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    """Columns both frames carry that are model features (not keys, labels, scores, protected
    attributes or policy inputs), in the reference's order."""
    shared = [c for c in reference.columns if c in set(current.columns)]
    return [c for c in shared if c not in NON_FEATURES and not c.startswith(NON_FEATURE_PREFIXES)]


def _is_text(s: pd.Series) -> bool:
    return (
        isinstance(s.dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(s.dtype)
        or pd.api.types.is_string_dtype(s.dtype)
        or pd.api.types.is_bool_dtype(s.dtype)
    )


def feature_codes(
    reference: pd.Series, current: pd.Series, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin codes of both samples on the reference's bins, and the number of bins.

    The last bin holds missing values (empty bins add nothing to the PSI, so it is always there).
    """
    if _is_text(reference):

        def as_text(s: pd.Series) -> pd.Series:
            # labels compared as text; categories/strings hash as they are (no per-row str())
            if pd.api.types.is_bool_dtype(s.dtype):
                return s.astype("object").where(s.notna()).map({True: "True", False: "False"})
            if isinstance(s.dtype, pd.CategoricalDtype):
                return s.cat.rename_categories([str(c) for c in s.cat.categories])
            if pd.api.types.is_object_dtype(s.dtype):  # mixed objects: compare their text
                return s.where(s.isna(), s.astype(str))
            return s

        ref, cur = as_text(reference), as_text(current)
        counts = ref.value_counts(dropna=True)
        counts = counts[counts > 0]
        cats = [str(c) for c in counts.index[:MAX_CATEGORIES]]
        other, missing = len(cats), len(cats) + 1

        def codes(s: pd.Series) -> np.ndarray:
            # category codes against the reference's categories: hashing in C, not per row
            out = pd.Categorical(s, categories=cats).codes.astype(np.int64)
            out[out < 0] = other
            out[s.isna().to_numpy()] = missing
            return out

        return codes(ref), codes(cur), len(cats) + 2

    def numbers(s: pd.Series) -> np.ndarray:
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
            return s.to_numpy(dtype="float64", na_value=np.nan)  # no parse for numbers
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)

    ref_v, cur_v = numbers(reference), numbers(current)
    present = ref_v[~np.isnan(ref_v)]
    edges = decile_edges(present, n_bins) if present.size else np.array([])
    missing = edges.size + 1
    ref_c = np.where(np.isnan(ref_v), missing, bin_index(ref_v, edges))
    cur_c = np.where(np.isnan(cur_v), missing, bin_index(cur_v, edges))
    return ref_c.astype(np.int64), cur_c.astype(np.int64), edges.size + 2


def period_codes(periods: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Index of each row's period in `sorted_periods` order, and that order."""
    order = sorted_periods(periods)
    return pd.Categorical(periods, categories=order).codes.astype(np.int64), order


def _psi_rows(
    reference: pd.Series, current: pd.Series, codes: np.ndarray, order: list[str], n_bins: int
) -> dict[str, float]:
    ref_c, cur_c, n_codes = feature_codes(reference, current, n_bins)
    table = np.bincount(codes * n_codes + cur_c, minlength=len(order) * n_codes).reshape(
        len(order), n_codes
    )
    ref_share = bin_shares(ref_c, n_codes)
    return {
        p: psi_from_shares(ref_share, table[i] / table[i].sum())
        for i, p in enumerate(order)
        if table[i].sum() > 0
    }


def psi_by_period(
    reference: pd.Series | np.ndarray,
    current: pd.Series | np.ndarray,
    periods: np.ndarray,
    n_bins: int = 10,
) -> dict[str, float]:
    """PSI of `current` within each period label against all of `reference` (period order)."""
    ref_s, cur_s = pd.Series(reference), pd.Series(current)
    if len(ref_s) == 0:
        raise ValueError("the reference sample is empty: PSI needs a development sample")
    if len(cur_s) != len(periods):
        raise ValueError(f"current and periods differ in length: {len(cur_s)} vs {len(periods)}")
    codes, order = period_codes(np.asarray(periods, dtype=object))
    return _psi_rows(ref_s, cur_s, codes, order, n_bins)


def stability(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    periods: np.ndarray,
    config: MonitorConfig,
    features: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score PSI and feature CSI per period, with traffic lights and the top drifting features.

    `reference` needs `pd` and the features; `current` the same columns, `periods` one label per
    current row. Returns {"score_psi": {period: psi}, "score_rag": {period: rag}, "features":
    [{"feature", "psi_by_period", "max_psi", "rag"}] (most drifting first), "top_by_period":
    {period: [feature, ...]}} where a top feature is one at or above the amber threshold.
    """
    if reference.empty:
        raise ValueError("the reference sample is empty: PSI needs a development sample")
    codes, order = period_codes(np.asarray(periods, dtype=object))
    score_psi = _psi_rows(reference["pd"], current["pd"], codes, order, config.n_bins)
    names = list(features) if features is not None else model_features(reference, current)
    rows: list[dict[str, Any]] = []
    for name in names:
        by_period = _psi_rows(reference[name], current[name], codes, order, config.n_bins)
        top = max(by_period.values()) if by_period else None
        rows.append(
            {
                "feature": name,
                "psi_by_period": by_period,
                "max_psi": top,
                "rag": psi_rag(top, config.psi_amber, config.psi_red),
            }
        )
    rows.sort(key=lambda r: -(r["max_psi"] or 0.0))
    top_by_period: dict[str, list[str]] = {}
    for period in score_psi:
        ranked = sorted(
            ((r["psi_by_period"].get(period, 0.0), r["feature"]) for r in rows), reverse=True
        )
        top_by_period[period] = [
            f for v, f in ranked[: config.top_features] if v >= config.psi_amber
        ]
    log.info(
        "stability: %d periods, %d features, worst score PSI %.4f",
        len(score_psi),
        len(rows),
        max(score_psi.values(), default=float("nan")),
    )
    return {
        "score_psi": score_psi,
        "score_rag": {
            p: psi_rag(v, config.psi_amber, config.psi_red) for p, v in score_psi.items()
        },
        "features": rows,
        "top_by_period": top_by_period,
        "worst_feature_rag": worst(*(r["rag"] for r in rows)),
    }

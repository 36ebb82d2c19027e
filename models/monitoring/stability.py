"""Population stability over time: score PSI and per-feature CSI of each period vs the reference.

The reference is the development sample (the train split). Bins come from the reference once
(`core.stats.decile_edges`, point masses apart) and every period is binned against them in one
`bincount`, so a book of millions of rows and dozens of features costs one pass per feature. Text
features use the reference's categories (the rest as "other"), and missing values get a bin of
their own, the same rules as the data-quality report (`features.quality.population_stability`),
so a feature's drift reads the same number in both places.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from core.contracts import SCORES
from core.stats import bin_index, bin_shares, decile_edges, psi_from_shares
from models.monitoring.thresholds import MonitorConfig, PeriodIndex, psi_rag, worst

log = logging.getLogger(__name__)

#: Columns of the scores/features tables that are never model features.
NON_FEATURES = frozenset(SCORES.columns)  # keys, split, sample, label and the model's outputs
NON_FEATURE_PREFIXES = ("protected__", "policy__")
MAX_CATEGORIES = 20  # as the data-quality report: the rest of the categories share one bin


def reference_mask(
    reference: pd.DataFrame | np.ndarray, current: pd.DataFrame
) -> np.ndarray | None:
    """The reference as a boolean mask over the current rows, or None when it is a frame."""
    if isinstance(reference, pd.DataFrame):
        return None
    rows = np.asarray(reference)
    if rows.dtype != bool or rows.shape != (len(current),):
        raise ValueError(
            "a reference given as rows must be a boolean mask with one value per current row, "
            f"got dtype {rows.dtype} and shape {rows.shape} for {len(current)} rows"
        )
    return rows


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
    reference: pd.Series,
    current: pd.Series,
    n_bins: int = 10,
    reference_rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin codes of both samples on the reference's bins, and the number of bins.

    The last bin holds missing values (empty bins add nothing to the PSI, so it is always there).
    `reference_rows` (boolean, one per current row) says the reference IS those current rows:
    their codes are then taken from current's instead of binning the same values twice.
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

        cur_c = codes(cur)
        ref_c = cur_c[reference_rows] if reference_rows is not None else codes(ref)
        return ref_c, cur_c, len(cats) + 2

    raw = reference.to_numpy()
    if raw.dtype == np.float32:  # sorted as float32 (half the bytes), widened after: same order
        present = np.sort(raw[~np.isnan(raw)]).astype(np.float64)
    else:
        ref_v = _numbers(reference)
        present = np.sort(ref_v[~np.isnan(ref_v)])
    edges = decile_edges(present, n_bins, presorted=True) if present.size else np.array([])
    cur_c = _numeric_codes(current, edges)
    ref_c = (
        cur_c[reference_rows] if reference_rows is not None else _numeric_codes(reference, edges)
    )
    return ref_c, cur_c, edges.size + 2


def _numbers(s: pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(s, np.ndarray):
        return s
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype="float64", na_value=np.nan)  # no parse for numbers
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _numeric_codes(values: pd.Series | np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`bin_index` codes of the values, the missing ones in the last bin (edges.size + 1).

    float32 columns (most features) are binned as they are, against the edges rounded UP to
    float32: for a float32 value v and an edge e, v >= e exactly when v >= that rounded edge, so
    the codes equal the float64 ones without a float64 copy of millions of rows.
    """
    raw = values.to_numpy() if isinstance(values, pd.Series) else values
    if raw.dtype == np.float32:
        e32 = edges.astype(np.float32)
        e32 = np.where(e32 < edges, np.nextafter(e32, np.float32(np.inf)), e32)
        v = raw
        cut = e32
    else:
        v = _numbers(values)
        cut = edges
    codes = bin_index(v, cut, dtype=np.int16)  # edges.size + 2 codes, a few dozen
    codes[np.isnan(v)] = edges.size + 1
    return codes


def period_codes(periods: np.ndarray | PeriodIndex) -> tuple[np.ndarray, list[str]]:
    """Index of each row's period in `sorted_periods` order, and that order."""
    index = PeriodIndex.of(periods)
    return index.codes, index.order


def _psi_rows(
    reference: pd.Series,
    current: pd.Series,
    codes: np.ndarray,
    order: list[str],
    n_bins: int,
    reference_rows: np.ndarray | None = None,
) -> dict[str, float]:
    ref_c, cur_c, n_codes = feature_codes(reference, current, n_bins, reference_rows)
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
    codes, order = period_codes(periods)
    return _psi_rows(ref_s, cur_s, codes, order, n_bins)


def stability(
    reference: pd.DataFrame | np.ndarray,
    current: pd.DataFrame,
    periods: np.ndarray | PeriodIndex,
    config: MonitorConfig,
    features: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score PSI and feature CSI per period, with traffic lights and the top drifting features.

    `reference` is the development sample with `pd` and the features, or a boolean mask over
    the current rows that ARE the reference (the stage's case: the development months are part
    of the monitored book; their values are then binned once and never copied into a frame of
    their own). `current` has the same columns, `periods` one label per current row. Features
    are binned on a few threads (numpy's comparisons and counts release the GIL); the result
    does not depend on their number. Returns {"score_psi": {period: psi}, "score_rag": {period:
    rag}, "features": [{"feature", "psi_by_period", "max_psi", "rag"}] (most drifting first),
    "top_by_period": {period: [feature, ...]}} where a top feature is one at or above the amber
    threshold.
    """
    rows = reference_mask(reference, current)
    if (rows is not None and not rows.any()) or (rows is None and reference.empty):
        raise ValueError("the reference sample is empty: PSI needs a development sample")
    codes, order = period_codes(periods)
    if features is not None:
        names = list(features)
    else:
        names = model_features(current if rows is not None else reference, current)

    def psi_of(name: str) -> dict[str, float]:
        values = current[name]
        ref = values[rows] if rows is not None else reference[name]
        return _psi_rows(ref, values, codes, order, config.n_bins, rows)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        score_psi, *by_feature = pool.map(psi_of, ["pd", *names])
    rows: list[dict[str, Any]] = []
    for name, by_period in zip(names, by_feature, strict=True):
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

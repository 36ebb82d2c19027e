"""Data-quality report and leakage guard: per feature missing rate, distinct values, IV, AUC, PSI.

A feature that alone separates defaulters almost perfectly is far more often a leak (a post-outcome
field such as "recoveries" or "last payment status") than a miracle, so the stage stops on it
unless the user explicitly allows it. Short of that, a loan-table feature with a very high IV or a
post-outcome name (`POST_OUTCOME_NAME_PATTERNS`) is a leak suspect: warned about and flagged in
reports/data_quality.json (`leak_suspect`, `leak_reason`), since several such fields together can
lift AUC a lot while none alone reaches the stop. On a table too small to tell (`MIN_LEAKAGE_ROWS`)
the stop says so instead of naming a leak.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from core.catalogue import Catalogue
from core.errors import PipelineError
from core.stats import auc, bin_index, bin_shares, decile_edges, psi_from_shares

log = logging.getLogger(__name__)

MISSING = "__missing__"
OTHER = "__other__"
#: A feature with IV above this is a leak suspect (IV > 0.5 is "suspiciously strong" in the
#: scorecard literature: real application fields rarely get there).
SUSPECT_IV = 0.5
#: Name fragments of fields usually recorded after the outcome (payments received, recoveries,
#: collections, settlements, last payment, outstanding principal, charge-off). Matched, case
#: insensitive, against the feature name with separators removed; a match makes the feature a
#: leak suspect (a warning and a flag, not a stop). Lending Club examples in the comments.
POST_OUTCOME_NAME_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"paid", "payments received (paid_total, paid_principal, paid_late_fees)"),
    (r"recover", "recoveries after charge-off (recoveries, collection_recovery_fee)"),
    (r"collection", "collections after default (collection_recovery_fee)"),
    (r"settle", "settlement of a defaulted loan (settlement_amount)"),
    (r"last_?pymnt|last_?payment", "last payment (last_pymnt_amnt, last_pymnt_d)"),
    (r"out_?prncp|outstanding_?principal", "outstanding principal (out_prncp)"),
    (r"total_?rec_|total_?pymnt", "amounts received to date (total_rec_prncp, total_pymnt)"),
    (r"charge_?off|charged_?off|chargeoff", "charge-off (chargeoff_within_12_mths)"),
)
#: Below this many labelled training rows, or this many of either class, a single feature's AUC
#: is noise: the leakage guard then says the table is too small instead of naming a leak.
MIN_LEAKAGE_ROWS = 200
MIN_LEAKAGE_CLASS = 20


class LeakageError(PipelineError):
    """One or more features predict the label alone beyond the threshold."""

    def __init__(self, leaks: dict[str, float], threshold: float):
        self.leaks, self.threshold = leaks, threshold
        shown = ", ".join(f"'{k}' (AUC {v:.3f})" for k, v in leaks.items())
        super().__init__(
            f"possible target leakage: {shown} alone predict the label with AUC above "
            f"features.leakage_auc_threshold={threshold}. A field recorded after the outcome "
            "(e.g. recoveries, final status) would do this. Drop it (params.yaml "
            "data.table.drop_columns) or, if it is genuinely known at decision time, allow it "
            "(features.allow_leaky_features)."
        )


class TooFewRowsError(PipelineError):
    """Too few labelled training rows to tell a leak from chance."""

    def __init__(self, rows: int, defaults: int, strongest: dict[str, float]):
        self.rows, self.defaults = rows, defaults
        shown = ", ".join(f"'{k}' (AUC {v:.3f})" for k, v in strongest.items())
        super().__init__(
            f"too few rows to judge leakage or fit a PD model: {rows} labelled training rows "
            f"({defaults} defaults, {rows - defaults} non-defaults). On so few rows a single "
            f"feature separating them ({shown}) is chance, not evidence of a leak. Provide at "
            f"least {MIN_LEAKAGE_ROWS} labelled training rows with {MIN_LEAKAGE_CLASS} of each "
            "class."
        )


def _rank_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """`stats.auc` on finite or +-inf scores (inf stands for "missing placed at that end").

    The infinities are replaced by the nearest floats beyond the finite range, which keeps every
    rank (sklearn's AUC rejects infinite scores).
    """
    finite = np.isfinite(scores)
    if not finite.all():
        lo, hi = (scores[finite].min(), scores[finite].max()) if finite.any() else (0.0, 0.0)
        below, above = np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)
        scores = np.where(scores == -np.inf, below, np.where(scores == np.inf, above, scores))
    return auc(y, scores)


def _is_categorical(x: pd.Series) -> bool:
    return (
        isinstance(x.dtype, pd.CategoricalDtype)
        or x.dtype == object
        or pd.api.types.is_string_dtype(x)
    )


def _category_labels(x: pd.Series) -> pd.Series:
    return x.astype("object").where(x.notna(), MISSING).astype(str)


def single_feature_auc(x: pd.Series, y: pd.Series | np.ndarray, seed: int = 0) -> float:
    """max(AUC, 1 - AUC) of one feature alone; missing values are allowed to carry signal.

    Numeric: missing placed at either end, the stronger of the two kept (a field missing exactly
    for defaulters is a leak too). Categorical: each row scored by its category's default rate
    estimated on the other half of the rows (out-of-fold), so an id-like column does not score
    1.0 merely by memorising labels.
    """
    yy = np.asarray(y, dtype=np.int8)
    if len(yy) == 0:
        return float("nan")
    if _is_categorical(x):
        labels = _category_labels(x).to_numpy()
        rng = np.random.default_rng(seed)
        fold = rng.integers(0, 2, len(yy))
        prior = float(yy.mean())
        score = np.full(len(yy), prior)
        for f in (0, 1):
            train = fold != f
            stats = (
                pd.DataFrame({"c": labels[train], "y": yy[train]})
                .groupby("c")["y"]
                .agg(["sum", "count"])
            )
            rate = (stats["sum"] + prior) / (stats["count"] + 1.0)
            score[~train] = pd.Series(labels[~train]).map(rate).fillna(prior).to_numpy()
        strength = _rank_auc(score, yy)
        return max(strength, 1 - strength)
    v = pd.to_numeric(x, errors="coerce").to_numpy(np.float64)
    nan = np.isnan(v)
    best = float("nan")
    for fill in (-np.inf, np.inf) if nan.any() else (0.0,):
        value = _rank_auc(np.where(nan, fill, v), yy)
        strength = max(value, 1 - value)
        best = strength if np.isnan(best) else max(best, strength)
    return best


def _auc_sign(x: pd.Series, y: np.ndarray) -> int:
    """+1 when larger values go with defaults (on non-missing rows), -1 the reverse, 0 n/a."""
    if _is_categorical(x):
        return 0
    v = pd.to_numeric(x, errors="coerce").to_numpy(np.float64)
    ok = ~np.isnan(v)
    if not ok.any():
        return 0
    value = _rank_auc(v[ok], y[ok])
    if np.isnan(value) or abs(value - 0.5) < 0.01:
        return 0
    return 1 if value > 0.5 else -1


def _numeric_edges(v: np.ndarray, bins: int) -> np.ndarray:
    """Upper bin edges: each value its own bin when there are few, else quantiles.

    Bins are (e[i-1], e[i]] so a point mass at the minimum (zero dpd, zero overdue) keeps its
    own bin instead of being merged with the small positive values.
    """
    finite = v[np.isfinite(v)]
    if len(finite) == 0:
        return np.array([])
    distinct = np.unique(finite)
    if len(distinct) <= bins:
        return distinct[:-1]
    return np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[:-1]))


def _bin_codes(x: pd.Series, edges: np.ndarray | None, cats: list[str] | None) -> np.ndarray:
    """Bin index per row; missing gets its own bin (-1), unseen categories go to OTHER."""
    if cats is not None:
        labels = _category_labels(x)
        lookup = {c: i for i, c in enumerate(cats)}
        other = lookup.get(OTHER, len(cats))
        codes = np.array(labels.map(lookup).fillna(other).to_numpy(np.int64), copy=True)
        codes[labels.to_numpy() == MISSING] = -1
        return codes
    v = pd.to_numeric(x, errors="coerce").to_numpy(np.float64)
    codes = np.searchsorted(edges, v, side="left").astype(np.int64)
    codes[np.isnan(v)] = -1
    return codes


def _binning(x: pd.Series, bins: int, max_categories: int = 20):
    if _is_categorical(x):
        counts = _category_labels(x).value_counts()
        counts = counts[counts.index != MISSING]
        cats = list(counts.index[:max_categories])
        if len(counts) > max_categories:
            cats.append(OTHER)
        return None, cats
    return _numeric_edges(pd.to_numeric(x, errors="coerce").to_numpy(np.float64), bins), None


def information_value(x: pd.Series, y: pd.Series | np.ndarray, bins: int = 10) -> float:
    """IV over quantile bins (categories for text), missing as its own bin, 0.5-smoothed WoE."""
    yy = np.asarray(y, dtype=np.int8)
    if len(yy) == 0 or yy.min() == yy.max():
        return float("nan")
    edges, cats = _binning(x, bins)
    codes = _bin_codes(x, edges, cats)
    table = pd.DataFrame({"b": codes, "y": yy}).groupby("b")["y"].agg(["sum", "count"])
    bad = table["sum"].to_numpy(np.float64) + 0.5
    good = (table["count"] - table["sum"]).to_numpy(np.float64) + 0.5
    pb, pg = bad / bad.sum(), good / good.sum()
    return float(np.sum((pg - pb) * np.log(pg / pb)))


def population_stability(reference: pd.Series, current: pd.Series, bins: int = 10) -> float:
    """PSI of `current` against `reference`: `core.stats`' bins and formula, plus a missing bin.

    Numeric: the reference's deciles (`stats.decile_edges`), as for score PSI. Text: the
    reference's most frequent categories, the rest as one "other" bin. Missing values get a bin
    of their own when either side has any, so a change in missingness counts as a shift.
    """
    if len(reference) == 0 or len(current) == 0:
        return float("nan")
    if _is_categorical(reference):
        _, cats = _binning(reference, bins)
        ref_codes = _bin_codes(reference, None, cats)
        cur_codes = _bin_codes(current, None, cats)
        n_codes = len(cats) + 1  # + OTHER when the reference had no rare categories
    else:
        ref_values = pd.to_numeric(reference, errors="coerce").to_numpy(np.float64)
        cur_values = pd.to_numeric(current, errors="coerce").to_numpy(np.float64)
        present = ref_values[~np.isnan(ref_values)]
        edges = decile_edges(present, bins) if present.size else np.array([])
        ref_codes, cur_codes = bin_index(ref_values, edges), bin_index(cur_values, edges)
        ref_codes[np.isnan(ref_values)] = -1
        cur_codes[np.isnan(cur_values)] = -1
        n_codes = edges.size + 1
    missing = (ref_codes == -1).any() or (cur_codes == -1).any()
    if missing:  # missing as the last bin
        ref_codes = np.where(ref_codes == -1, n_codes, ref_codes)
        cur_codes = np.where(cur_codes == -1, n_codes, cur_codes)
        n_codes += 1
    return psi_from_shares(bin_shares(ref_codes, n_codes), bin_shares(cur_codes, n_codes))


class Columns(Protocol):
    """What the report reads of a table: a column by name (a DataFrame, or `build.ColumnView`
    over an Arrow table, which converts one column at a time)."""

    def __getitem__(self, name: str) -> pd.Series: ...


def data_quality_report(
    frame: Columns,
    catalogue: Catalogue,
    reference: np.ndarray,
    comparison: np.ndarray | None,
    label: str = "default",
    seed: int = 0,
) -> pd.DataFrame:
    """One row per model feature, strongest single feature (AUC) first.

    `reference` marks the training rows (AUC and IV use its labelled rows); PSI compares them with
    the `comparison` rows (current book or test split).
    """
    ref = np.asarray(reference, dtype=bool)
    cmp_ = None if comparison is None else np.asarray(comparison, dtype=bool)
    y_all = frame[label]
    labelled = ref & y_all.notna().to_numpy()
    y = y_all[labelled].astype(np.int8).to_numpy()
    rows = []
    for spec in catalogue.features:
        col = frame[spec.name]
        x = col[labelled]
        rows.append(
            {
                "feature": spec.name,
                "dtype": spec.dtype,
                "direction": spec.direction,
                "observed_direction": _auc_sign(x, y),
                "missing_rate": float(col.isna().mean()),
                "distinct": int(col.nunique(dropna=True)),
                "iv": information_value(x, y),
                "auc": single_feature_auc(x, y, seed=seed),
                "psi": (
                    population_stability(col[ref], col[cmp_])
                    if cmp_ is not None and cmp_.any()
                    else float("nan")
                ),
                "train_rows": int(len(y)),
                "train_defaults": int(y.sum()),
            }
        )
    report = pd.DataFrame(rows)
    if len(report):
        report = report.sort_values("auc", ascending=False, na_position="last", kind="stable")
    return report.reset_index(drop=True)


def post_outcome_name(name: str) -> str | None:
    """What a feature's name suggests was recorded after the outcome, or None."""
    flat = str(name).lower().replace(" ", "_").replace("-", "_")
    for pattern, meaning in POST_OUTCOME_NAME_PATTERNS:
        if re.search(pattern, flat):
            return f"name suggests post-outcome data: {meaning}"
    return None


def flag_leak_suspects(
    report: pd.DataFrame,
    threshold: float,
    allowed: Sequence[str] = (),
    *,
    by_name_and_iv: bool = True,
) -> pd.DataFrame:
    """`report` with `leak_suspect`, `leak_reason` and `leak_acknowledged` columns.

    A suspect: AUC above `threshold` (the stop of `check_leakage`), IV above `SUSPECT_IV`, or a
    name matching `POST_OUTCOME_NAME_PATTERNS` (the last two with `by_name_and_iv`, for a user's
    table; the built-in book's features are point-in-time by construction). Suspects short of
    the stop are logged as warnings: together they can lift AUC a lot while none alone reaches
    it. A suspect in `allowed` (features.allow_leaky_features) stays, marked acknowledged.
    """
    out = report.copy()
    reasons: list[str] = []
    for row in out.itertuples():
        why = []
        if row.auc > threshold:
            why.append(f"AUC {row.auc:.3f} above features.leakage_auc_threshold={threshold}")
        if by_name_and_iv:
            if row.iv > SUSPECT_IV:
                why.append(f"IV {row.iv:.2f} above {SUSPECT_IV}")
            named = post_outcome_name(row.feature)
            if named:
                why.append(named)
        reasons.append("; ".join(why))
    out["leak_suspect"] = [bool(r) for r in reasons]
    out["leak_reason"] = pd.Series([r or None for r in reasons], index=out.index, dtype=object)
    out["leak_acknowledged"] = out["leak_suspect"] & out["feature"].isin(set(allowed))
    for row in out[out["leak_suspect"]].itertuples():
        if row.auc <= threshold:
            log.warning(
                "leak suspect %r%s: %s",
                row.feature,
                " (acknowledged in features.allow_leaky_features)" if row.leak_acknowledged else "",
                row.leak_reason,
            )
    return out


def check_leakage(report: pd.DataFrame, threshold: float, allowed: Sequence[str] = ()) -> list[str]:
    """Raise LeakageError for features above `threshold` AUC not in `allowed`.

    Returns the allowed features that exceeded it (logged as warnings) so callers can record them.
    On a table with too few labelled training rows (`MIN_LEAKAGE_ROWS`, `MIN_LEAKAGE_CLASS`)
    a feature over the threshold raises `TooFewRowsError` instead: there it proves nothing.
    """
    over = report[report["auc"] > threshold]
    if len(over) and "train_rows" in report:
        rows, defaults = int(report["train_rows"].iloc[0]), int(report["train_defaults"].iloc[0])
        if rows < MIN_LEAKAGE_ROWS or min(defaults, rows - defaults) < MIN_LEAKAGE_CLASS:
            strongest = {r.feature: float(r.auc) for r in over.head(3).itertuples()}
            raise TooFewRowsError(rows, defaults, strongest)
    leaks = {r.feature: float(r.auc) for r in over.itertuples() if r.feature not in set(allowed)}
    waived = [f for f in over["feature"] if f in set(allowed)]
    for f in waived:
        log.warning("feature %r exceeds the leakage AUC threshold but is allowed in params", f)
    if leaks:
        raise LeakageError(leaks, threshold)
    return waived

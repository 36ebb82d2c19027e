"""Reason codes: the factors that pushed an account's risk up, as sentences a customer can read.

Under PIPL Art. 24 an individual may ask for an explanation of a decision made by automated means
that significantly affects them (and may refuse a decision made solely by automated means). The
reasons are that explanation: the factors the model actually scored, specific, up to `top_k`.

A reason is a FAMILY of features (delinquency history, repayment behaviour, utilisation, ...)
whose summed SHAP contribution is positive: together they raised the log-odds of default above
the model's base value, the average raw score of the training data the TreeSHAP base value comes
from (`reference_note` words that comparison point). Families are ranked by that sum, each gives
at most one reason, and the reason is worded from the family's strongest feature (its largest
positive contribution) with the account's value. Features or families marked `adverse: false`
(the lender's own decisions, self-declared data, geography) count in the score but are never
reasons. Families and wording come from the reason dictionary
(`models.explain.reason_dictionary`, configs/reasons.yaml); this module ranks. Protected
attributes are never reasons: they are not model inputs, and any catalogue `protected` name is
filtered out here as a second line.

`reason_codes` works on any number of rows, so the served model can call it on one account; a
caller scoring many requests can build `family_layout` once and pass it in. A request of a few
rows that holds its model matrix rather than a model frame takes `matrix_reasons_wide`: the
same ranking and wording, straight into reason_1..reason_k.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.catalogue import Catalogue
from models.explain.reason_dictionary import (
    PROTECTED_PREFIX,
    ReasonDictionary,
    format_value,
    protected_names,
    sentence_for_entry,
)

log = logging.getLogger(__name__)

REASON_COLUMNS = ["row", "rank", "family", "feature", "value", "contribution", "text"]
_WARNED: set[tuple[str, ...]] = set()


def eligible_features(feature_names: list[str], catalogue: Catalogue) -> np.ndarray:
    """Boolean mask of features allowed as reasons: model inputs that are not protected."""
    banned = protected_names(catalogue)
    model = set(catalogue.model_columns)
    mask = np.array(
        [
            f in model and f not in banned and not f.startswith(PROTECTED_PREFIX)
            for f in feature_names
        ],
        dtype=bool,
    )
    leaked = [f for f in feature_names if f in model and f in banned]
    if leaked and tuple(leaked) not in _WARNED:
        _WARNED.add(tuple(leaked))  # once per process: the served model calls this per request
        log.warning("protected attribute(s) %s are model inputs; excluded from reasons", leaked)
    return mask


@dataclass(frozen=True)
class FamilyLayout:
    """Which family each model column belongs to: `codes[j]` indexes `names`; -1 = never a
    reason (protected, not a model input, or not adverse)."""

    names: tuple[str, ...]
    codes: np.ndarray

    def __post_init__(self) -> None:
        if self.codes.ndim != 1 or (self.codes.size and self.codes.max() >= len(self.names)):
            raise ValueError("codes must be a vector of indexes into names (or -1)")


def family_layout(
    feature_names: list[str], catalogue: Catalogue, dictionary: ReasonDictionary
) -> FamilyLayout:
    """The family of each column; a feature the dictionary gives no family is its own family.

    Depends only on the columns, catalogue and dictionary: a caller scoring many requests can
    build it once and pass it to `reason_codes`.
    """
    key = (tuple(feature_names), tuple(catalogue.model_columns), tuple(catalogue.protected))
    cached = dictionary._layouts.get(key)
    if cached is not None:
        return cached
    mask = eligible_features(feature_names, catalogue)
    names: list[str] = []
    codes = np.full(len(feature_names), -1, dtype=np.int64)
    for j, f in enumerate(feature_names):
        if not mask[j] or not dictionary.adverse(f):
            continue
        fam = dictionary.family_of(f) or f
        if fam not in names:
            names.append(fam)
        codes[j] = names.index(fam)
    codes.setflags(write=False)
    layout = FamilyLayout(names=tuple(names), codes=codes)
    if len(dictionary._layouts) < 64:
        dictionary._layouts[key] = layout
    return layout


def aggregate_families(contribs: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row and family: the summed contribution and the column of its strongest member.

    `codes[j]` is column j's family (0..F-1, -1 = left out). The strongest member is the one with
    the largest contribution (the first column on a tie). Returns (sums, strongest), both (n, F).
    """
    c = np.asarray(contribs, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.int64)
    if c.ndim != 2 or codes.shape != (c.shape[1],):
        raise ValueError(f"contribs {c.shape} and family codes {codes.shape} do not align")
    n_fam = int(codes.max()) + 1 if codes.size else 0
    sums = np.zeros((c.shape[0], n_fam), dtype=np.float64)
    strongest = np.zeros((c.shape[0], n_fam), dtype=np.int64)
    for f in range(n_fam):
        members = np.flatnonzero(codes == f)
        if members.size == 0:
            strongest[:, f] = -1
            sums[:, f] = -np.inf  # an empty family is never a reason
            continue
        block = c[:, members]
        sums[:, f] = block.sum(axis=1)
        strongest[:, f] = members[np.argmax(block, axis=1)]
    return sums, strongest


def top_positive(
    contribs: np.ndarray, mask: np.ndarray, top_k: int, min_contribution: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, column and rank of the top-k strictly positive eligible contributions per row."""
    c = np.asarray(contribs, dtype=np.float64)
    n, p = c.shape
    k = min(top_k, p)
    if n == 0 or k == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    masked = np.where(mask[None, :], c, -np.inf)
    if k < p:
        part = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(p), (n, 1))
    # order each row by contribution (descending), ties by column position, deterministically
    part = np.take_along_axis(part, np.argsort(part, axis=1), axis=1)
    vals = np.take_along_axis(masked, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    cols = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    keep = vals > min_contribution
    rows = np.repeat(np.arange(n), k).reshape(n, k)
    ranks = np.tile(np.arange(1, k + 1), (n, 1))
    return rows[keep], cols[keep], ranks[keep]


def top_families(
    contribs: np.ndarray, codes: np.ndarray, top_k: int, min_contribution: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row, family, rank, strongest column and family contribution of each reason: the top-k
    families by summed contribution, strictly above `min_contribution`, one reason per family."""
    sums, strongest = aggregate_families(contribs, codes)
    rows, fams, ranks = top_positive(
        sums, np.ones(sums.shape[1], dtype=bool), top_k, min_contribution
    )
    return rows, fams, ranks, strongest[rows, fams], sums[rows, fams]


def reason_codes(
    contribs: np.ndarray,
    X: pd.DataFrame,
    catalogue: Catalogue,
    dictionary: ReasonDictionary,
    top_k: int,
    min_contribution: float = 0.0,
    layout: FamilyLayout | None = None,
) -> pd.DataFrame:
    """Long table of reasons: row (X's index label), rank, family, feature, value, contribution
    (the family's summed SHAP value) and text (the strongest feature's sentence and value).

    `contribs` are the SHAP values (n, features) aligned with `X`'s columns (the model frame);
    only families with a positive summed contribution count, so an account with nothing pushing
    its risk up gets no reason rather than a misleading one. At most one reason per family; a
    non-adverse feature or family is never a reason.
    """
    c = _checked_contribs(contribs, X.shape, top_k, min_contribution)
    names = list(X.columns)
    layout = _layout_for(layout, names, catalogue, dictionary)
    rows, fams, ranks, cols, sums = top_families(c, layout.codes, top_k, min_contribution)
    specs = {s.name: s for s in catalogue.features}
    values = np.empty(len(rows), dtype=object)
    texts = np.empty(len(rows), dtype=object)
    for j in np.unique(cols):
        sel = np.flatnonzero(cols == j)
        spec = specs[names[j]]
        values[sel], texts[sel] = _column_reasons(X.iloc[rows[sel], j], spec, dictionary)
    empty = len(rows) == 0
    out = pd.DataFrame(
        {
            "row": X.index.to_numpy()[rows] if len(rows) else X.index.to_numpy()[:0],
            "rank": ranks.astype(np.int8),
            "family": pd.array(np.asarray(layout.names + ("",), dtype=object)[fams], dtype="str"),
            "feature": np.asarray(names, dtype=object)[cols],
            "value": pd.array([] if empty else values, dtype="str"),
            "contribution": sums.astype(np.float64),
            "text": pd.array([] if empty else texts, dtype="str"),
        }
    )
    return out.reset_index(drop=True)


def _checked_contribs(
    contribs: np.ndarray, shape: tuple[int, ...], top_k: int, min_contribution: float
) -> np.ndarray:
    """The SHAP values as an array, refused (ValueError) when they or the options are unusable."""
    if top_k < 1:
        raise ValueError("top_k must be >= 1")
    if min_contribution < 0:
        raise ValueError("min_contribution must be >= 0: only risk-raising features are reasons")
    c = np.asarray(contribs)
    if c.ndim != 2 or c.shape != shape:
        raise ValueError(f"contribs shape {c.shape} does not match X {shape}")
    return c


def _layout_for(
    layout: FamilyLayout | None,
    names: list[str],
    catalogue: Catalogue,
    dictionary: ReasonDictionary,
) -> FamilyLayout:
    if layout is None:
        return family_layout(names, catalogue, dictionary)
    if layout.codes.shape != (len(names),):
        raise ValueError("family layout was built for other columns")
    return layout


def _column_reasons(
    col: pd.Series | np.ndarray, spec: Any, dictionary: ReasonDictionary, shown: bool = True
) -> tuple[np.ndarray | None, np.ndarray]:
    """Shown value (None unless `shown`) and sentence for each entry of one feature column: a model
    frame's column, or the same values as an array (floats, or category labels with None).

    Each distinct value is formatted once (`pd.factorize`), then the results are gathered by code:
    the Python work grows with the number of distinct values a feature takes among the accounts it
    is a reason for, not with the number of accounts (counts, days past due and categories have a
    few dozen values at any book size).
    """
    categorical = spec.dtype == "category"
    hit = dictionary.lookup(spec.name)
    if isinstance(col, np.ndarray) and len(col) == 1:  # one value (a one-row request): itself
        value = col.tolist()[0]
        if value is not None and value != value:  # NaN: missing, as `pd.factorize` reads it
            value = None
        said = np.array(
            [sentence_for_entry(hit, spec.name, value, spec.direction, categorical)], dtype=object
        )
        return (np.array([format_value(value)], dtype=object) if shown else None), said
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    if isinstance(uniques, np.ndarray):  # an array's floats or labels: plain values already
        distinct = uniques.tolist()
    else:
        distinct = pd.Series(uniques).astype("object").tolist()
    if (codes < 0).any():
        distinct.append(None)  # last slot: missing
        codes = np.where(codes < 0, len(distinct) - 1, codes)
    said = np.array(
        [sentence_for_entry(hit, spec.name, v, spec.direction, categorical) for v in distinct],
        dtype=object,
    )
    if not shown:
        return None, said[codes]
    return np.array([format_value(v) for v in distinct], dtype=object)[codes], said[codes]


def matrix_reasons_wide(
    contribs: np.ndarray,
    matrix: np.ndarray,
    catalogue: Catalogue,
    dictionary: ReasonDictionary,
    top_k: int,
    min_contribution: float = 0.0,
    layout: FamilyLayout | None = None,
) -> dict[str, np.ndarray]:
    """`reasons_wide(reason_codes(contribs, X, ...), top_k)` for the rows of `matrix`, X's model
    matrix (`core.catalogue.model_matrix` or `direct_model_matrix`), without the model frame.

    The served model's path for a small request. The same families, ranks and sentences: the
    value a sentence shows is the one `reason_codes` shows (the float, the category's label, None
    when missing), read from the matrix. Returns reason_1..reason_k as object arrays, one entry
    per row, None where a row has fewer reasons.
    """
    names = catalogue.model_columns
    c = _checked_contribs(contribs, matrix.shape, top_k, min_contribution)
    layout = _layout_for(layout, names, catalogue, dictionary)
    rows, _, ranks, cols, _ = top_families(c, layout.codes, top_k, min_contribution)
    texts = np.empty(len(rows), dtype=object)
    by_column: dict[int, list[int]] = {}  # a few reasons: grouped in Python, not by np.unique
    for k, j in enumerate(cols.tolist()):
        by_column.setdefault(j, []).append(k)
    row_of = rows.tolist()
    for j, at in by_column.items():
        spec = catalogue.features[j]
        values = matrix[[row_of[k] for k in at], j]
        if spec.dtype == "category":  # codes -> labels, NaN -> None (a model frame's values)
            labels = np.array([*(spec.categories or ()), None], dtype=object)
            values = labels[np.where(np.isnan(values), len(labels) - 1, values).astype(np.int64)]
        _, texts[at] = _column_reasons(values, spec, dictionary, shown=False)
    wide = np.full((top_k, len(matrix)), None, dtype=object)
    wide[ranks - 1, rows] = texts
    return {f"reason_{r}": wide[r - 1] for r in range(1, top_k + 1)}


def reasons_wide(reasons: pd.DataFrame, top_k: int, index: pd.Index | None = None) -> pd.DataFrame:
    """reason_1..reason_k text columns per row (missing where an account has fewer reasons)."""
    wide = reasons.pivot(index="row", columns="rank", values="text")
    wide = wide.reindex(columns=range(1, top_k + 1))
    wide.columns = [f"reason_{r}" for r in wide.columns]
    if index is not None:
        wide = wide.reindex(index)
    wide.index.name = None
    return wide


def reason_distribution(reasons: pd.DataFrame, rank: int | None = 1) -> pd.DataFrame:
    """How often each feature is a reason (rank 1 by default): feature, accounts, share."""
    sub = reasons if rank is None else reasons[reasons["rank"] == rank]
    counts = sub["feature"].value_counts()
    total = int(counts.sum())
    return pd.DataFrame(
        {
            "feature": counts.index.astype(str),
            "accounts": counts.to_numpy(dtype=np.int64),
            "share": counts.to_numpy(dtype=np.float64) / total if total else 0.0,
        }
    ).reset_index(drop=True)


__all__ = [
    "REASON_COLUMNS",
    "FamilyLayout",
    "aggregate_families",
    "eligible_features",
    "family_layout",
    "matrix_reasons_wide",
    "reason_codes",
    "reason_distribution",
    "reasons_wide",
    "top_families",
    "top_positive",
]

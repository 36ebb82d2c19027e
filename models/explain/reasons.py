"""Reason codes: the features that pushed an account's risk up, as sentences a customer can read.

Adverse-action practice (ECOA / Regulation B, FCRA key factors) asks for the factors actually
scored, specific, usually up to four. Here a reason is a feature with a positive SHAP contribution
(it raised the log-odds of default above the model's base value), ranked by that contribution.
Wording lives in a reason dictionary kept as data (configs/reasons.yaml), so compliance can edit
sentences without touching code:

    max_dpd_{w}m:                       # `{w}` matches digits in the feature name
      text: "Payments up to {value:.0f} days late in the last {w} months"
    first_time_delinquency:
      text: "First missed payment on the account"
      values: {0: "No current delinquency"}   # exact-value overrides
      missing: "Delinquency status unknown"   # when the value is missing

A plain string is shorthand for `{text: ...}`. Features without an entry get a generated phrase
from the name and the catalogue's risk direction. Protected attributes are never reasons: they are
not model inputs, and any catalogue `protected` name is filtered out here as a second line.

`reason_codes` works on any number of rows, so the served model can call it on one account.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.catalogue import Catalogue
from features.errors import ConfigError

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "protected__"
REASON_COLUMNS = ["row", "rank", "feature", "value", "contribution", "text"]
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_WARNED: set[tuple[str, ...]] = set()
_WORDS = {"dpd": "days past due", "pct": "percent", "amt": "amount"}


@dataclass(frozen=True)
class ReasonEntry:
    """One dictionary entry: a sentence template, exact-value overrides and a missing sentence."""

    key: str
    text: str
    values: dict[float | str, str] = field(default_factory=dict)
    missing: str | None = None


@dataclass(frozen=True)
class ReasonDictionary:
    """Feature name (or `{w}`-style pattern) -> entry; exact names win over patterns."""

    entries: dict[str, ReasonEntry]
    source: str = "reasons"

    def lookup(self, feature: str) -> tuple[ReasonEntry, dict[str, str]] | None:
        """The entry for a feature and the values captured from its name by a pattern key."""
        if feature in self.entries:
            return self.entries[feature], {}
        for key, entry in self.entries.items():
            if "{" not in key:
                continue
            m = _pattern(key).fullmatch(feature)
            if m:
                return entry, m.groupdict()
        return None


@functools.lru_cache(maxsize=1024)
def _pattern(key: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(key)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>\\d+)" for i, p in enumerate(parts))
    return re.compile(regex)


def _entry(key: str, raw: Any, source: str) -> ReasonEntry:
    if isinstance(raw, str):
        raw = {"text": raw}
    if not isinstance(raw, Mapping) or not isinstance(raw.get("text"), str) or not raw["text"]:
        raise ConfigError(
            key, "must be a sentence or a mapping with a non-empty 'text'", raw, source
        )
    unknown = set(raw) - {"text", "values", "missing"}
    if unknown:
        raise ConfigError(key, f"has unknown field(s) {sorted(unknown)}", None, source)
    values = raw.get("values") or {}
    if not isinstance(values, Mapping) or not all(isinstance(v, str) for v in values.values()):
        raise ConfigError(f"{key}.values", "must map values to sentences", values, source)
    missing = raw.get("missing")
    if missing is not None and not isinstance(missing, str):
        raise ConfigError(f"{key}.missing", "must be a sentence", missing, source)
    keyed: dict[float | str, str] = {}
    for k, v in values.items():
        keyed[_value_key(k)] = v
    return ReasonEntry(key=key, text=raw["text"], values=keyed, missing=missing)


def _value_key(v: Any) -> float | str:
    """Dictionary value keys: numbers compare as floats (1 == 1.0), everything else as text."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float | np.integer | np.floating):
        return float(v)
    return str(v)


def parse_reason_dictionary(data: Any, source: str = "reasons") -> ReasonDictionary:
    """Validate a loaded mapping into a ReasonDictionary (ConfigError names the bad key)."""
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(
            "reasons", "must be a non-empty mapping of feature -> sentence", None, source
        )
    entries = {}
    for key, raw in data.items():
        if not isinstance(key, str) or not re.fullmatch(r"[\w{}]+", key):
            raise ConfigError(str(key), "is not a feature name or {w}-pattern", None, source)
        entries[key] = _entry(key, raw, source)
    return ReasonDictionary(entries=entries, source=source)


def load_reason_dictionary(path: str | Path) -> ReasonDictionary:
    """Read the YAML reason dictionary."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise ConfigError("explain.reasons", f"file not found at {p}", None, "params.yaml")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError("reasons", f"is not valid YAML: {exc}", None, str(p)) from None
    return parse_reason_dictionary(data, source=str(p))


def protected_names(catalogue: Catalogue) -> set[str]:
    """Every spelling of the catalogue's protected attributes (with and without the prefix)."""
    names: set[str] = set()
    for name in catalogue.protected:
        bare = name[len(PROTECTED_PREFIX) :] if name.startswith(PROTECTED_PREFIX) else name
        names |= {bare, PROTECTED_PREFIX + bare}
    return names


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


def humanise(name: str) -> str:
    """`max_dpd_6m` -> 'max days past due 6 months'."""
    words = []
    for w in name.split("_"):
        m = re.fullmatch(r"(\d+)m", w)
        words.append(f"{m.group(1)} months" if m else _WORDS.get(w, w))
    return " ".join(words)


def format_value(value: Any) -> str:
    """The value as shown in the `value` column: compact numbers, category labels, 'missing'."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "missing"
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        v = float(value)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.4g}"
    return str(value)


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def fallback_text(feature: str, value: Any, direction: int, categorical: bool) -> str:
    """A generated phrase for a feature without a dictionary entry."""
    words = humanise(feature)
    shown = format_value(value)
    if _is_missing(value):
        return f"{words.capitalize()} not available"
    if categorical or direction == 0:
        return f"{words.capitalize()}: {shown}"
    level = "High" if direction > 0 else "Low"
    return f"{level} value of {words} ({shown})"


def render(
    entry: ReasonEntry, captured: Mapping[str, str], value: Any, categorical: bool = False
) -> str:
    """Fill an entry's template with the value; raises ValueError/KeyError on a bad template."""
    if _is_missing(value):
        if entry.missing is not None:
            return entry.missing.format(**captured)
        raise ValueError("missing value and no 'missing' sentence")
    key = _value_key(value) if not categorical else str(value)
    if key in entry.values:
        return entry.values[key].format(value=value, **captured)
    if categorical:
        value = str(value)
    return entry.text.format(value=value, **captured)


def sentence(
    feature: str,
    value: Any,
    dictionary: ReasonDictionary,
    direction: int = 0,
    categorical: bool = False,
) -> str:
    """The reason sentence for one feature value: dictionary entry, else a generated phrase."""
    return _sentence(dictionary.lookup(feature), feature, value, direction, categorical)


def _sentence(
    hit: tuple[ReasonEntry, dict[str, str]] | None,
    feature: str,
    value: Any,
    direction: int,
    categorical: bool,
) -> str:
    """`sentence` with the dictionary lookup already done (once per feature, not per row)."""
    if hit is not None:
        entry, captured = hit
        try:
            return render(entry, captured, value, categorical)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            if not _is_missing(value):
                log.warning(
                    "reason template for %s failed on %r (%s); using fallback", feature, value, exc
                )
    return fallback_text(feature, value, direction, categorical)


def validate_dictionary(dictionary: ReasonDictionary, catalogue: Catalogue) -> list[str]:
    """Check every entry that applies to a model feature renders on a typical value.

    Raises ConfigError for a template that cannot render (a typo would otherwise only show up as
    fallback phrases in production); returns the model features without an entry (logged).
    """
    for spec in catalogue.features:
        hit = dictionary.lookup(spec.name)
        if hit is None:
            continue
        entry, captured = hit
        categorical = spec.dtype == "category"
        sample: Any = (spec.categories or ["x"])[0] if categorical else 1.5
        try:
            render(entry, captured, sample, categorical)
            if entry.missing is not None:
                entry.missing.format(**captured)
            for text in entry.values.values():
                text.format(value=sample, **captured)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ConfigError(
                entry.key,
                f"template does not render for feature '{spec.name}' ({type(exc).__name__}: {exc})",
                entry.text,
                dictionary.source,
            ) from None
    uncovered = [s.name for s in catalogue.features if dictionary.lookup(s.name) is None]
    if uncovered:
        log.info("no reason sentence for %s: generated phrases will be used", uncovered)
    return uncovered


def top_positive(
    contribs: np.ndarray, mask: np.ndarray, top_k: int, min_contribution: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, feature and rank of the top-k strictly positive eligible contributions per row."""
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


def reason_codes(
    contribs: np.ndarray,
    X: pd.DataFrame,
    catalogue: Catalogue,
    dictionary: ReasonDictionary,
    top_k: int,
    min_contribution: float = 0.0,
) -> pd.DataFrame:
    """Long table of reasons: row (X's index label), rank, feature, value, contribution, text.

    `contribs` are the SHAP values (n, features) aligned with `X`'s columns (the model frame);
    only positive contributions count, so an account with nothing pushing its risk up gets no
    reason rather than a misleading one.
    """
    if top_k < 1:
        raise ValueError("top_k must be >= 1")
    if min_contribution < 0:
        raise ValueError("min_contribution must be >= 0: only risk-raising features are reasons")
    c = np.asarray(contribs)
    if c.ndim != 2 or c.shape != X.shape:
        raise ValueError(f"contribs shape {c.shape} does not match X {X.shape}")
    names = list(X.columns)
    mask = eligible_features(names, catalogue)
    rows, cols, ranks = top_positive(c, mask, top_k, min_contribution)
    specs = {s.name: s for s in catalogue.features}
    values = np.empty(len(rows), dtype=object)
    texts = np.empty(len(rows), dtype=object)
    for j in np.unique(cols):
        sel = np.flatnonzero(cols == j)
        spec = specs[names[j]]
        values[sel], texts[sel] = _column_reasons(X.iloc[rows[sel], j], spec, dictionary)
    out = pd.DataFrame(
        {
            "row": X.index.to_numpy()[rows] if len(rows) else X.index.to_numpy()[:0],
            "rank": ranks.astype(np.int8),
            "feature": np.asarray(names, dtype=object)[cols],
            "value": pd.array(values, dtype="str") if len(rows) else pd.array([], dtype="str"),
            "contribution": c[rows, cols].astype(np.float64),
            "text": pd.array(texts, dtype="str") if len(rows) else pd.array([], dtype="str"),
        }
    )
    return out.reset_index(drop=True)


def _column_reasons(
    col: pd.Series, spec: Any, dictionary: ReasonDictionary
) -> tuple[np.ndarray, np.ndarray]:
    """Shown value and sentence for each entry of one feature column.

    Each distinct value is formatted once (`pd.factorize`), then the results are gathered by code:
    the Python work grows with the number of distinct values a feature takes among the accounts it
    is a reason for, not with the number of accounts (counts, days past due and categories have a
    few dozen values at any book size).
    """
    categorical = spec.dtype == "category"
    hit = dictionary.lookup(spec.name)
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    distinct = pd.Series(uniques).astype("object").tolist() + [None]  # last slot: missing
    shown = np.array([format_value(v) for v in distinct], dtype=object)
    said = np.array(
        [_sentence(hit, spec.name, v, spec.direction, categorical) for v in distinct], dtype=object
    )
    codes = np.where(codes < 0, len(distinct) - 1, codes)
    return shown[codes], said[codes]


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
    "ReasonDictionary",
    "ReasonEntry",
    "eligible_features",
    "fallback_text",
    "format_value",
    "load_reason_dictionary",
    "parse_reason_dictionary",
    "reason_codes",
    "reason_distribution",
    "reasons_wide",
    "sentence",
    "validate_dictionary",
]

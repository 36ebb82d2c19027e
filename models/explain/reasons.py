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
reasons. Wording and families live in a reason dictionary kept as data (configs/reasons.yaml), so
compliance can edit them without touching code:

    reference: "Compared with ... (log-odds {base_value:.2f}, PD {base_pd:.2%})"
    families:
      delinquency:
        label: Delinquency history
        features:
          max_dpd_{w}m:                   # `{w}` matches digits in the feature name
            text: "Payments up to {value:.0f} days late in the last {w} months"
            values: {0: "No days past due in the last {w} months"}   # exact-value overrides
            missing: "Delinquency history unknown"                   # when the value is missing
      lender_decisions:
        label: Lender's own decisions
        adverse: false
        features: {credit_limit: "Credit limit of CNY {value:,.0f}"}

A plain string is shorthand for `{text: ...}`. A flat mapping of feature -> entry (no `families`)
is still read: each entry may then name its `family` and `adverse` itself. Loading a dictionary
checks that every feature of the built-in catalogue has a family (a ConfigError names the ones
without); a feature of another catalogue without a family is its own family. Features without a
sentence get a generated phrase from the name and the catalogue's risk direction. Protected
attributes are never reasons: they are not model inputs, and any catalogue `protected` name is
filtered out here as a second line.

`reason_codes` works on any number of rows, so the served model can call it on one account; a
caller scoring many requests can build `family_layout` once and pass it in.
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

from core.catalogue import Catalogue
from core.errors import ConfigError

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "protected__"
REASON_COLUMNS = ["row", "rank", "family", "feature", "value", "contribution", "text"]
BUILTIN_WINDOWS = (3, 6, 12)  # any windows: `{w}` keys match every window's feature names
_ENTRY_FIELDS = {"text", "values", "missing", "family", "adverse"}
_FAMILY_FIELDS = {"label", "adverse", "features"}
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
    family: str | None = None
    adverse: bool = True


@dataclass(frozen=True)
class Family:
    """A group of features that gives at most one reason; `adverse=False`: never a reason."""

    name: str
    label: str
    adverse: bool = True


@dataclass(frozen=True)
class ReasonDictionary:
    """Feature name (or `{w}`-style pattern) -> entry; exact names win over patterns."""

    entries: dict[str, ReasonEntry]
    source: str = "reasons"
    families: dict[str, Family] = field(default_factory=dict)
    reference: str | None = None
    _layouts: dict[tuple, FamilyLayout] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )  # family_layout per (columns, catalogue): the served model asks for the same one per call

    def family_of(self, feature: str) -> str | None:
        """The family a feature belongs to (None: not in the dictionary or no family given)."""
        hit = self.lookup(feature)
        return None if hit is None else hit[0].family

    def adverse(self, feature: str) -> bool:
        """Whether a feature may be given as a reason (its entry and its family allow it)."""
        hit = self.lookup(feature)
        if hit is None:
            return True
        entry = hit[0]
        fam = self.families.get(entry.family) if entry.family is not None else None
        return entry.adverse and (fam is None or fam.adverse)

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


def _entry(key: str, raw: Any, source: str, family: str | None = None) -> ReasonEntry:
    if isinstance(raw, str):
        raw = {"text": raw}
    if not isinstance(raw, Mapping) or not isinstance(raw.get("text"), str) or not raw["text"]:
        raise ConfigError(
            key, "must be a sentence or a mapping with a non-empty 'text'", raw, source
        )
    allowed = _ENTRY_FIELDS - ({"family"} if family is not None else set())
    unknown = set(raw) - allowed
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
    fam = raw.get("family", family)
    if fam is not None and not (isinstance(fam, str) and re.fullmatch(r"\w+", fam)):
        raise ConfigError(
            f"{key}.family", "must be a family name (letters, digits, _)", fam, source
        )
    adverse = raw.get("adverse", True)
    if not isinstance(adverse, bool):
        raise ConfigError(f"{key}.adverse", "must be true or false", adverse, source)
    return ReasonEntry(
        key=key, text=raw["text"], values=keyed, missing=missing, family=fam, adverse=adverse
    )


def _value_key(v: Any) -> float | str:
    """Dictionary value keys: numbers compare as floats (1 == 1.0), everything else as text."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float | np.integer | np.floating):
        return float(v)
    return str(v)


def parse_reason_dictionary(data: Any, source: str = "reasons") -> ReasonDictionary:
    """Validate a loaded mapping into a ReasonDictionary (ConfigError names the bad key).

    Two layouts: `{reference: ..., families: {name: {label, adverse, features: {...}}}}`, or a
    flat mapping of feature -> entry (entries may then name their own `family`).
    """
    if not isinstance(data, Mapping) or not data:
        raise ConfigError(
            "reasons", "must be a non-empty mapping of feature -> sentence", None, source
        )
    if "families" not in data:
        entries = {key: _entry(_key(key, source), raw, source) for key, raw in data.items()}
        families = {
            e.family: Family(e.family, humanise(e.family).capitalize())
            for e in entries.values()
            if e.family is not None
        }
        return ReasonDictionary(entries=entries, source=source, families=families)
    unknown = set(data) - {"families", "reference"}
    if unknown:
        raise ConfigError(
            "reasons", f"has unknown top-level key(s) {sorted(unknown)}", None, source
        )
    reference = data.get("reference")
    if reference is not None and not (isinstance(reference, str) and reference.strip()):
        raise ConfigError("reference", "must be a sentence", reference, source)
    if reference is not None:
        try:
            reference.format(base_value=-5.0, base_pd=0.0067)
        except (ValueError, KeyError, IndexError) as exc:
            raise ConfigError(
                "reference",
                f"does not render ({type(exc).__name__}: {exc}); use {{base_value}}, {{base_pd}}",
                reference,
                source,
            ) from None
    raw_families = data["families"]
    if not isinstance(raw_families, Mapping) or not raw_families:
        raise ConfigError("families", "must be a non-empty mapping of name -> family", None, source)
    entries: dict[str, ReasonEntry] = {}
    families: dict[str, Family] = {}
    for name, raw in raw_families.items():
        families[name] = _family(name, raw, source)
        for key, entry in raw["features"].items():
            key = _key(key, source, f"families.{name}.features")
            if key in entries:
                raise ConfigError(
                    f"families.{name}.features.{key}",
                    f"is already in family '{entries[key].family}': a feature has one family",
                    None,
                    source,
                )
            entries[key] = _entry(key, entry, source, family=name)
    return ReasonDictionary(
        entries=entries,
        source=source,
        families=families,
        reference=reference.strip() if reference else None,
    )


def _key(key: Any, source: str, where: str = "") -> str:
    if not isinstance(key, str) or not re.fullmatch(r"[\w{}]+", key):
        shown = f"{where}.{key}" if where else str(key)
        raise ConfigError(shown, "is not a feature name or {w}-pattern", None, source)
    return key


def _family(name: Any, raw: Any, source: str) -> Family:
    """One `families` entry's own fields (its features are read by the caller)."""
    if not isinstance(name, str) or not re.fullmatch(r"\w+", name):
        raise ConfigError(
            f"families.{name}", "is not a family name (letters, digits, _)", None, source
        )
    where = f"families.{name}"
    if not isinstance(raw, Mapping):
        raise ConfigError(where, "must be a mapping with 'label' and 'features'", raw, source)
    unknown = set(raw) - _FAMILY_FIELDS
    if unknown:
        raise ConfigError(where, f"has unknown field(s) {sorted(unknown)}", None, source)
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        raise ConfigError(f"{where}.label", "must be a non-empty name", label, source)
    adverse = raw.get("adverse", True)
    if not isinstance(adverse, bool):
        raise ConfigError(f"{where}.adverse", "must be true or false", adverse, source)
    feats = raw.get("features")
    if not isinstance(feats, Mapping) or not feats:
        raise ConfigError(f"{where}.features", "must map features to sentences", feats, source)
    return Family(name=name, label=label.strip(), adverse=adverse)


def load_reason_dictionary(
    path: str | Path, catalogue: Catalogue | None = None
) -> ReasonDictionary:
    """Read the YAML reason dictionary and check every feature of `catalogue` (default: the
    built-in behavioural catalogue) has a family."""
    import yaml

    p = Path(path)
    if not p.exists():
        raise ConfigError("explain.reasons", f"file not found at {p}", None, "params.yaml")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError("reasons", f"is not valid YAML: {exc}", None, str(p)) from None
    dictionary = parse_reason_dictionary(data, source=str(p))
    check_families(dictionary, builtin_catalogue() if catalogue is None else catalogue)
    return dictionary


def builtin_catalogue() -> Catalogue:
    """The catalogue the built-in behavioural feature stage produces."""
    from features.behavioural import behavioural_catalogue

    return behavioural_catalogue(BUILTIN_WINDOWS)


def check_families(dictionary: ReasonDictionary, catalogue: Catalogue) -> None:
    """Every model feature of `catalogue` must belong to a family (ConfigError names those
    that do not: a new feature must be placed in a family before it can be explained)."""
    banned = protected_names(catalogue)
    missing = [
        f for f in catalogue.model_columns if f not in banned and dictionary.family_of(f) is None
    ]
    if missing:
        raise ConfigError(
            "families",
            f"feature(s) {missing} have no reason family: add each under a family's `features`",
            None,
            dictionary.source,
        )


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
    alone = [f for f in catalogue.model_columns if dictionary.family_of(f) is None]
    if alone:
        log.warning("no reason family for %s: each is a family of its own", alone)
    return uncovered


def reference_note(dictionary: ReasonDictionary, base_value: float) -> str:
    """What every reason is compared with: the model's base value (the average raw score of the
    training data TreeSHAP takes it from), in the dictionary's words."""
    base_pd = float(1.0 / (1.0 + math.exp(-float(base_value))))
    template = dictionary.reference or (
        "Each reason is a factor that raised this account's estimated risk of default above the "
        "model's reference point: the average score of the accounts the model was trained on "
        "(log-odds {base_value:.2f}, which corresponds to a probability of default of "
        "{base_pd:.2%} on the model's uncalibrated scale)."
    )
    try:
        return template.format(base_value=float(base_value), base_pd=base_pd)
    except (ValueError, KeyError, IndexError) as exc:
        raise ConfigError(
            "reference", f"does not render ({exc})", template, dictionary.source
        ) from None


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
    if top_k < 1:
        raise ValueError("top_k must be >= 1")
    if min_contribution < 0:
        raise ValueError("min_contribution must be >= 0: only risk-raising features are reasons")
    c = np.asarray(contribs)
    if c.ndim != 2 or c.shape != X.shape:
        raise ValueError(f"contribs shape {c.shape} does not match X {X.shape}")
    names = list(X.columns)
    if layout is None:
        layout = family_layout(names, catalogue, dictionary)
    elif layout.codes.shape != (len(names),):
        raise ValueError("family layout was built for other columns")
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
    "Family",
    "FamilyLayout",
    "ReasonDictionary",
    "ReasonEntry",
    "aggregate_families",
    "check_families",
    "eligible_features",
    "family_layout",
    "fallback_text",
    "format_value",
    "load_reason_dictionary",
    "parse_reason_dictionary",
    "reason_codes",
    "reason_distribution",
    "reasons_wide",
    "reference_note",
    "top_families",
    "sentence",
    "validate_dictionary",
]

"""The reason dictionary: how each feature's reason is worded and which family it belongs to.

Wording and families live in a reason dictionary kept as data (configs/reasons.yaml), so
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
sentence get a generated phrase from the name and the catalogue's risk direction
(`fallback_text`). `reference_note` words what every reason is compared with (the model's base
value). Which features become an account's reasons is `models.explain.reasons`.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, FeatureSpec
from core.errors import ConfigError

if TYPE_CHECKING:
    from models.explain.reasons import FamilyLayout

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "protected__"
BUILTIN_WINDOWS = (3, 6, 12)  # any windows: `{w}` keys match every window's feature names
_ENTRY_FIELDS = {"text", "values", "missing", "family", "adverse"}
_FAMILY_FIELDS = {"label", "adverse", "features"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
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
    """The catalogue the built-in book's features stage produces: the behavioural features and
    the book's static account columns (`features.build.BUILT_IN_STATIC`: city tier, channel)."""
    import dataclasses

    from features.behavioural import behavioural_catalogue

    behavioural = behavioural_catalogue(BUILTIN_WINDOWS)
    static = [
        FeatureSpec("city_tier", "float", "City tier (a static account column).", ["city_tier"]),
        FeatureSpec(
            "channel", "category", "Acquisition channel (a static account column).", ["channel"]
        ),
    ]
    return dataclasses.replace(behavioural, features=[*behavioural.features, *static])


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
    return sentence_for_entry(dictionary.lookup(feature), feature, value, direction, categorical)


def sentence_for_entry(
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


__all__ = [
    "BUILTIN_WINDOWS",
    "PROTECTED_PREFIX",
    "Family",
    "ReasonDictionary",
    "ReasonEntry",
    "builtin_catalogue",
    "check_families",
    "fallback_text",
    "format_value",
    "humanise",
    "load_reason_dictionary",
    "parse_reason_dictionary",
    "protected_names",
    "reference_note",
    "render",
    "sentence",
    "sentence_for_entry",
    "validate_dictionary",
]

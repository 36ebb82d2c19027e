"""The collection policy as data: typed, validated once at load so the tier engine can trust it.

A policy has three parts:

* **tiers** (T0..Tn, ordered by intensity): channels, contact caps, offer, entry minima and the
  cure-rate / cost assumptions of the expected-value mode;
* **entry rules**: conjunctions of interval / flag / grade conditions on the account, each sending
  the account to one tier. Semantics: rules are tried in ascending ``priority``; the first that
  matches decides (list order breaks nothing: rules sharing a priority must be mutually exclusive,
  checked exactly, so their order cannot matter). Validation proves on the exact rule grid that
  every possible account matches some rule (no gap), that no two rules of one priority overlap,
  that every rule can decide some account, and that the tier never falls as ``monotone_in`` fields
  (default PD, days past due, overdue amount) rise;
* **guardrails**: hard limits applied after the rules and in every mode. Statutory ceilings are in
  code (``LEGAL_LIMITS``): a policy file may tighten them, never loosen them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import yaml

from features.errors import ConfigError

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------
# Vocabulary fixed in code: fields rules may read, channels a tier may use, statutory ceilings.
# ----------------------------------------------------------------------------------------------

FieldKind = Literal["number", "integer", "bool", "grade"]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: FieldKind
    lo: float = -math.inf  # domain, closed where finite
    hi: float = math.inf
    description: str = ""


FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in (
        FieldSpec("pd", "number", 0.0, 1.0, "calibrated probability of 90+ DPD within 6 months"),
        FieldSpec("score", "number", description="scorecard points (higher = safer)"),
        FieldSpec("days_past_due", "integer", 0.0, description="days past due at the book date"),
        FieldSpec("overdue_amount", "number", 0.0, description="unpaid minimum dues (currency)"),
        FieldSpec("outstanding_balance", "number", 0.0, description="balance owed (currency)"),
        FieldSpec("first_time_delinquency", "bool", description="first delinquency episode"),
        FieldSpec("dispute", "bool", description="the debt is disputed"),
        FieldSpec("hardship", "bool", description="declared financial hardship"),
        FieldSpec("opt_out", "bool", description="asked to stop non-written contact"),
        FieldSpec("deceased", "bool", description="the debtor has died"),
        FieldSpec("grade", "grade", description="master-scale grade"),
    )
}

ChannelKind = Literal["digital", "voice", "written", "field", "referral", "queue", "third_party"]


@dataclass(frozen=True)
class Channel:
    name: str
    kind: ChannelKind
    description: str

    @property
    def is_contact(self) -> bool:
        """Reaches the debtor (directly or through a licensed agent)."""
        return self.kind in ("digital", "voice", "written", "field", "referral", "third_party")

    @property
    def is_realtime(self) -> bool:
        """Reaches the debtor at a moment in time, so the local contact window applies."""
        return self.kind in ("digital", "voice", "field", "referral", "third_party")

    @property
    def is_call_or_beyond(self) -> bool:
        """Calls, visits or agency work: never for soft tiers."""
        return self.kind in ("voice", "field", "referral", "third_party")


CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        Channel("app_push", "digital", "in-app push notification"),
        Channel("sms", "digital", "text message with opt-out"),
        Channel("email", "digital", "email with opt-out"),
        Channel("ivr", "voice", "automated voice reminder (IVR)"),
        Channel("agent_call", "voice", "call by an in-house collector"),
        Channel("priority_agent_call", "voice", "call by a senior collector, priority queue"),
        Channel("letter", "written", "collection letter by post"),
        Channel("written_notice", "written", "formal written notice only"),
        Channel("field_visit", "field", "home visit (two collectors, prior notice)"),
        Channel("agency_referral", "referral", "referral to a licensed collection agency"),
        Channel("legal_review_queue", "queue", "human decision queue: legal action or write-off"),
        Channel("dispute_resolution_queue", "queue", "dispute team; collection paused"),
        Channel("estate_queue", "queue", "bereavement team; dealings with the estate only"),
        Channel("hardship_review_queue", "queue", "hardship / forbearance review team"),
        # Known so that a policy naming them gets the specific error, never usable.
        Channel("reference_contact", "third_party", "calling the debtor's listed references"),
        Channel("employer_contact", "third_party", "contacting the debtor's employer"),
        Channel("family_contact", "third_party", "contacting the debtor's family"),
        Channel("social_media_contact", "third_party", "contacting the debtor's social contacts"),
    )
}
CHANNEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(CHANNELS)}

STOP_FLAGS = ("deceased", "dispute", "hardship", "opt_out")


@dataclass(frozen=True)
class LegalLimits:
    """Ceilings from GB/T 45251-2025 and Regulation F; a policy may only be stricter."""

    earliest_contact: time = time(8, 0)
    latest_contact: time = time(21, 0)
    connected_calls_per_day: int = 3
    call_attempts_per_7_days: int = 7
    field_visit_min_days_past_due: int = 60


LEGAL_LIMITS = LegalLimits()

# ----------------------------------------------------------------------------------------------
# Typed policy
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One field's test inside a rule: an interval (numbers), a value (flags) or a set (grades)."""

    field: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    equals: bool | None = None
    isin: tuple[str, ...] | None = None
    notin: tuple[str, ...] | None = None

    @property
    def kind(self) -> FieldKind:
        return FIELDS[self.field].kind

    def thresholds(self) -> list[float]:
        return [v for v in (self.gt, self.gte, self.lt, self.lte) if v is not None]

    def mask(self, values: np.ndarray | pd.Series) -> np.ndarray:
        """Vectorised test over one column's values."""
        if self.kind == "grade":
            s = values if isinstance(values, pd.Series) else pd.Series(values)
            if self.isin is not None:
                return s.isin(self.isin).to_numpy(dtype=bool)
            return ~s.isin(self.notin or ()).to_numpy(dtype=bool)
        v = np.asarray(values)
        if self.kind == "bool":
            return v == bool(self.equals)
        m = np.ones(v.shape, dtype=bool)
        if self.gt is not None:
            m &= v > self.gt
        if self.gte is not None:
            m &= v >= self.gte
        if self.lt is not None:
            m &= v < self.lt
        if self.lte is not None:
            m &= v <= self.lte
        return m

    def describe(self) -> str:
        if self.kind == "bool":
            return self.field if self.equals else f"not {self.field}"
        if self.kind == "grade":
            if self.isin is not None:
                return f"grade in {{{', '.join(self.isin)}}}"
            return f"grade not in {{{', '.join(self.notin or ())}}}"
        parts = []
        for op, sym in (("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<=")):
            v = getattr(self, op)
            if v is not None:
                parts.append(f"{self.field} {sym} {_fmt_num(v)}")
        return " and ".join(parts)


@dataclass(frozen=True)
class Rule:
    name: str
    priority: int
    tier: int
    conditions: tuple[Condition, ...]
    channels: tuple[str, ...] | None = None  # override of the tier's channels
    offer: str | None = None  # override of the tier's offer
    description: str = ""

    def matches(self, columns: Mapping[str, Any]) -> np.ndarray:
        n = len(next(iter(columns.values())))
        m = np.ones(n, dtype=bool)
        for c in self.conditions:
            m &= c.mask(columns[c.field])
        return m

    def describe(self) -> str:
        return " and ".join(c.describe() for c in self.conditions) or "any account (catch-all)"


@dataclass(frozen=True)
class EVAssumption:
    """Per-tier economics for expected-value mode (per account, per collection cycle)."""

    cure_rate: float  # share of at-risk (would-default) exposure the treatment recovers
    cost: float  # contact cost per account (currency)
    commission: float = 0.0  # share of recoveries paid away (agency fees)
    eligible: bool = True  # may expected-value mode pick this tier at all?

    @property
    def net_cure(self) -> float:
        return self.cure_rate * (1.0 - self.commission)


@dataclass(frozen=True)
class Tier:
    id: int
    name: str
    description: str
    channels: tuple[str, ...]
    offer: str | None
    messages_per_day: int
    connected_calls_per_day: int | None
    call_attempts_per_7_days: int | None
    min_days_past_due: int
    min_overdue_amount: float
    ev: EVAssumption

    @property
    def label(self) -> str:
        return f"T{self.id} {self.name}"


@dataclass(frozen=True)
class ContactWindow:
    start: time
    end: time
    default_timezone: str

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class CallCaps:
    connected_calls_per_day: int
    call_attempts_per_7_days: int


@dataclass(frozen=True)
class FieldVisits:
    enabled: bool
    min_days_past_due: int
    min_balance: float


@dataclass(frozen=True)
class TierCap:
    """A named cap: accounts meeting its test may not go above ``max_tier``."""

    threshold: float
    max_tier: int


@dataclass(frozen=True)
class StopContactRoute:
    flag: str
    route: str
    channels: tuple[str, ...]
    max_tier: int
    offer: str | None


@dataclass(frozen=True)
class Guardrails:
    contact_window: ContactWindow
    call_caps: CallCaps
    field_visits: FieldVisits
    first_time_small_overdue: TierCap  # first-time and overdue_amount < threshold
    small_balance: TierCap  # max(outstanding_balance, overdue_amount) < threshold
    stop_contact: tuple[StopContactRoute, ...]  # precedence order


@dataclass(frozen=True)
class CollectionPolicy:
    name: str
    version: str
    currency: str
    description: str
    grades: tuple[str, ...]
    soft_max_tier: int
    monotone_in: tuple[str, ...]
    tiers: tuple[Tier, ...]
    rules: tuple[Rule, ...]  # sorted by priority (stable)
    guardrails: Guardrails
    ev_exposure: str  # "overdue_amount" | "outstanding_balance"
    source: str = "policy"

    @property
    def n_tiers(self) -> int:
        return len(self.tiers)

    def tier(self, tier_id: int) -> Tier:
        return self.tiers[tier_id]

    def rule(self, name: str) -> Rule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    def fingerprint(self) -> str:
        """Short content hash, logged with every output so tiers trace to one policy version."""
        d = self.to_dict()
        d.pop("source", None)
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, time):
        return obj.strftime("%H:%M")
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# ----------------------------------------------------------------------------------------------
# Loading and structural validation
# ----------------------------------------------------------------------------------------------


def load_policy(path: str | os.PathLike[str]) -> CollectionPolicy:
    """Read and fully validate a policy YAML file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("policy", f"file not found at {p}", source=str(p))
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError("policy", f"is not valid YAML: {exc}", source=str(p)) from None
    return policy_from_dict(data, source=str(p))


def policy_from_dict(data: Any, source: str = "policy") -> CollectionPolicy:
    """Build a policy from a parsed mapping; every error names the tier/rule and field."""
    p = _Parser(source)
    d = p.mapping(data, "policy")
    p.known_keys(
        d,
        "policy",
        {"name", "version", "currency", "description", "grades", "soft_max_tier", "monotone_in"}
        | {"tiers", "rules", "guardrails", "expected_value"},
    )
    grades = tuple(p.str_list(d.get("grades"), "grades", allow_empty=False))
    tiers = p.tiers(d.get("tiers"))
    n = len(tiers)
    soft_max = p.integer(d.get("soft_max_tier", 1), "soft_max_tier", lo=0, hi=n - 1)
    for t in tiers[: soft_max + 1]:
        for ch in t.channels:
            if CHANNELS[ch].is_call_or_beyond:
                raise ConfigError(
                    f"tiers[T{t.id}].channels",
                    f"lists '{ch}' but T{t.id} is a soft tier (<= soft_max_tier {soft_max}): "
                    "soft tiers may not call, visit or refer",
                    source=source,
                )
    guardrails = p.guardrails(p.mapping(d.get("guardrails"), "guardrails"), n, soft_max)
    for t in tiers:
        if t.connected_calls_per_day is not None and (
            t.connected_calls_per_day > guardrails.call_caps.connected_calls_per_day
        ):
            raise ConfigError(
                f"tiers[T{t.id}].caps.connected_calls_per_day",
                "exceeds guardrails.call_caps.connected_calls_per_day "
                f"({guardrails.call_caps.connected_calls_per_day})",
                t.connected_calls_per_day,
                source,
            )
        if t.call_attempts_per_7_days is not None and (
            t.call_attempts_per_7_days > guardrails.call_caps.call_attempts_per_7_days
        ):
            raise ConfigError(
                f"tiers[T{t.id}].caps.call_attempts_per_7_days",
                "exceeds guardrails.call_caps.call_attempts_per_7_days "
                f"({guardrails.call_caps.call_attempts_per_7_days})",
                t.call_attempts_per_7_days,
                source,
            )
    rules = p.rules(d.get("rules"), n, grades, soft_max)
    monotone = tuple(p.str_list(d.get("monotone_in", ["pd"]), "monotone_in"))
    for f in monotone:
        if f not in FIELDS or FIELDS[f].kind not in ("number", "integer"):
            raise ConfigError(
                "monotone_in", f"names '{f}', not a numeric rule field", source=source
            )
    ev = p.mapping(d.get("expected_value", {}), "expected_value")
    p.known_keys(ev, "expected_value", {"exposure"})
    exposure = ev.get("exposure", "overdue_amount")
    if exposure not in ("overdue_amount", "outstanding_balance"):
        raise ConfigError(
            "expected_value.exposure",
            "must be 'overdue_amount' or 'outstanding_balance'",
            exposure,
            source,
        )
    policy = CollectionPolicy(
        name=p.string(d.get("name"), "name"),
        version=str(p.required(d.get("version"), "version")),
        currency=p.string(d.get("currency", "CNY"), "currency"),
        description=str(d.get("description", "") or ""),
        grades=grades,
        soft_max_tier=soft_max,
        monotone_in=monotone,
        tiers=tiers,
        rules=tuple(sorted(rules, key=lambda r: r.priority)),
        guardrails=guardrails,
        ev_exposure=exposure,
        source=source,
    )
    validate_rule_space(policy)
    return policy


class _Parser:
    """Typed field readers that raise ConfigError(key, rule, value, source)."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, rule: str, value: Any = None) -> ConfigError:
        return ConfigError(key, rule, value, self.source)

    def required(self, value: Any, key: str) -> Any:
        if value is None:
            raise self.fail(key, "is required")
        return value

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a mapping", value)
        return value

    def known_keys(self, d: Mapping[str, Any], key: str, allowed: set[str]) -> None:
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise self.fail(
                f"{key}.{unknown[0]}", f"is not a known key (allowed: {sorted(allowed)})"
            )

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty string", value)
        return value

    def optional_string(self, value: Any, key: str) -> str | None:
        return None if value is None else self.string(value, key)

    def str_list(self, value: Any, key: str, allow_empty: bool = True) -> list[str]:
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "must be a list of strings", value)
        if not allow_empty and not value:
            raise self.fail(key, "must not be empty")
        return value

    def number(self, value: Any, key: str, lo: float = -math.inf, hi: float = math.inf) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, "must be a number", value)
        if not math.isfinite(value) or not lo <= value <= hi:
            raise self.fail(key, f"must be a finite number in [{lo}, {hi}]", value)
        return float(value)

    def integer(self, value: Any, key: str, lo: int = 0, hi: float = math.inf) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "must be an integer", value)
        if not lo <= value <= hi:
            raise self.fail(key, f"must be in [{lo}, {hi}]", value)
        return int(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, "must be true or false", value)
        return value

    def clock(self, value: Any, key: str) -> time:
        if not isinstance(value, str):
            raise self.fail(key, "must be a 'HH:MM' string (quote it in YAML)", value)
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise self.fail(key, "must be a 'HH:MM' string", value) from None

    def channels(self, value: Any, key: str) -> tuple[str, ...]:
        names = self.str_list(value, key)
        for ch in names:
            if ch not in CHANNELS:
                raise self.fail(key, f"names unknown channel '{ch}' (known: {sorted(CHANNELS)})")
            if CHANNELS[ch].kind == "third_party":
                raise self.fail(
                    key,
                    f"names third-party channel '{ch}': guardrail no_third_party_contact forbids "
                    "telling anyone but the debtor about the debt",
                )
        if len(set(names)) != len(names):
            raise self.fail(key, "lists a channel twice", value)
        # registry order, so outputs are canonical
        return tuple(sorted(names, key=CHANNEL_INDEX.__getitem__))

    def tiers(self, value: Any) -> tuple[Tier, ...]:
        if not isinstance(value, list) or len(value) < 2:
            raise self.fail("tiers", "must be a list of at least two tiers", value)
        out: list[Tier] = []
        for i, raw in enumerate(value):
            key = f"tiers[{i}]"
            t = self.mapping(raw, key)
            self.known_keys(
                t, key, {"id", "name", "description", "channels", "caps", "offer", "entry", "ev"}
            )
            tid = self.integer(t.get("id"), f"{key}.id")
            if tid != i:
                raise self.fail(
                    f"{key}.id", f"must be {i}: tiers are listed T0, T1, ... in order", tid
                )
            key = f"tiers[T{tid}]"
            caps = self.mapping(t.get("caps", {}), f"{key}.caps")
            self.known_keys(
                caps,
                f"{key}.caps",
                {"messages_per_day", "connected_calls_per_day", "call_attempts_per_7_days"},
            )
            entry = self.mapping(t.get("entry", {}), f"{key}.entry")
            self.known_keys(entry, f"{key}.entry", {"min_days_past_due", "min_overdue_amount"})
            ev = self.mapping(t.get("ev"), f"{key}.ev")
            self.known_keys(ev, f"{key}.ev", {"cure_rate", "cost", "commission", "eligible"})
            calls = caps.get("connected_calls_per_day")
            attempts = caps.get("call_attempts_per_7_days")
            out.append(
                Tier(
                    id=tid,
                    name=self.string(t.get("name"), f"{key}.name"),
                    description=str(t.get("description", "") or ""),
                    channels=self.channels(t.get("channels", []), f"{key}.channels"),
                    offer=self.optional_string(t.get("offer"), f"{key}.offer"),
                    messages_per_day=self.integer(
                        caps.get("messages_per_day", 1), f"{key}.caps.messages_per_day"
                    ),
                    connected_calls_per_day=None
                    if calls is None
                    else self.integer(calls, f"{key}.caps.connected_calls_per_day"),
                    call_attempts_per_7_days=None
                    if attempts is None
                    else self.integer(attempts, f"{key}.caps.call_attempts_per_7_days"),
                    min_days_past_due=self.integer(
                        entry.get("min_days_past_due", 0), f"{key}.entry.min_days_past_due"
                    ),
                    min_overdue_amount=self.number(
                        entry.get("min_overdue_amount", 0), f"{key}.entry.min_overdue_amount", 0
                    ),
                    ev=EVAssumption(
                        cure_rate=self.number(ev.get("cure_rate"), f"{key}.ev.cure_rate", 0, 1),
                        cost=self.number(ev.get("cost"), f"{key}.ev.cost", 0),
                        commission=self.number(
                            ev.get("commission", 0.0), f"{key}.ev.commission", 0, 1
                        ),
                        eligible=self.boolean(ev.get("eligible", True), f"{key}.ev.eligible"),
                    ),
                )
            )
        t0 = out[0]
        if t0.min_days_past_due or t0.min_overdue_amount:
            raise self.fail("tiers[T0].entry", "T0 must have no entry minimum: it is the floor")
        if not t0.ev.eligible:
            raise self.fail("tiers[T0].ev.eligible", "must be true: T0 is always allowed")
        for prev, cur in itertools.pairwise(out):
            if cur.min_days_past_due < prev.min_days_past_due:
                raise self.fail(
                    f"tiers[T{cur.id}].entry.min_days_past_due",
                    f"must not be below T{prev.id}'s ({prev.min_days_past_due})",
                    cur.min_days_past_due,
                )
        eligible = [t for t in out if t.ev.eligible]
        for prev, cur in itertools.pairwise(eligible):
            if cur.ev.net_cure < prev.ev.net_cure:
                raise self.fail(
                    f"tiers[T{cur.id}].ev.cure_rate",
                    f"net cure rate cure_rate*(1-commission) = {cur.ev.net_cure:.4g} is below "
                    f"T{prev.id}'s {prev.ev.net_cure:.4g}: value mode needs it non-decreasing "
                    "with intensity (else set ev.eligible: false)",
                )
        return tuple(out)

    def condition(self, field_name: str, raw: Any, key: str, grades: Sequence[str]) -> Condition:
        if field_name not in FIELDS:
            raise self.fail(key, f"is not a rule field (known: {sorted(FIELDS)})")
        spec = FIELDS[field_name]
        if spec.kind == "bool":
            return Condition(field_name, equals=self.boolean(raw, key))
        if spec.kind == "grade":
            c = self.mapping(raw, key)
            self.known_keys(c, key, {"in", "not_in"})
            if len(c) != 1:
                raise self.fail(key, "must have exactly one of 'in' / 'not_in'", raw)
            op, vals = next(iter(c.items()))
            values = self.str_list(vals, f"{key}.{op}", allow_empty=False)
            for g in values:
                if g not in grades:
                    raise self.fail(
                        f"{key}.{op}", f"names unknown grade '{g}' (grades: {list(grades)})"
                    )
            vals_t = tuple(values)
            return (
                Condition(field_name, isin=vals_t)
                if op == "in"
                else Condition(field_name, notin=vals_t)
            )
        c = self.mapping(raw, key)
        self.known_keys(c, key, {"gt", "gte", "lt", "lte"})
        if not c:
            raise self.fail(key, "needs at least one of gt/gte/lt/lte")
        if "gt" in c and "gte" in c or "lt" in c and "lte" in c:
            raise self.fail(key, "may have one lower bound (gt|gte) and one upper bound (lt|lte)")
        bounds: dict[str, float] = {}
        for op, v in c.items():
            k = f"{key}.{op}"
            if spec.kind == "integer":
                bounds[op] = float(self.integer(v, k, lo=-(2**31)))
            else:
                bounds[op] = self.number(v, k)
        lo = bounds.get("gt", bounds.get("gte", -math.inf))
        hi = bounds.get("lt", bounds.get("lte", math.inf))
        closed = "gte" in bounds and "lte" in bounds
        if lo > hi or (lo == hi and not closed):
            raise self.fail(key, "is an empty interval", raw)
        if hi < spec.lo or lo > spec.hi:
            raise self.fail(key, f"lies outside the field's domain [{spec.lo}, {spec.hi}]", raw)
        return Condition(field_name, **bounds)

    def rules(self, value: Any, n_tiers: int, grades: Sequence[str], soft_max: int) -> list[Rule]:
        if not isinstance(value, list) or not value:
            raise self.fail("rules", "must be a non-empty list", value)
        out: list[Rule] = []
        seen: set[str] = set()
        for i, raw in enumerate(value):
            r = self.mapping(raw, f"rules[{i}]")
            name = self.string(r.get("name"), f"rules[{i}].name")
            key = f"rules[{name}]"
            if name in seen:
                raise self.fail(f"{key}.name", "is used by two rules")
            seen.add(name)
            self.known_keys(
                r, key, {"name", "priority", "when", "tier", "channels", "offer", "description"}
            )
            when = self.mapping(r.get("when", {}) or {}, f"{key}.when")
            conds = tuple(self.condition(f, v, f"{key}.when.{f}", grades) for f, v in when.items())
            tier = self.integer(r.get("tier"), f"{key}.tier", hi=n_tiers - 1)
            channels = None
            if "channels" in r:
                channels = self.channels(r["channels"], f"{key}.channels")
                if tier <= soft_max:
                    for ch in channels:
                        if CHANNELS[ch].is_call_or_beyond:
                            raise self.fail(
                                f"{key}.channels",
                                f"lists '{ch}' for soft tier T{tier}: soft tiers may not call, "
                                "visit or refer",
                            )
            out.append(
                Rule(
                    name=name,
                    priority=self.integer(r.get("priority"), f"{key}.priority", lo=-(2**31)),
                    tier=tier,
                    conditions=conds,
                    channels=channels,
                    offer=self.optional_string(r.get("offer"), f"{key}.offer"),
                    description=str(r.get("description", "") or ""),
                )
            )
        return out

    def tier_cap(self, raw: Any, key: str, n_tiers: int, soft_max: int) -> TierCap:
        d = self.mapping(raw, key)
        self.known_keys(d, key, {"threshold", "max_tier"})
        return TierCap(
            threshold=self.number(d.get("threshold"), f"{key}.threshold", 0),
            max_tier=self.integer(d.get("max_tier", soft_max), f"{key}.max_tier", hi=soft_max),
        )

    def guardrails(self, g: dict[str, Any], n_tiers: int, soft_max: int) -> Guardrails:
        self.known_keys(
            g,
            "guardrails",
            {"contact_window", "call_caps", "field_visits", "first_time_small_overdue"}
            | {"small_balance", "stop_contact"},
        )
        law = LEGAL_LIMITS
        cw = self.mapping(g.get("contact_window"), "guardrails.contact_window")
        self.known_keys(cw, "guardrails.contact_window", {"start", "end", "default_timezone"})
        start = self.clock(cw.get("start"), "guardrails.contact_window.start")
        end = self.clock(cw.get("end"), "guardrails.contact_window.end")
        if start < law.earliest_contact or end > law.latest_contact or start >= end:
            raise self.fail(
                "guardrails.contact_window",
                f"must lie within {law.earliest_contact:%H:%M}-{law.latest_contact:%H:%M} "
                "local time with start before end",
                f"{start:%H:%M}-{end:%H:%M}",
            )
        tz = self.string(cw.get("default_timezone"), "guardrails.contact_window.default_timezone")
        if resolve_timezone(tz) is None:
            raise self.fail("guardrails.contact_window.default_timezone", "is not an IANA zone", tz)
        cc = self.mapping(g.get("call_caps"), "guardrails.call_caps")
        self.known_keys(
            cc, "guardrails.call_caps", {"connected_calls_per_day", "call_attempts_per_7_days"}
        )
        fv = self.mapping(g.get("field_visits"), "guardrails.field_visits")
        self.known_keys(
            fv, "guardrails.field_visits", {"enabled", "min_days_past_due", "min_balance"}
        )
        stops: list[StopContactRoute] = []
        sc = g.get("stop_contact")
        if not isinstance(sc, list):
            raise self.fail("guardrails.stop_contact", "must be a list of flag routes", sc)
        for i, raw in enumerate(sc):
            d = self.mapping(raw, f"guardrails.stop_contact[{i}]")
            flag = d.get("flag")
            if flag not in STOP_FLAGS:
                raise self.fail(
                    f"guardrails.stop_contact[{i}].flag", f"must be one of {STOP_FLAGS}", flag
                )
            key = f"guardrails.stop_contact[{flag}]"
            self.known_keys(d, key, {"flag", "route", "channels", "max_tier", "offer"})
            chans = self.channels(d.get("channels", []), f"{key}.channels")
            for ch in chans:
                if CHANNELS[ch].kind not in ("written", "queue"):
                    raise self.fail(
                        f"{key}.channels",
                        f"lists '{ch}': a stop-contact route may only use written notices or queues",
                    )
            stops.append(
                StopContactRoute(
                    flag=flag,
                    route=self.string(d.get("route"), f"{key}.route"),
                    channels=chans,
                    max_tier=self.integer(d.get("max_tier", 0), f"{key}.max_tier", hi=soft_max),
                    offer=self.optional_string(d.get("offer"), f"{key}.offer"),
                )
            )
        missing = sorted(set(STOP_FLAGS) - {s.flag for s in stops})
        if missing:
            raise self.fail("guardrails.stop_contact", f"has no route for flag(s) {missing}")
        if len(stops) != len(STOP_FLAGS):
            raise self.fail("guardrails.stop_contact", "lists a flag twice")
        return Guardrails(
            contact_window=ContactWindow(start, end, tz),
            call_caps=CallCaps(
                self.integer(
                    cc.get("connected_calls_per_day"),
                    "guardrails.call_caps.connected_calls_per_day",
                    hi=law.connected_calls_per_day,
                ),
                self.integer(
                    cc.get("call_attempts_per_7_days"),
                    "guardrails.call_caps.call_attempts_per_7_days",
                    hi=law.call_attempts_per_7_days,
                ),
            ),
            field_visits=FieldVisits(
                enabled=self.boolean(fv.get("enabled", False), "guardrails.field_visits.enabled"),
                min_days_past_due=self.integer(
                    fv.get("min_days_past_due"),
                    "guardrails.field_visits.min_days_past_due",
                    lo=law.field_visit_min_days_past_due,
                ),
                min_balance=self.number(
                    fv.get("min_balance"), "guardrails.field_visits.min_balance", 0
                ),
            ),
            first_time_small_overdue=self.tier_cap(
                g.get("first_time_small_overdue"),
                "guardrails.first_time_small_overdue",
                n_tiers,
                soft_max,
            ),
            small_balance=self.tier_cap(
                g.get("small_balance"), "guardrails.small_balance", n_tiers, soft_max
            ),
            stop_contact=tuple(stops),
        )


def resolve_timezone(name: Any) -> ZoneInfo | None:
    """The zone for an IANA name, or None when unknown / missing."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# ----------------------------------------------------------------------------------------------
# Rule-space validation: exact, on the grid of cells the rules' thresholds cut the space into
# ----------------------------------------------------------------------------------------------

MAX_GRID_CELLS = 2_000_000
OTHER_GRADE = "__other__"


def _representatives(spec: FieldSpec, thresholds: Sequence[float]) -> list[float]:
    """One value per cell of the line cut at `thresholds` (points and the open gaps between)."""
    pts = sorted({t for t in thresholds if spec.lo <= t <= spec.hi})
    lo_finite, hi_finite = math.isfinite(spec.lo), math.isfinite(spec.hi)
    if lo_finite:
        pts = sorted({spec.lo, *pts})
    if hi_finite:
        pts = sorted({*pts, spec.hi})
    if not pts:
        return [0.0]
    reps: list[float] = list(pts)
    if not lo_finite:
        reps.append(pts[0] - 1.0)
    if not hi_finite:
        reps.append(pts[-1] + 1.0)
    for a, b in itertools.pairwise(pts):
        if spec.kind == "integer":
            if a + 1 < b:
                reps.append(a + 1)
        else:
            reps.append((a + b) / 2)
    return sorted(reps)


@dataclass
class RuleGrid:
    """All cells of the rule space, as a frame of representative accounts in C order."""

    fields: list[str]
    axes: list[list[Any]]
    columns: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    def describe_cell(self, i: int) -> str:
        idx = np.unravel_index(i, self.shape)
        parts = [
            f"{f}={_fmt_val(ax[j])}" for f, ax, j in zip(self.fields, self.axes, idx, strict=True)
        ]
        return ", ".join(parts) or "(every account)"


def build_rule_grid(policy: CollectionPolicy) -> RuleGrid:
    used = sorted({c.field for r in policy.rules for c in r.conditions} | set(policy.monotone_in))
    axes: list[list[Any]] = []
    for f in used:
        spec = FIELDS[f]
        if spec.kind == "bool":
            axes.append([False, True])
        elif spec.kind == "grade":
            axes.append([*policy.grades, OTHER_GRADE])
        else:
            ts = [
                t
                for r in policy.rules
                for c in r.conditions
                if c.field == f
                for t in c.thresholds()
            ]
            axes.append(_representatives(spec, ts))
    size = math.prod(len(a) for a in axes) if axes else 1
    if size > MAX_GRID_CELLS:
        raise ConfigError(
            "rules",
            f"cut the account space into {size:,} cells, more than the {MAX_GRID_CELLS:,} "
            "validation can check: use fewer distinct thresholds",
            source=policy.source,
        )
    grid = RuleGrid(used, axes)
    if axes:
        mesh = np.meshgrid(*[np.arange(len(a)) for a in axes], indexing="ij")
        for f, ax, m in zip(used, axes, mesh, strict=True):
            vals = np.asarray(ax, dtype=object)[m.ravel()]
            if FIELDS[f].kind == "grade":
                grid.columns[f] = pd.Series(vals.astype(str))
            elif FIELDS[f].kind == "bool":
                grid.columns[f] = vals.astype(bool)
            else:
                grid.columns[f] = vals.astype(float)
    else:
        grid.columns["pd"] = np.zeros(1)
    return grid


def first_match(policy: CollectionPolicy, columns: Mapping[str, Any]) -> np.ndarray:
    """Index into policy.rules of the deciding rule per row (-1 = no rule matched)."""
    n = len(next(iter(columns.values())))
    decided = np.full(n, -1, dtype=np.int32)
    for i, r in enumerate(policy.rules):
        open_rows = decided < 0
        if not open_rows.any():
            break
        m = r.matches(columns) & open_rows
        decided[m] = i
    return decided


def validate_rule_space(policy: CollectionPolicy) -> None:
    """Prove on the exact cell grid: no gap, no same-priority overlap, no dead rule, monotone tiers."""
    grid = build_rule_grid(policy)
    src = policy.source
    masks = np.stack([r.matches(grid.columns) for r in policy.rules])  # (rules, cells)
    # overlaps inside one priority band
    for prio in sorted({r.priority for r in policy.rules}):
        idx = [i for i, r in enumerate(policy.rules) if r.priority == prio]
        for a, b in itertools.combinations(idx, 2):
            both = masks[a] & masks[b]
            if both.any():
                cell = int(np.argmax(both))
                ra, rb = policy.rules[a], policy.rules[b]
                fields = sorted({c.field for c in ra.conditions} | {c.field for c in rb.conditions})
                raise ConfigError(
                    f"rules[{ra.name}]",
                    f"overlaps rules[{rb.name}] at priority {prio} on fields {fields} "
                    f"(both match {grid.describe_cell(cell)}): rules sharing a priority must be "
                    "mutually exclusive; give the one that should win a lower priority number",
                    source=src,
                )
    decided = first_match(policy, grid.columns)
    if (decided < 0).any():
        cell = int(np.argmax(decided < 0))
        raise ConfigError(
            "rules",
            f"leave a gap on fields {grid.fields}: no rule matches {grid.describe_cell(cell)}; "
            "add a rule for it or a catch-all (a rule with no 'when') at the last priority",
            source=src,
        )
    fired = set(decided.tolist())
    for i, r in enumerate(policy.rules):
        if i not in fired:
            raise ConfigError(
                f"rules[{r.name}].when",
                "can never decide an account: rules with lower priority numbers match every "
                "account it matches",
                source=src,
            )
    tiers = np.array([r.tier for r in policy.rules])[decided].reshape(grid.shape)
    for f in policy.monotone_in:
        ax = grid.fields.index(f)
        drops = np.diff(tiers, axis=ax) < 0
        if drops.any():
            pos = np.unravel_index(int(np.argmax(drops)), drops.shape)
            lo_cell = np.ravel_multi_index(pos, grid.shape)
            hi_pos = list(pos)
            hi_pos[ax] += 1
            hi_cell = np.ravel_multi_index(tuple(hi_pos), grid.shape)
            r_lo, r_hi = policy.rules[decided[lo_cell]], policy.rules[decided[hi_cell]]
            raise ConfigError(
                f"rules[{r_hi.name}].tier",
                f"is T{r_hi.tier}, below T{r_lo.tier} of rules[{r_lo.name}], although '{f}' rises "
                f"from {grid.describe_cell(lo_cell)} to {grid.describe_cell(hi_cell)}: tiers must "
                f"not fall as {f} rises (monotone_in)",
                source=src,
            )


# ----------------------------------------------------------------------------------------------
# Human-readable summary
# ----------------------------------------------------------------------------------------------


def _fmt_num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() and abs(v) >= 1 else f"{v:g}"


def _fmt_val(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, float | int | np.floating | np.integer):
        return f"{float(v):g}"
    return str(v)


def policy_markdown(policy: CollectionPolicy) -> str:
    """A reviewer-facing description generated from the policy itself (never edited by hand)."""
    g = policy.guardrails
    cur = policy.currency
    lines = [
        f"# Collection policy: {policy.name} (version {policy.version})",
        "",
        f"Generated from `{policy.source}` (fingerprint `{policy.fingerprint()}`). "
        "Do not edit: change the policy file and rerun the `tiers` stage.",
        "",
    ]
    if policy.description:
        lines += [policy.description.strip(), ""]
    lines += [
        "## How an account gets its tier",
        "",
        "1. **Entry rules** are tried in ascending priority; the first rule that matches decides the "
        "tier. Rules sharing a priority never overlap (checked), every possible account matches a "
        "rule (checked on the exact grid of rule thresholds), and every rule can fire.",
        "2. **Guardrails** then cap the tier and strip channels; they apply in every mode and no rule "
        "or score overrides them. Every assignment records the deciding rule and each guardrail "
        "that capped or changed it.",
        "3. In **expected-value mode** the tier is instead the one, among those the guardrails allow, "
        f"with the highest expected recovery minus contact cost: `{policy.ev_exposure} x PD x "
        "cure_rate x (1 - commission) - cost` (T0 = 0; ties go to the gentler tier). Both "
        "assignments are reported side by side.",
        f"4. Tiers never fall as {', '.join(policy.monotone_in)} rise, all else equal (checked).",
        "",
        "## Tiers",
        "",
        "| Tier | Channels | Caps | Offer | Entry minimum | Cure rate | Cost | Commission | EV mode |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in policy.tiers:
        digital = any(CHANNELS[c].kind == "digital" for c in t.channels)
        caps = [f"{t.messages_per_day} msg/day"] if digital else []
        if t.connected_calls_per_day is not None:
            caps.append(f"{t.connected_calls_per_day} connected calls/day")
        if t.call_attempts_per_7_days is not None:
            caps.append(f"{t.call_attempts_per_7_days} attempts/7 days")
        entry = []
        if t.min_days_past_due:
            entry.append(f"DPD >= {t.min_days_past_due}")
        if t.min_overdue_amount:
            entry.append(f"overdue >= {_fmt_num(t.min_overdue_amount)} {cur}")
        lines.append(
            f"| **{t.label}** | {', '.join(t.channels) or 'none'} | {'; '.join(caps) or '-'} | "
            f"{t.offer or '-'} | {'; '.join(entry) or '-'} | {t.ev.cure_rate:g} | "
            f"{t.ev.cost:g} {cur} | {t.ev.commission:g} | {'yes' if t.ev.eligible else 'never'} |"
        )
    lines += [
        "",
        "## Entry rules (in evaluation order)",
        "",
        "| Priority | Rule | When | Tier | Channels / offer override |",
        "|---|---|---|---|---|",
    ]
    for r in policy.rules:
        over = []
        if r.channels is not None:
            over.append("channels: " + (", ".join(r.channels) or "none"))
        if r.offer:
            over.append(f"offer: {r.offer}")
        lines.append(
            f"| {r.priority} | `{r.name}` | {r.describe()} | {policy.tier(r.tier).label} | "
            f"{'; '.join(over) or '-'} |"
        )
    fv = g.field_visits
    lines += [
        "",
        "## Guardrails (hard; no rule, score or mode overrides them)",
        "",
        f"- `contact_window`: contact only {g.contact_window.describe()} in the account's own time "
        f"zone (unknown zone: {g.contact_window.default_timezone}, recorded as "
        "`unknown_timezone`).",
        f"- `call_caps`: at most {g.call_caps.connected_calls_per_day} connected calls a day and "
        f"{g.call_caps.call_attempts_per_7_days} call attempts in 7 days per debtor (agencies bound "
        "by the same caps).",
        "- `no_field_visit`: home visits "
        + (
            f"only where DPD >= {fv.min_days_past_due} and balance >= {_fmt_num(fv.min_balance)} "
            f"{cur}; removed elsewhere."
            if fv.enabled
            else "are disabled; the channel is removed wherever a tier lists it."
        ),
        f"- `first_time_small_overdue`: a first-time delinquency with less than "
        f"{_fmt_num(g.first_time_small_overdue.threshold)} {cur} overdue stays at or below "
        f"{policy.tier(g.first_time_small_overdue.max_tier).label}: never calls or beyond.",
        f"- `small_balance`: a balance (max of outstanding and overdue) below "
        f"{_fmt_num(g.small_balance.threshold)} {cur} stays at or below "
        f"{policy.tier(g.small_balance.max_tier).label}.",
        "- `tier_entry_minimum`: a tier is only reachable past its entry minimum (table above).",
        "- `no_third_party_contact`: no channel may tell anyone but the debtor about the debt; "
        "third-party channels are rejected at load and stripped at run time.",
        "- `stop_contact_<flag>`: flagged accounts leave escalation for their handling route "
        "(first flag in this order wins the route; every flag set is recorded):",
        "",
        "| Flag | Route | Channels | Max tier | Offer |",
        "|---|---|---|---|---|",
    ]
    for s in g.stop_contact:
        lines.append(
            f"| {s.flag} | {s.route} | {', '.join(s.channels) or 'none'} | "
            f"{policy.tier(s.max_tier).label} | {s.offer or '-'} |"
        )
    law = LEGAL_LIMITS
    lines += [
        "",
        "Statutory ceilings enforced in code (a policy may tighten, never loosen): contact "
        f"{law.earliest_contact:%H:%M}-{law.latest_contact:%H:%M} local time, "
        f"{law.connected_calls_per_day} connected calls/day, {law.call_attempts_per_7_days} call "
        f"attempts/7 days, no home visit before {law.field_visit_min_days_past_due} DPD.",
        "",
    ]
    return "\n".join(lines)

"""The typed collection policy: tiers, rules and guardrails as frozen dataclasses.

Kept apart from the loader so the engine, the rule-space check and the renderer share one
vocabulary of types without importing the YAML parsing; a `CollectionPolicy` is only ever built
by `collection_policy.loader`, which validates it, so the other modules can trust it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import time
from typing import Any

import numpy as np
import pandas as pd

from collection_policy.vocabulary import FIELDS, FieldKind


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
                parts.append(f"{self.field} {sym} {fmt_num(v)}")
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
    basis: str = ""  # the rule behind the guardrail (law, code of conduct or internal policy)

    def describe(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class CallCaps:
    connected_calls_per_day: int
    call_attempts_per_7_days: int
    basis: str = ""


@dataclass(frozen=True)
class FieldVisits:
    enabled: bool
    min_days_past_due: int
    min_balance: float
    basis: str = ""


@dataclass(frozen=True)
class TierCap:
    """A named cap: accounts meeting its test may not go above ``max_tier``."""

    threshold: float
    max_tier: int
    basis: str = ""


@dataclass(frozen=True)
class StopContactRoute:
    flag: str
    route: str
    channels: tuple[str, ...]
    max_tier: int
    offer: str | None
    basis: str = ""


@dataclass(frozen=True)
class CreditBureauNotice:
    """Written notice before negative credit reporting, with its own timing."""

    notice_from_days_past_due: int  # the notice goes out from this DPD
    report_from_days_past_due: int  # no negative report before this DPD
    channels: tuple[str, ...]  # written channels that carry the notice
    hold_routes: tuple[str, ...]  # handling routes under which reporting (and notice) is held
    basis: str = ""


@dataclass(frozen=True)
class RepeatOrWilful:
    """Several delinquency episodes or broken promises: escalates faster (rules read the derived
    ``repeat_or_wilful`` flag) within the same guardrails."""

    route: str
    min_delinquency_episodes: int
    min_broken_promises: int
    description: str = ""
    basis: str = ""


@dataclass(frozen=True)
class SuspectedFraud:
    """First-payment default with nothing ever paid: a review queue, never a collector."""

    route: str
    min_days_past_due: int  # never_paid and days_past_due >= this
    channels: tuple[str, ...]
    max_tier: int
    offer: str | None
    description: str = ""
    basis: str = ""


@dataclass(frozen=True)
class WriteOffRecommendation:
    """Accounts the rules send to ``below_floor_of_tier`` (or higher) while owing less than that
    tier's amount floor: a write-off recommendation with no legal action."""

    route: str
    below_floor_of_tier: int
    channels: tuple[str, ...]
    max_tier: int
    offer: str | None
    description: str = ""
    basis: str = ""


@dataclass(frozen=True)
class Routes:
    """Handling routes besides the stop-contact flags (precedence: after them, in this order)."""

    suspected_fraud: SuspectedFraud
    write_off_recommendation: WriteOffRecommendation
    repeat_or_wilful: RepeatOrWilful


@dataclass(frozen=True)
class Guardrails:
    contact_window: ContactWindow
    call_caps: CallCaps
    field_visits: FieldVisits
    first_time_small_overdue: TierCap  # first-time and overdue_amount < threshold
    small_balance: TierCap  # max(outstanding_balance, overdue_amount) < threshold
    stop_contact: tuple[StopContactRoute, ...]  # precedence order
    call_floor: TierCap | None = None  # overdue_amount < threshold: no calls at any tier
    credit_bureau_notice: CreditBureauNotice | None = None
    #: The rule behind each guardrail enforced in code (vocabulary.CODE_GUARDRAILS), in order.
    enforced_in_code: tuple[tuple[str, str], ...] = ()


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
    routes: Routes | None = None  # None: a policy without the v2 routes (standard handling only)

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


def fmt_value(v: Any) -> str:
    """A grid value as the rule-space errors show it: True, 0.5, 30, grade text."""
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, float | int | np.floating | np.integer):
        return f"{float(v):g}"
    return str(v)


def fmt_num(v: float) -> str:
    """Thresholds as a reviewer reads them: 1,000 not 1000.0."""
    return f"{int(v):,}" if float(v).is_integer() and abs(v) >= 1 else f"{v:g}"

"""Vocabulary fixed in code: the fields rules may read, the channels a tier may use, the law.

A policy file may only name what the engine knows how to evaluate and what the law allows, so
these lists live in code and the loader checks every name in the file against them. The rule
fields are the engine's own columns (PD, score, grade) plus the policy inputs declared once in
`core.contracts.POLICY_INPUTS` (all but free text such as the time zone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.contracts import POLICY_INPUTS, PolicyInput

FieldKind = Literal["number", "integer", "bool", "grade"]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: FieldKind
    lo: float = -math.inf  # domain, closed where finite
    hi: float = math.inf
    description: str = ""


#: Policy-input dtype -> rule-field kind (text inputs are not rule fields).
_KIND_OF: dict[str, FieldKind] = {"int": "integer", "float": "number", "bool": "bool"}


def _input_field(p: PolicyInput) -> FieldSpec:
    """A policy input as a rule field. Numeric inputs are amounts and day counts: never negative
    (`engine.prepare_accounts` rejects negatives), so their domain starts at 0."""
    kind = _KIND_OF[p.dtype]
    lo = 0.0 if kind in ("number", "integer") else -math.inf
    return FieldSpec(p.name, kind, lo, description=p.description)


FIELDS: dict[str, FieldSpec] = {
    f.name: f
    for f in (
        FieldSpec("pd", "number", 0.0, 1.0, "calibrated probability of 90+ DPD within 6 months"),
        FieldSpec("score", "number", description="scorecard points (higher = safer)"),
        FieldSpec("grade", "grade", description="master-scale grade"),
        *(_input_field(p) for p in POLICY_INPUTS if p.dtype in _KIND_OF),
        # Derived by the engine from the policy's own definition (routes.repeat_or_wilful); rules
        # may read it like a flag, and the rule-space proof checks that it never lowers a tier.
        FieldSpec(
            "repeat_or_wilful",
            "bool",
            description="several delinquency episodes or broken promises (policy thresholds)",
        ),
    )
}
#: Rule fields the engine derives (not inputs): computed before the entry rules run.
DERIVED_FIELDS: tuple[str, ...] = ("repeat_or_wilful",)
#: Derived flags that may only raise a tier (proved on the rule grid by `rulespace`).
ESCALATION_FIELDS: tuple[str, ...] = ("repeat_or_wilful",)

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
        Channel("fraud_review_queue", "queue", "fraud review team; never a collector"),
        Channel("write_off_review_queue", "queue", "human decision: write-off, no legal action"),
        Channel(
            "credit_bureau_notice",
            "written",
            "written notice that negative information will be reported to the credit bureau",
        ),
        # Known so that a policy naming them gets the specific error, never usable.
        Channel("reference_contact", "third_party", "calling the debtor's listed references"),
        Channel("employer_contact", "third_party", "contacting the debtor's employer"),
        Channel("family_contact", "third_party", "contacting the debtor's family"),
        Channel("social_media_contact", "third_party", "contacting the debtor's social contacts"),
    )
}
CHANNEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(CHANNELS)}

#: How tiers are chosen: the entry rules, or the expected-value envelope of the rules.
MODES: tuple[str, ...] = ("rules", "expected_value")

STOP_FLAGS = ("deceased", "dispute", "hardship", "opt_out")

#: Guardrails enforced in code rather than configured; the policy names the rule behind each
#: (`guardrails.enforced_in_code`) so the reviewer's summary cites it.
CODE_GUARDRAILS: tuple[str, ...] = (
    "soft_tier_no_calls",
    "tier_entry_minimum",
    "no_third_party_contact",
    "unknown_timezone",
    "human_decision",
)


@dataclass(frozen=True)
class LegalLimits:
    """Ceilings from GB/T 45251-2025 and Regulation F; a policy may only be stricter."""

    earliest_contact: time = time(8, 0)
    latest_contact: time = time(21, 0)
    connected_calls_per_day: int = 3
    call_attempts_per_7_days: int = 7
    field_visit_min_days_past_due: int = 60
    #: 征信业管理条例 Art. 15: the borrower is told before negative information is reported, so a
    #: policy's first negative report must come at least this many days after its notice.
    credit_notice_min_lead_days: int = 1


LEGAL_LIMITS = LegalLimits()


def resolve_timezone(name: Any) -> ZoneInfo | None:
    """The zone for an IANA name, or None when unknown / missing."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None

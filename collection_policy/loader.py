"""Loading and structural validation of a collection policy file.

The policy is configuration a compliance reviewer edits by hand, so every mistake must stop the
run with the tier/rule and field named (on the shared `core.config.Parser` message shape)
before any account is tiered; the rule-space proof (`rulespace`) runs last, on the typed policy.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from datetime import time
from pathlib import Path
from typing import Any

import yaml

from collection_policy.policy import (
    CallCaps,
    CollectionPolicy,
    Condition,
    ContactWindow,
    CreditBureauNotice,
    EVAssumption,
    FieldVisits,
    Guardrails,
    RepeatOrWilful,
    Routes,
    Rule,
    StopContactRoute,
    SuspectedFraud,
    Tier,
    TierCap,
    WriteOffRecommendation,
)
from collection_policy.rulespace import validate_rule_space
from collection_policy.vocabulary import (
    CHANNEL_INDEX,
    CHANNELS,
    CODE_GUARDRAILS,
    FIELDS,
    LEGAL_LIMITS,
    STOP_FLAGS,
    resolve_timezone,
)
from core.config import Parser
from core.errors import ConfigError


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
        | {"tiers", "rules", "guardrails", "expected_value", "routes"},
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
    p.amount_floors(tiers, guardrails)
    routes = p.routes(d.get("routes"), tiers, soft_max)
    p.credit_notice_holds(guardrails, routes)
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
    if not monotone:
        # An empty list would switch the proof "tiers never fall as risk rises" off silently.
        raise ConfigError(
            "monotone_in",
            "must name at least one field (the default is [pd]): an empty list would switch off "
            "the check that tiers never fall as PD or arrears rise",
            [],
            source,
        )
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
        routes=routes,
    )
    validate_rule_space(policy)
    return policy


class _Parser(Parser):
    """The shared typed readers plus the policy's own: clock times, channels, tiers, rules."""

    def str_list(self, value: Any, key: str, allow_empty: bool = True) -> list[str]:
        # an absent list in a policy file means "none"; channel lists check repeats themselves
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "expected a list of strings", value)
        if not allow_empty and not value:
            raise self.fail(key, "expected a non-empty list")
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

    def basis(self, d: dict[str, Any], key: str) -> str:
        """The rule behind a guardrail or route: required, so the summary can cite it."""
        if d.get("basis") is None:
            raise self.fail(
                f"{key}.basis",
                "is required: name the rule behind this guardrail (law, code of conduct or "
                "internal policy)",
            )
        return self.string(d.get("basis"), f"{key}.basis")

    def tier_cap(self, raw: Any, key: str, n_tiers: int, soft_max: int) -> TierCap:
        d = self.mapping(raw, key)
        self.known_keys(d, key, {"threshold", "max_tier", "basis"})
        return TierCap(
            threshold=self.number(d.get("threshold"), f"{key}.threshold", 0),
            max_tier=self.integer(d.get("max_tier", soft_max), f"{key}.max_tier", hi=soft_max),
            basis=self.basis(d, key),
        )

    def route_channels(self, d: dict[str, Any], key: str) -> tuple[str, ...]:
        """A route's channels: written notices and human queues only (never a collector)."""
        chans = self.channels(d.get("channels", []), f"{key}.channels")
        if not chans:
            raise self.fail(f"{key}.channels", "must name the queue or written channel it uses")
        for ch in chans:
            if CHANNELS[ch].kind not in ("written", "queue"):
                raise self.fail(
                    f"{key}.channels",
                    f"lists '{ch}': this route may only use written notices or human queues",
                )
        return chans

    def amount_floors(self, tiers: Sequence[Tier], g: Guardrails) -> None:
        """Tiers that refer to an agency or to the legal-review queue need an amount floor at or
        above the call floor: no account below it may be referred or put to legal review."""
        floor = g.call_floor.threshold if g.call_floor is not None else 0.0
        for t in tiers:
            heavy = [
                ch
                for ch in t.channels
                if CHANNELS[ch].kind == "referral" or ch == "legal_review_queue"
            ]
            if heavy and (t.min_overdue_amount <= 0 or t.min_overdue_amount < floor):
                raise self.fail(
                    f"tiers[T{t.id}].entry.min_overdue_amount",
                    f"T{t.id} uses {heavy}: it needs an amount floor of at least the call floor "
                    f"({floor:g}); below it accounts take a soft, written or write-off route",
                    t.min_overdue_amount,
                )

    def routes(self, value: Any, tiers: Sequence[Tier], soft_max: int) -> Routes | None:
        if value is None:
            return None
        r = self.mapping(value, "routes")
        self.known_keys(
            r, "routes", {"suspected_fraud", "write_off_recommendation"} | {"repeat_or_wilful"}
        )
        n = len(tiers)
        key = "routes.suspected_fraud"
        f = self.mapping(r.get("suspected_fraud"), key)
        self.known_keys(
            f,
            key,
            {"route", "description", "min_days_past_due", "channels", "max_tier", "offer"}
            | {"basis"},
        )
        fraud = SuspectedFraud(
            route=self.string(f.get("route"), f"{key}.route"),
            min_days_past_due=self.integer(
                f.get("min_days_past_due"), f"{key}.min_days_past_due", lo=1
            ),
            channels=self.route_channels(f, key),
            max_tier=self.integer(f.get("max_tier", 0), f"{key}.max_tier", hi=0),
            offer=self.optional_string(f.get("offer"), f"{key}.offer"),
            description=str(f.get("description", "") or ""),
            basis=self.basis(f, key),
        )
        for ch in fraud.channels:
            if CHANNELS[ch].kind != "queue":
                raise self.fail(
                    f"{key}.channels",
                    f"lists '{ch}': a suspected fraud goes to a review queue only, never a "
                    "collector or a letter to a possibly stolen identity",
                )
        key = "routes.write_off_recommendation"
        w = self.mapping(r.get("write_off_recommendation"), key)
        self.known_keys(
            w,
            key,
            {"route", "description", "below_floor_of_tier", "channels", "max_tier", "offer"}
            | {"basis"},
        )
        of = self.integer(w.get("below_floor_of_tier"), f"{key}.below_floor_of_tier", hi=n - 1)
        if tiers[of].min_overdue_amount <= 0:
            raise self.fail(
                f"{key}.below_floor_of_tier",
                f"names T{of}, which has no amount floor (tiers[T{of}].entry.min_overdue_amount)",
                of,
            )
        write_off = WriteOffRecommendation(
            route=self.string(w.get("route"), f"{key}.route"),
            below_floor_of_tier=of,
            channels=self.route_channels(w, key),
            max_tier=self.integer(w.get("max_tier", soft_max), f"{key}.max_tier", hi=soft_max),
            offer=self.optional_string(w.get("offer"), f"{key}.offer"),
            description=str(w.get("description", "") or ""),
            basis=self.basis(w, key),
        )
        key = "routes.repeat_or_wilful"
        rw = self.mapping(r.get("repeat_or_wilful"), key)
        self.known_keys(
            rw,
            key,
            {"route", "description", "min_delinquency_episodes", "min_broken_promises", "basis"},
        )
        repeat = RepeatOrWilful(
            route=self.string(rw.get("route"), f"{key}.route"),
            min_delinquency_episodes=self.integer(
                rw.get("min_delinquency_episodes"), f"{key}.min_delinquency_episodes", lo=2
            ),
            min_broken_promises=self.integer(
                rw.get("min_broken_promises"), f"{key}.min_broken_promises", lo=1
            ),
            description=str(rw.get("description", "") or ""),
            basis=self.basis(rw, key),
        )
        names = [fraud.route, write_off.route, repeat.route]
        if len(set(names)) != len(names) or "standard" in names:
            raise self.fail("routes", "route names must be distinct and not 'standard'", names)
        return Routes(fraud, write_off, repeat)

    def credit_notice_holds(self, g: Guardrails, routes: Routes | None) -> None:
        """Every route a credit-bureau hold names must exist."""
        if g.credit_bureau_notice is None:
            return
        known = {s.route for s in g.stop_contact}
        if routes is not None:
            known |= {
                routes.suspected_fraud.route,
                routes.write_off_recommendation.route,
                routes.repeat_or_wilful.route,
            }
        for name in g.credit_bureau_notice.hold_routes:
            if name not in known:
                raise self.fail(
                    "guardrails.credit_bureau_notice.hold_routes",
                    f"names unknown route '{name}' (routes: {sorted(known)})",
                )

    def credit_bureau_notice(self, raw: Any) -> CreditBureauNotice:
        key = "guardrails.credit_bureau_notice"
        d = self.mapping(raw, key)
        self.known_keys(
            d,
            key,
            {"notice_from_days_past_due", "report_from_days_past_due", "channels"}
            | {"hold_routes", "basis"},
        )
        notice = self.integer(
            d.get("notice_from_days_past_due"), f"{key}.notice_from_days_past_due", lo=1
        )
        report = self.integer(
            d.get("report_from_days_past_due"), f"{key}.report_from_days_past_due", lo=1
        )
        lead = LEGAL_LIMITS.credit_notice_min_lead_days
        if report - notice < lead:
            raise self.fail(
                f"{key}.report_from_days_past_due",
                f"must be at least {lead} day(s) after notice_from_days_past_due ({notice}): "
                "the borrower is told before negative information is reported "
                "(征信业管理条例 Art. 15)",
                report,
            )
        chans = self.channels(d.get("channels", []), f"{key}.channels")
        if not chans or any(CHANNELS[ch].kind != "written" for ch in chans):
            raise self.fail(f"{key}.channels", "must be one or more written channels", chans)
        return CreditBureauNotice(
            notice_from_days_past_due=notice,
            report_from_days_past_due=report,
            channels=chans,
            hold_routes=tuple(self.str_list(d.get("hold_routes"), f"{key}.hold_routes")),
            basis=self.basis(d, key),
        )

    def enforced_in_code(self, raw: Any) -> tuple[tuple[str, str], ...]:
        key = "guardrails.enforced_in_code"
        d = self.mapping(raw, key)
        self.known_keys(d, key, set(CODE_GUARDRAILS))
        missing = [name for name in CODE_GUARDRAILS if name not in d]
        if missing:
            raise self.fail(key, f"has no basis for guardrail(s) {missing}")
        return tuple((name, self.string(d[name], f"{key}.{name}")) for name in CODE_GUARDRAILS)

    def guardrails(self, g: dict[str, Any], n_tiers: int, soft_max: int) -> Guardrails:
        self.known_keys(
            g,
            "guardrails",
            {"contact_window", "call_caps", "field_visits", "first_time_small_overdue"}
            | {"small_balance", "stop_contact", "call_floor", "credit_bureau_notice"}
            | {"enforced_in_code"},
        )
        law = LEGAL_LIMITS
        cw = self.mapping(g.get("contact_window"), "guardrails.contact_window")
        self.known_keys(
            cw, "guardrails.contact_window", {"start", "end", "default_timezone", "basis"}
        )
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
            cc,
            "guardrails.call_caps",
            {"connected_calls_per_day", "call_attempts_per_7_days", "basis"},
        )
        fv = self.mapping(g.get("field_visits"), "guardrails.field_visits")
        self.known_keys(
            fv, "guardrails.field_visits", {"enabled", "min_days_past_due", "min_balance", "basis"}
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
            self.known_keys(d, key, {"flag", "route", "channels", "max_tier", "offer", "basis"})
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
                    basis=self.basis(d, key),
                )
            )
        missing = sorted(set(STOP_FLAGS) - {s.flag for s in stops})
        if missing:
            raise self.fail("guardrails.stop_contact", f"has no route for flag(s) {missing}")
        if len(stops) != len(STOP_FLAGS):
            raise self.fail("guardrails.stop_contact", "lists a flag twice")
        return Guardrails(
            contact_window=ContactWindow(
                start, end, tz, basis=self.basis(cw, "guardrails.contact_window")
            ),
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
                basis=self.basis(cc, "guardrails.call_caps"),
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
                basis=self.basis(fv, "guardrails.field_visits"),
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
            call_floor=None
            if g.get("call_floor") is None
            else self.tier_cap(g.get("call_floor"), "guardrails.call_floor", n_tiers, soft_max),
            credit_bureau_notice=None
            if g.get("credit_bureau_notice") is None
            else self.credit_bureau_notice(g.get("credit_bureau_notice")),
            enforced_in_code=()
            if g.get("enforced_in_code") is None
            else self.enforced_in_code(g.get("enforced_in_code")),
        )

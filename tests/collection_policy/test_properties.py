"""Property tests: guardrails hold for arbitrary accounts, one tier each, tiers never fall with PD.

The guardrail checks here are written independently of the engine's code, from the policy's data.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collection_policy.engine import assign_tiers, repeat_or_wilful, split_names
from collection_policy.policy import CollectionPolicy
from collection_policy.vocabulary import CHANNELS

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

DPD_EDGES = [0, 1, 5, 30, 31, 45, 59, 60, 61, 90, 91, 120, 121, 365]
AMOUNT_EDGES = [0.0, 40.0, 49.99, 50.0, 99.99, 100.0, 299.99, 300.0, 4999.0, 5000.0, 20000.0]
ZONES = ["Asia/Shanghai", "Asia/Urumqi", "America/New_York", "Europe/Berlin", "Not/AZone", None]

amount = st.one_of(st.sampled_from(AMOUNT_EDGES), st.floats(0, 1e6, allow_nan=False))
row = st.fixed_dictionaries(
    {
        "pd": st.one_of(st.sampled_from([0.0, 0.1, 0.3, 1.0]), st.floats(0, 1)),
        "score": st.floats(200, 900),
        "grade": st.sampled_from(list("ABCDEFG") + ["?"]),
        "days_past_due": st.one_of(st.sampled_from(DPD_EDGES), st.integers(0, 1000)),
        "overdue_amount": amount,
        "first_time_delinquency": st.booleans(),
        "dispute": st.booleans() | st.just(False),
        "hardship": st.booleans() | st.just(False),
        "opt_out": st.booleans() | st.just(False),
        "deceased": st.booleans() | st.just(False) | st.just(False),
        "timezone": st.sampled_from(ZONES),
        "outstanding_balance": amount,
        "delinquency_episodes": st.integers(0, 8),
        "broken_promises": st.sampled_from([0, 0, 1, 2, 5]),
        "never_paid": st.booleans() | st.just(False),
    }
)
frames = st.lists(row, min_size=1, max_size=25).map(pd.DataFrame)
MODES = ["rules", "expected_value"]
NO_CALL_KINDS = {"voice", "field", "referral", "third_party"}


def check_guardrails(acc: dict, out: dict, pol: CollectionPolicy) -> None:
    g = pol.guardrails
    chans = split_names(out["channels"])
    kinds = {CHANNELS[c].kind for c in chans}
    dpd, overdue = acc["days_past_due"], acc["overdue_amount"]
    balance = max(acc["outstanding_balance"], overdue)
    tier = int(out["tier"])
    guards = set(split_names(out["guardrails"]))
    r = pol.routes
    assert r is not None and g.call_floor is not None and g.credit_bureau_notice is not None
    fraud = acc["never_paid"] and dpd >= r.suspected_fraud.min_days_past_due
    repeat = (
        acc["delinquency_episodes"] >= r.repeat_or_wilful.min_delinquency_episodes
        or acc["broken_promises"] >= r.repeat_or_wilful.min_broken_promises
    )

    assert 0 <= tier < pol.n_tiers
    assert out["tier_name"] == pol.tier(tier).label
    assert "third_party" not in kinds, "no_third_party_contact"
    if "field_visit" in chans:
        fv = g.field_visits
        assert fv.enabled and dpd >= max(60, fv.min_days_past_due) and balance >= fv.min_balance
    for t in (tier, int(out["rule_tier"]), int(out["ev_tier"])):
        spec = pol.tier(t)
        assert dpd >= spec.min_days_past_due and overdue >= spec.min_overdue_amount
        if acc["first_time_delinquency"] and overdue < g.first_time_small_overdue.threshold:
            assert t <= g.first_time_small_overdue.max_tier <= pol.soft_max_tier
        if balance < g.small_balance.threshold:
            assert t <= g.small_balance.max_tier
        for s in g.stop_contact:
            if acc[s.flag]:
                assert t <= s.max_tier
        if overdue < g.call_floor.threshold:
            assert t <= g.call_floor.max_tier <= pol.soft_max_tier, "call_floor"
        if t >= 4:  # agency and legal tiers only above their amount floors
            assert overdue >= spec.min_overdue_amount > 0
        if fraud:
            assert t <= r.suspected_fraud.max_tier == 0
    assert pol.tier(int(out["ev_tier"])).ev.eligible
    if tier <= pol.soft_max_tier:
        assert not kinds & NO_CALL_KINDS, "soft tiers never call, visit or refer"
    if overdue < g.call_floor.threshold:
        assert not kinds & NO_CALL_KINDS, "no calls, visits or referrals below the call floor"
    notice = g.credit_bureau_notice
    plain = [c for c in chans if c not in notice.channels]  # the notice is added last
    set_flags = [s for s in g.stop_contact if acc[s.flag]]
    if set_flags:
        assert out["handling"] == set_flags[0].route
        assert tuple(plain) == set_flags[0].channels
        assert {f"stop_contact_{s.flag}" for s in set_flags} <= guards
    elif fraud:
        assert out["handling"] == r.suspected_fraud.route
        assert tuple(plain) == r.suspected_fraud.channels, "a review queue, never a collector"
        assert "suspected_fraud" in guards
    elif out["handling"] == r.write_off_recommendation.route:
        assert "write_off_recommendation" in guards and tier <= pol.soft_max_tier
        assert overdue < pol.tier(r.write_off_recommendation.below_floor_of_tier).min_overdue_amount
        assert "legal_review_queue" not in chans and not kinds & NO_CALL_KINDS
    elif repeat and dpd >= 1:
        assert out["handling"] == r.repeat_or_wilful.route
    else:
        assert out["handling"] == "standard"
    held = out["handling"] in notice.hold_routes
    in_window = notice.notice_from_days_past_due <= dpd < notice.report_from_days_past_due
    if in_window and not held:
        assert set(notice.channels) <= set(chans) and "credit_bureau_notice" in guards
    else:
        assert not set(notice.channels) & set(chans)
    realtime = kinds & {"digital", "voice", "field", "referral"}
    if realtime:
        zone = (
            acc["timezone"] if acc["timezone"] in ZONES[:-2] else g.contact_window.default_timezone
        )
        assert out["caps"].endswith(f"contact 08:00-21:00 {zone}")
        assert "contact_window" in guards
    else:
        assert "contact 08:00" not in out["caps"]
    if kinds & {"voice", "referral"}:
        m = re.search(r"max (\d+) connected calls/day, (\d+) call attempts/7 days", out["caps"])
        assert m and int(m.group(1)) <= 3 and int(m.group(2)) <= 7
        assert "call_caps" in guards


@pytest.mark.slow  # ~4-7 s: two policies x 100 generated books
@pytest.mark.parametrize("mode", MODES)
@SETTINGS
@given(df=frames)
def test_guardrails_always_hold(policy, visits_policy, df, mode):
    for pol in (policy, visits_policy):
        out = assign_tiers(df, pol, mode)
        for acc, res in zip(df.to_dict("records"), out.to_dict("records"), strict=True):
            check_guardrails(acc, res, pol)


@pytest.mark.parametrize("mode", MODES)
@SETTINGS
@given(df=frames)
def test_every_account_gets_exactly_one_tier(policy, df, mode):
    out = assign_tiers(df, policy, mode)
    assert len(out) == len(df) and out.index.equals(df.index)
    assert out["tier"].notna().all() and out["tier"].between(0, policy.n_tiers - 1).all()
    expected = out["ev_tier"] if mode == "expected_value" else out["rule_tier"]
    assert (out["tier"] == expected).all()
    # the recorded rule matches the account and no earlier-priority rule does
    cols = {c: (df[c] if c == "grade" else df[c].to_numpy()) for c in df.columns}
    cols["repeat_or_wilful"] = repeat_or_wilful(policy, cols)  # derived from the thresholds
    matches = np.stack([r.matches(cols) for r in policy.rules])  # (rules, rows)
    prio = np.array([r.priority for r in policy.rules])
    names = [r.name for r in policy.rules]
    for i, name in enumerate(out["rule"]):
        k = names.index(name)
        assert matches[k, i]
        assert not matches[prio < prio[k], i].any()


@pytest.mark.parametrize("mode", MODES)
@SETTINGS
@given(df=frames, bump=st.floats(0, 1), data=st.data())
def test_tier_never_falls_when_pd_rises(policy, df, bump, mode, data):
    higher = df.copy()
    higher["pd"] = np.minimum(1.0, df["pd"] + bump)
    lo, hi = assign_tiers(df, policy, mode), assign_tiers(higher, policy, mode)
    for col in ("tier", "rule_tier", "ev_tier"):
        assert (hi[col] >= lo[col]).all(), col


#: Guardrails of the routes that take an account off the ladder to a human queue (recorded
#: whenever the route's condition holds, even under a stop-contact flag's handling).
EXIT_GUARDRAILS = {"suspected_fraud", "write_off_recommendation"}


@SETTINGS
@given(df=frames, more_days=st.integers(0, 200), more_amount=st.floats(0, 1e5))
def test_rules_tier_never_falls_with_days_past_due_or_amount(policy, df, more_days, more_amount):
    """Monotone everywhere except where the worse account leaves the ladder for a human route
    (suspected-fraud review, write-off recommendation below the legal floor past charge-off);
    check_guardrails proves those routes only ever use queues and written notices."""
    worse = df.copy()
    worse["days_past_due"] = df["days_past_due"] + more_days
    worse["overdue_amount"] = df["overdue_amount"] + more_amount
    hi, lo = assign_tiers(worse, policy, "rules"), assign_tiers(df, policy, "rules")
    stays = np.array([not set(split_names(g)) & EXIT_GUARDRAILS for g in hi["guardrails"]])
    assert (hi["tier"][stays] >= lo["tier"][stays]).all()


@pytest.mark.parametrize("mode", MODES)
@SETTINGS
@given(df=frames, episodes=st.integers(0, 6), promises=st.integers(0, 4))
def test_repeat_or_wilful_never_lowers_a_tier(policy, df, episodes, promises, mode):
    """More delinquency episodes or broken promises escalate or leave the tier: never lower it."""
    worse = df.copy()
    worse["delinquency_episodes"] = df["delinquency_episodes"] + episodes
    worse["broken_promises"] = df["broken_promises"] + promises
    hi, lo = assign_tiers(worse, policy, mode), assign_tiers(df, policy, mode)
    for col in ("tier", "rule_tier"):
        assert (hi[col] >= lo[col]).all(), col

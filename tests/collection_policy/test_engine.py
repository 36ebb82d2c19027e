"""Unit tests of the tier engine on hand-made frames."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from collection_policy.engine import (
    OUTPUT_COLUMNS,
    accounts_from_features,
    assign_tiers,
    contact_allowed,
    may_contact_at,
    split_names,
)
from collection_policy.loader import policy_from_dict
from core.contracts import FEATURE_TO_POLICY
from core.errors import DataValidationError

LATE = {"days_past_due": 100, "overdue_amount": 2000.0, "pd": 0.7, "outstanding_balance": 8000.0}


def test_output_shape_index_and_columns(policy, accounts):
    df = accounts({}, {"days_past_due": 10, "overdue_amount": 300.0}, LATE)
    df.index = [10, 20, 30]
    out = assign_tiers(df, policy, "rules")
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert list(out.index) == [10, 20, 30]
    assert out["tier"].dtype == np.int8
    assert (out["mode"] == "rules").all()


def test_empty_frame(policy, accounts):
    out = assign_tiers(accounts().iloc[:0], policy, "expected_value")
    assert len(out) == 0 and list(out.columns) == list(OUTPUT_COLUMNS)


@pytest.mark.parametrize(
    ("row", "tier", "rule"),
    [
        ({}, 0, "current_low_pd"),
        ({"pd": 0.4}, 0, "current_high_pd_pre_due_nudge"),
        ({"days_past_due": 10, "overdue_amount": 300.0, "pd": 0.05}, 1, "early_low_pd"),
        ({"days_past_due": 10, "overdue_amount": 900.0, "pd": 0.2}, 2, "early_mid_pd"),
        ({"days_past_due": 40, "overdue_amount": 900.0, "pd": 0.5}, 3, "bucket2_high_pd"),
        ({"days_past_due": 70, "overdue_amount": 900.0, "pd": 0.05}, 3, "bucket3"),
        ({"days_past_due": 100, "overdue_amount": 200.0, "pd": 0.9}, 3, "late_small_amount"),
        (LATE, 4, "late_agency_referral"),
        ({**LATE, "days_past_due": 150}, 5, "charge_off_review"),
    ],
)
def test_rule_ladder(policy, accounts, row, tier, rule):
    out = assign_tiers(accounts(row), policy, "rules").iloc[0]
    assert (out["tier"], out["rule"]) == (tier, rule)
    assert out["rule_tier"] == tier


def test_pre_due_nudge_only_when_pd_high(policy, accounts):
    out = assign_tiers(accounts({"pd": 0.05}, {"pd": 0.4}), policy, "rules")
    assert out["channels"].tolist() == ["", "app_push"]
    assert out["caps"].iloc[0] == "no contact"
    assert "pre-due" in out["offer"].iloc[1]


def test_legal_review_is_a_human_queue(policy, accounts):
    out = assign_tiers(accounts({**LATE, "days_past_due": 200}), policy, "rules").iloc[0]
    assert out["tier"] == 5
    assert out["channels"] == "legal_review_queue"
    assert out["caps"] == "no contact"


@pytest.mark.parametrize(
    ("flag", "route", "channels", "max_tier"),
    [
        ("dispute", "dispute_resolution", "dispute_resolution_queue", 0),
        ("opt_out", "written_notice_only", "written_notice", 1),
        ("deceased", "estate_bereavement", "estate_queue", 0),
        ("hardship", "hardship_review", "hardship_review_queue", 1),
    ],
)
def test_stop_contact_flags_route_instead_of_escalating(
    policy, accounts, flag, route, channels, max_tier
):
    out = assign_tiers(accounts({**LATE, flag: True}), policy, "rules").iloc[0]
    assert out["handling"] == route
    assert out["channels"] == channels
    assert out["tier"] <= max_tier
    assert f"stop_contact_{flag}" in split_names(out["guardrails"])
    assert out["rule"] == "late_agency_referral"  # the rule that would have decided is kept


def test_flag_precedence_and_all_flags_recorded(policy, accounts):
    out = assign_tiers(
        accounts({**LATE, "deceased": True, "dispute": True, "opt_out": True}), policy, "rules"
    )
    row = out.iloc[0]
    assert row["handling"] == "estate_bereavement"
    g = split_names(row["guardrails"])
    assert {"stop_contact_deceased", "stop_contact_dispute", "stop_contact_opt_out"} <= set(g)


def test_agency_referral_needs_90_dpd_and_amount(policy, accounts):
    out = assign_tiers(accounts(LATE, {**LATE, "overdue_amount": 200.0}), policy, "rules")
    assert out["tier"].tolist() == [4, 3]
    assert "agency" in out["caps"].iloc[0]


def test_tier_entry_minimum_caps_a_rule(raw_policy, accounts):
    raw_policy["tiers"][4]["entry"]["min_overdue_amount"] = 5000
    pol = policy_from_dict(raw_policy)
    out = assign_tiers(accounts(LATE), pol, "rules").iloc[0]
    assert out["tier"] == 3 and out["rule"] == "late_agency_referral"
    assert "tier_entry_minimum" in split_names(out["guardrails"])


def test_small_balance_stays_soft(policy, accounts):
    out = assign_tiers(
        accounts({**LATE, "overdue_amount": 45.0, "outstanding_balance": 45.0}), policy, "rules"
    )
    row = out.iloc[0]
    assert row["tier"] == 1
    assert "small_balance" in split_names(row["guardrails"])


def test_field_visits_disabled_by_default(policy, accounts):
    out = assign_tiers(
        accounts({"days_past_due": 75, "overdue_amount": 9000.0, "outstanding_balance": 20000.0}),
        policy,
        "rules",
    )
    row = out.iloc[0]
    assert row["tier"] == 3
    assert "field_visit" not in split_names(row["channels"])
    assert "no_field_visit" in split_names(row["guardrails"])


def test_field_visits_when_enabled_respect_dpd_and_amount(visits_policy, accounts):
    rows = [
        {"days_past_due": 75, "overdue_amount": 9000.0, "outstanding_balance": 20000.0},  # allowed
        {"days_past_due": 75, "overdue_amount": 900.0, "outstanding_balance": 1000.0},  # small
        {
            "days_past_due": 45,
            "overdue_amount": 9000.0,
            "outstanding_balance": 20000.0,
            "pd": 0.5,
        },  # early
    ]
    out = assign_tiers(accounts(*rows), visits_policy, "rules")
    assert out["tier"].tolist() == [3, 3, 3]
    has_visit = ["field_visit" in split_names(c) for c in out["channels"]]
    assert has_visit == [True, False, False]
    assert "home visit" in out["caps"].iloc[0]


def test_third_party_channel_stripped_at_run_time(policy, accounts):
    # a policy object built around validation (e.g. edited in code) still cannot contact third parties
    import dataclasses

    t3 = dataclasses.replace(
        policy.tiers[3], channels=(*policy.tiers[3].channels, "reference_contact")
    )
    hacked = dataclasses.replace(policy, tiers=(*policy.tiers[:3], t3, *policy.tiers[4:]))
    out = assign_tiers(
        accounts({"days_past_due": 75, "overdue_amount": 900.0}), hacked, "rules"
    ).iloc[0]
    assert out["tier"] == 3
    assert "reference_contact" not in out["channels"]
    assert "no_third_party_contact" in split_names(out["guardrails"])


def test_call_caps_and_contact_window_in_caps(policy, accounts):
    out = assign_tiers(
        accounts(
            {
                "days_past_due": 40,
                "overdue_amount": 900.0,
                "pd": 0.5,
                "timezone": "America/New_York",
            }
        ),
        policy,
        "rules",
    ).iloc[0]
    assert out["caps"] == (
        "max 1 msg/day; max 3 connected calls/day, 7 call attempts/7 days; "
        "contact 08:00-21:00 America/New_York"
    )
    assert {"call_caps", "contact_window"} <= set(split_names(out["guardrails"]))


@pytest.mark.parametrize("tz", ["Not/AZone", None, ""])
def test_unknown_timezone_falls_back_and_is_recorded(policy, accounts, tz):
    out = assign_tiers(
        accounts({"days_past_due": 10, "overdue_amount": 300.0, "timezone": tz}), policy, "rules"
    ).iloc[0]
    assert out["caps"].endswith("contact 08:00-21:00 Asia/Shanghai")
    assert "unknown_timezone" in split_names(out["guardrails"])


def test_may_contact_at(policy):
    sh = "Asia/Shanghai"  # UTC+8
    assert not may_contact_at(sh, datetime(2026, 1, 5, 23, 59, tzinfo=UTC), policy)  # 07:59
    assert may_contact_at(sh, datetime(2026, 1, 6, 0, 0, tzinfo=UTC), policy)  # 08:00
    assert may_contact_at(sh, datetime(2026, 1, 6, 12, 59, tzinfo=UTC), policy)  # 20:59
    assert not may_contact_at(sh, datetime(2026, 1, 6, 13, 0, tzinfo=UTC), policy)  # 21:00
    ny_summer = datetime(2026, 7, 1, 12, 30, tzinfo=UTC)  # 08:30 EDT
    ny_winter = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)  # 07:30 EST
    assert may_contact_at("America/New_York", ny_summer, policy)
    assert not may_contact_at("America/New_York", ny_winter, policy)
    assert may_contact_at(
        "Bogus/Zone", datetime(2026, 1, 6, 1, 0, tzinfo=UTC), policy
    )  # default zone
    with pytest.raises(ValueError, match="timezone-aware"):
        may_contact_at(sh, datetime(2026, 1, 6, 1, 0), policy)


def test_contact_allowed_matches_scalar(policy):
    tz = pd.Series(["Asia/Shanghai", "America/New_York", None, "Europe/London", "Asia/Shanghai"])
    for hour in range(24):
        t = datetime(2026, 3, 10, hour, 15, tzinfo=UTC)
        vec = contact_allowed(tz, t, policy)
        assert vec.tolist() == [may_contact_at(z, t, policy) for z in tz]


def test_expected_value_mode_brute_force(policy, accounts):
    rng = np.random.default_rng(3)
    n = 300
    df = accounts(
        *[
            {
                "pd": float(rng.uniform()),
                "days_past_due": int(rng.choice([0, 5, 40, 70, 100, 150])),
                "overdue_amount": float(rng.choice([0, 40, 120, 300, 900, 5000, 20000])),
                "outstanding_balance": float(rng.choice([20, 50, 3000, 30000])),
                "first_time_delinquency": bool(rng.random() < 0.3),
                "hardship": bool(rng.random() < 0.05),
            }
            for _ in range(n)
        ]
    )
    out = assign_tiers(df, policy, "expected_value")
    rules = assign_tiers(df, policy, "rules")
    assert (out["tier"] == out["ev_tier"]).all() and (out["mode"] == "expected_value").all()
    assert (out["rule_tier"] == rules["tier"]).all() and (rules["ev_tier"] == out["ev_tier"]).all()
    g = policy.guardrails
    slopes = np.array([t.ev.net_cure for t in policy.tiers])
    costs = np.array([t.ev.cost for t in policy.tiers])
    for i, row in df.iterrows():
        # allowed tiers: everything the rules-mode guardrails allow at or below T4 (T5 never by value)
        x = row["overdue_amount"] * row["pd"]
        values = x * slopes - costs
        allowed = [
            t.id
            for t in policy.tiers
            if t.ev.eligible
            and row["days_past_due"] >= t.min_days_past_due
            and row["overdue_amount"] >= t.min_overdue_amount
        ]
        cap = 5
        if (
            row["first_time_delinquency"]
            and row["overdue_amount"] < g.first_time_small_overdue.threshold
        ):
            cap = min(cap, 1)
        if max(row["outstanding_balance"], row["overdue_amount"]) < g.small_balance.threshold:
            cap = min(cap, 1)
        if row["hardship"]:
            cap = min(cap, 1)
        if row["overdue_amount"] < g.call_floor.threshold:
            cap = min(cap, g.call_floor.max_tier)
        w = policy.routes.write_off_recommendation
        proposed = policy.rule(rules.loc[i, "rule"]).tier
        floor = policy.tier(w.below_floor_of_tier).min_overdue_amount
        if proposed >= w.below_floor_of_tier and row["overdue_amount"] < floor:
            cap = min(cap, w.max_tier)
        allowed = [t for t in allowed if t <= cap] or [0]
        best = max(allowed, key=lambda t: (values[t], -t))
        assert out.loc[i, "ev_tier"] == best, (row.to_dict(), values)
        assert out.loc[i, "ev_value"] == pytest.approx(values[best])
    assert (out["ev_tier"] < 5).all()


def test_input_validation_errors(policy, accounts):
    with pytest.raises(DataValidationError, match="missing required column"):
        assign_tiers(accounts().drop(columns=["timezone"]), policy, "rules")
    with pytest.raises(DataValidationError, match=r"column 'pd', row 1: must lie in \[0, 1\]"):
        assign_tiers(accounts({}, {"pd": 1.5}), policy, "rules")
    with pytest.raises(DataValidationError, match="column 'pd', row 0: must be a finite number"):
        assign_tiers(accounts({"pd": np.nan}), policy, "rules")
    with pytest.raises(DataValidationError, match="whole days"):
        assign_tiers(accounts({"days_past_due": 3.5}), policy, "rules")
    with pytest.raises(DataValidationError, match="overdue_amount.*>= 0"):
        assign_tiers(accounts({"overdue_amount": -1.0}), policy, "rules")
    df = accounts({}, {})
    df["dispute"] = pd.array([False, pd.NA], dtype="boolean")
    with pytest.raises(DataValidationError, match="column 'dispute', row 1: flag is missing"):
        assign_tiers(df, policy, "rules")
    with pytest.raises(ValueError, match="mode"):
        assign_tiers(accounts(), policy, "vibes")


def test_flags_accept_nullable_boolean_and_01(policy, accounts):
    df = accounts({**LATE}, {**LATE})
    df["dispute"] = pd.array([True, False], dtype="boolean")
    df["deceased"] = [0, 1]
    out = assign_tiers(df, policy, "rules")
    assert out["handling"].tolist() == ["dispute_resolution", "estate_bereavement"]


def test_accounts_from_features_maps_policy_columns(policy, accounts):
    base = accounts(LATE)
    feat = base.rename(columns={v: k for k, v in FEATURE_TO_POLICY.items()})
    assert all(c.startswith("policy__") for c in FEATURE_TO_POLICY)
    pd.testing.assert_frame_equal(
        assign_tiers(accounts_from_features(feat), policy, "rules"),
        assign_tiers(base, policy, "rules"),
    )


def test_row_order_does_not_matter(policy, accounts):
    rng = np.random.default_rng(7)
    rows = [
        {
            "pd": float(rng.uniform()),
            "days_past_due": int(rng.integers(0, 200)),
            "overdue_amount": float(rng.choice([40, 300, 900, 6000])),
            "dispute": bool(rng.random() < 0.1),
            "timezone": str(rng.choice(["Asia/Shanghai", "Asia/Urumqi", "bad"])),
        }
        for _ in range(200)
    ]
    df = accounts(*rows)
    for mode in ("rules", "expected_value"):
        a = assign_tiers(df, policy, mode)
        perm = rng.permutation(len(df))
        b = assign_tiers(df.iloc[perm], policy, mode)
        pd.testing.assert_frame_equal(a.iloc[perm], b)

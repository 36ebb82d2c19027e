"""The seed case: 40 CNY overdue for the first time gets a soft reminder with grace, nothing more."""

from __future__ import annotations

import pytest

from collection_policy.engine import assign_tiers, split_names
from collection_policy.vocabulary import CHANNELS

SEED = {
    "days_past_due": 5,
    "overdue_amount": 40.0,
    "first_time_delinquency": True,
    "pd": 0.12,  # moderate
    "grade": "F",
    "score": 560.0,
    "outstanding_balance": 480.0,
}


def _no_calls_visits_or_third_party(channels: str) -> None:
    for ch in split_names(channels):
        assert CHANNELS[ch].kind in ("digital", "written", "queue"), ch


@pytest.mark.parametrize("mode", ["rules", "expected_value"])
def test_first_time_40_cny_gets_soft_reminder_with_grace(policy, accounts, mode):
    out = assign_tiers(accounts(SEED), policy, mode).iloc[0]
    if mode == "rules":
        assert out["tier"] == 1
        assert out["tier_name"] == "T1 soft reminder"
        assert out["rule"] == "first_time_small_overdue_grace"
        assert "grace period" in out["offer"] and "late-fee waiver" in out["offer"]
        assert set(split_names(out["channels"])) == {"app_push", "sms", "email"}
        assert out["caps"] == "max 1 msg/day; contact 08:00-21:00 Asia/Shanghai"
    assert out["tier"] <= 1 and out["rule_tier"] <= 1 and out["ev_tier"] <= 1
    _no_calls_visits_or_third_party(out["channels"])
    assert "field_visit" not in out["channels"]
    assert out["handling"] == "standard"


@pytest.mark.parametrize(
    "worse",
    [
        {"pd": 0.99, "grade": "G", "score": 300.0},
        {"days_past_due": 45},
        {"days_past_due": 100, "pd": 0.9},
        {"days_past_due": 200, "pd": 1.0, "outstanding_balance": 50_000.0},
    ],
)
@pytest.mark.parametrize("mode", ["rules", "expected_value"])
def test_first_time_40_cny_never_reaches_calls_however_bad(
    policy, visits_policy, accounts, worse, mode
):
    for pol in (policy, visits_policy):
        out = assign_tiers(accounts({**SEED, **worse}), pol, mode).iloc[0]
        assert out["tier"] <= 1
        _no_calls_visits_or_third_party(out["channels"])
        if (
            mode == "rules" and pol.rule(out["rule"]).tier > 1
        ):  # rule wanted more: the guardrail says why not
            assert "first_time_small_overdue" in split_names(out["guardrails"])


def test_seed_case_capped_later_records_the_guardrail(policy, accounts):
    out = assign_tiers(accounts({**SEED, "days_past_due": 45, "pd": 0.5}), policy, "rules").iloc[0]
    assert out["rule"] == "bucket2_high_pd"  # the rule wanted T3 ...
    assert out["tier"] == 1  # ... the guardrail held it at T1
    assert "first_time_small_overdue" in split_names(out["guardrails"])


def test_repeat_delinquent_with_same_amount_is_not_offered_grace(policy, accounts):
    out = assign_tiers(accounts({**SEED, "first_time_delinquency": False}), policy, "rules").iloc[0]
    assert out["rule"] == "early_mid_pd_small_amount"
    assert out["tier"] == 1
    assert "grace" not in out["offer"]

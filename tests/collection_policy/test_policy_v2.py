"""Policy v2 (issue 17): amount floors, the call floor, the new routes and the credit-bureau notice."""

from __future__ import annotations

from typing import Any

import pytest

from collection_policy.engine import GUARDRAILS, assign_tiers, split_names
from collection_policy.loader import policy_from_dict
from collection_policy.render import policy_markdown
from collection_policy.tiering import tier_book
from collection_policy.vocabulary import CHANNELS, CODE_GUARDRAILS
from core.errors import ConfigError

from .conftest import book_tables, tiers_config

CALLS = {"voice", "field", "referral", "third_party"}
LATE = {"days_past_due": 150, "pd": 0.9, "outstanding_balance": 8000.0}


def _kinds(channels: str) -> set[str]:
    return {CHANNELS[c].kind for c in split_names(channels)}


def _fails(raw: dict[str, Any], key: str, text: str) -> None:
    with pytest.raises(ConfigError) as err:
        policy_from_dict(raw, source="edited policy")
    assert key in str(err.value) and text in str(err.value), str(err.value)


# ---------------------------------------------------------------------------- on a realistic book
@pytest.mark.parametrize("mode", ["rules", "expected_value"])
def test_book_t4_t5_above_floor_and_no_calls_below_the_call_floor(policy, mode):
    scores, features = book_tables(n=2000)
    table = tier_book(
        scores, features, None, policy, tiers_config(mode=mode), "features.parquet"
    ).table
    for t in (4, 5):
        rows = table[table["tier"] == t]
        assert (rows["overdue_amount"] >= policy.tier(t).min_overdue_amount).all()
        assert policy.tier(t).min_overdue_amount >= 300
    floor = policy.guardrails.call_floor.threshold
    small = table[table["overdue_amount"] < floor]
    assert len(small) and not any(_kinds(c) & CALLS for c in small["channels"])
    assert (small["tier"] <= policy.soft_max_tier).all()
    if mode == "rules":  # the book exercises every new route
        assert {"repeat_or_wilful", "write_off_recommendation", "fraud_review"} <= set(
            table["handling"]
        )


# ------------------------------------------------------------------------------- floors and calls
@pytest.mark.parametrize("mode", ["rules", "expected_value"])
@pytest.mark.parametrize("dpd", [5, 45, 75, 100, 150, 400])
def test_no_call_below_the_call_floor_at_any_tier(policy, accounts, mode, dpd):
    out = assign_tiers(
        accounts({"days_past_due": dpd, "overdue_amount": 99.0, "pd": 1.0}), policy, mode
    ).iloc[0]
    assert out["tier"] <= 1 and not _kinds(out["channels"]) & CALLS
    if mode == "rules" and dpd >= 31:
        assert "call_floor" in split_names(out["guardrails"])


def test_charge_off_below_the_floor_is_a_write_off_recommendation(policy, accounts):
    out = assign_tiers(accounts({**LATE, "overdue_amount": 250.0}), policy, "rules").iloc[0]
    assert out["rule"] == "charge_off_review"  # the rule wanted T5 ...
    assert out["tier"] == 1  # ... below the legal floor it is a write-off recommendation
    assert out["handling"] == "write_off_recommendation"
    assert set(split_names(out["channels"])) == {"letter", "write_off_review_queue"}
    assert "legal_review_queue" not in out["channels"] and "no legal action" in out["offer"]
    assert {"write_off_recommendation", "tier_entry_minimum"} <= set(split_names(out["guardrails"]))
    above = assign_tiers(accounts({**LATE, "overdue_amount": 300.0}), policy, "rules").iloc[0]
    assert above["tier"] == 5 and above["channels"] == "legal_review_queue"


def test_agency_floor_keeps_small_late_accounts_in_house(policy, accounts):
    out = assign_tiers(
        accounts({**LATE, "days_past_due": 100, "overdue_amount": 250.0}), policy, "rules"
    ).iloc[0]
    assert out["tier"] == 3 and "agency_referral" not in out["channels"]


# ------------------------------------------------------------------------------------- new routes
def test_suspected_fraud_goes_to_review_never_a_collector(policy, accounts):
    df = accounts(
        {**LATE, "overdue_amount": 5000.0, "never_paid": True},
        {"days_past_due": 40, "overdue_amount": 900.0, "pd": 0.8, "never_paid": True},
        {"days_past_due": 10, "overdue_amount": 900.0, "pd": 0.8, "never_paid": True},  # not yet
    )
    for mode in ("rules", "expected_value"):
        out = assign_tiers(df, policy, mode)
        for i in (0, 1):
            row = out.iloc[i]
            assert row["handling"] == "fraud_review" and row["tier"] == 0
            assert row["channels"] == "fraud_review_queue"
            assert {"suspected_fraud", "credit_report_hold"} <= set(split_names(row["guardrails"]))
        assert out.iloc[2]["handling"] == "standard"


def test_stop_contact_flags_take_precedence_over_fraud(policy, accounts):
    out = assign_tiers(
        accounts({**LATE, "overdue_amount": 5000.0, "never_paid": True, "dispute": True}),
        policy,
        "rules",
    ).iloc[0]
    assert out["handling"] == "dispute_resolution"
    assert {"stop_contact_dispute", "suspected_fraud"} <= set(split_names(out["guardrails"]))


@pytest.mark.parametrize(
    ("extra", "repeat"),
    [
        ({"delinquency_episodes": 3}, True),
        ({"broken_promises": 2}, True),
        ({"delinquency_episodes": 2, "broken_promises": 1}, False),
    ],
)
def test_repeat_or_wilful_escalates_sooner_within_the_same_limits(policy, accounts, extra, repeat):
    early = {"days_past_due": 10, "overdue_amount": 500.0, "pd": 0.05}  # T1 when not repeat
    mid = {"days_past_due": 40, "overdue_amount": 500.0, "pd": 0.05}  # T2 when not repeat
    out = assign_tiers(accounts({**early, **extra}, {**mid, **extra}), policy, "rules")
    if repeat:
        assert out["tier"].tolist() == [2, 3]
        assert out["rule"].tolist() == ["repeat_or_wilful_early", "repeat_or_wilful_bucket2"]
        assert (out["handling"] == "repeat_or_wilful").all()
        for caps in out["caps"]:  # same legal limits
            assert "max 3 connected calls/day, 7 call attempts/7 days" in caps or "max 2" in caps
            assert "contact 08:00-21:00" in caps
    else:
        assert out["tier"].tolist() == [1, 2] and (out["handling"] == "standard").all()


def test_repeat_or_wilful_small_amount_still_below_the_call_floor(policy, accounts):
    out = assign_tiers(
        accounts({"days_past_due": 10, "overdue_amount": 60.0, "delinquency_episodes": 5}),
        policy,
        "rules",
    ).iloc[0]
    assert out["rule"] == "repeat_or_wilful_early" and out["tier"] == 1
    assert not _kinds(out["channels"]) & CALLS
    assert "call_floor" in split_names(out["guardrails"])


def test_current_account_with_past_spells_is_not_labelled_repeat(policy, accounts):
    out = assign_tiers(accounts({"delinquency_episodes": 6}), policy, "rules").iloc[0]
    assert out["handling"] == "standard" and out["tier"] == 0


# ------------------------------------------------------------------------------ credit reporting
def test_credit_bureau_notice_has_its_own_window_before_reporting(policy, accounts):
    n = policy.guardrails.credit_bureau_notice
    assert n.report_from_days_past_due > n.notice_from_days_past_due
    base = {"overdue_amount": 900.0, "pd": 0.5}
    dpds = [
        n.notice_from_days_past_due - 1,
        n.notice_from_days_past_due,
        n.report_from_days_past_due - 1,
        n.report_from_days_past_due,
    ]
    out = assign_tiers(accounts(*({**base, "days_past_due": d} for d in dpds)), policy, "rules")
    sent = ["credit_bureau_notice" in split_names(c) for c in out["channels"]]
    assert sent == [False, True, True, False]
    assert f"no negative report before {n.report_from_days_past_due} DPD" in out["caps"].iloc[1]
    held = assign_tiers(
        accounts({**base, "days_past_due": n.notice_from_days_past_due, "dispute": True}),
        policy,
        "rules",
    ).iloc[0]
    assert "credit_bureau_notice" not in held["channels"]
    assert "credit_report_hold" in split_names(held["guardrails"])


def test_opt_out_still_gets_the_written_credit_notice(policy, accounts):
    out = assign_tiers(
        accounts({"days_past_due": 20, "overdue_amount": 900.0, "pd": 0.5, "opt_out": True}),
        policy,
        "rules",
    ).iloc[0]
    assert set(split_names(out["channels"])) == {"written_notice", "credit_bureau_notice"}


# ------------------------------------------------------------------------------------- validation
def test_every_guardrail_needs_a_basis(raw_policy):
    del raw_policy["guardrails"]["call_caps"]["basis"]
    _fails(raw_policy, "guardrails.call_caps.basis", "name the rule behind")


def test_stop_contact_route_needs_a_basis(raw_policy):
    del raw_policy["guardrails"]["stop_contact"][1]["basis"]
    _fails(raw_policy, "guardrails.stop_contact[dispute].basis", "is required")


def test_code_guardrails_need_a_basis(raw_policy):
    del raw_policy["guardrails"]["enforced_in_code"]["human_decision"]
    _fails(raw_policy, "guardrails.enforced_in_code", "human_decision")


def test_legal_tier_without_amount_floor_is_refused(raw_policy):
    raw_policy["tiers"][5]["entry"] = {"min_days_past_due": 91}
    _fails(raw_policy, "tiers[T5].entry.min_overdue_amount", "amount floor")


def test_agency_floor_below_the_call_floor_is_refused(raw_policy):
    raw_policy["tiers"][4]["entry"]["min_overdue_amount"] = 50
    _fails(raw_policy, "tiers[T4].entry.min_overdue_amount", "call floor")


def test_call_floor_may_not_allow_calls(raw_policy):
    raw_policy["guardrails"]["call_floor"]["max_tier"] = 2
    _fails(raw_policy, "guardrails.call_floor.max_tier", "")


def test_credit_report_before_notice_is_refused(raw_policy):
    notice = raw_policy["guardrails"]["credit_bureau_notice"]
    notice["report_from_days_past_due"] = notice["notice_from_days_past_due"]  # same day
    _fails(raw_policy, "report_from_days_past_due", "征信业管理条例 Art. 15")


def test_credit_notice_must_be_written(raw_policy):
    raw_policy["guardrails"]["credit_bureau_notice"]["channels"] = ["sms"]
    _fails(raw_policy, "guardrails.credit_bureau_notice.channels", "written")


def test_credit_hold_must_name_a_route(raw_policy):
    raw_policy["guardrails"]["credit_bureau_notice"]["hold_routes"] = ["nowhere"]
    _fails(raw_policy, "hold_routes", "unknown route 'nowhere'")


def test_fraud_route_may_not_reach_a_collector(raw_policy):
    raw_policy["routes"]["suspected_fraud"]["channels"] = ["agent_call"]
    _fails(raw_policy, "routes.suspected_fraud.channels", "agent_call")
    raw_policy["routes"]["suspected_fraud"]["channels"] = ["letter"]
    _fails(raw_policy, "routes.suspected_fraud.channels", "review queue only")


def test_write_off_route_needs_a_floor_tier(raw_policy):
    raw_policy["routes"]["write_off_recommendation"]["below_floor_of_tier"] = 3
    _fails(raw_policy, "below_floor_of_tier", "no amount floor")


def test_repeat_rule_that_lowers_a_tier_fails_the_proof(raw_policy):
    rule = next(r for r in raw_policy["rules"] if r["name"] == "repeat_or_wilful_early")
    rule["tier"] = 1  # below early_high_pd's T2 for the same account when not repeat
    _fails(raw_policy, "rules[repeat_or_wilful_early].tier", "an escalation flag")


def test_repeat_thresholds_are_checked(raw_policy):
    raw_policy["routes"]["repeat_or_wilful"]["min_delinquency_episodes"] = 1
    _fails(raw_policy, "routes.repeat_or_wilful.min_delinquency_episodes", "")


# ------------------------------------------------------------------------------------ the summary
def test_summary_cites_the_rule_behind_each_guardrail_and_shows_the_routes(policy):
    md = policy_markdown(policy)
    g = policy.guardrails
    for basis in (
        g.contact_window.basis,
        g.call_caps.basis,
        g.field_visits.basis,
        g.first_time_small_overdue.basis,
        g.small_balance.basis,
        g.call_floor.basis,
        g.credit_bureau_notice.basis,
        *(s.basis for s in g.stop_contact),
        *(text for _, text in g.enforced_in_code),
        policy.routes.suspected_fraud.basis,
        policy.routes.write_off_recommendation.basis,
        policy.routes.repeat_or_wilful.basis,
    ):
        assert basis and " ".join(basis.split()) in md
    for source in (
        "互联网金融逾期债务催收自律公约(试行)",
        "征信业管理条例",
        "Art. 15",
        "PIPL) Art. 24",
        "民法典",
        "商业银行信用卡业务监督管理办法",
    ):
        assert source in md, source
    for name in ("fraud_review", "write_off_recommendation", "repeat_or_wilful", "call_floor"):
        assert f"`{name}`" in md
    for name in GUARDRAILS:  # every guardrail a row may record is explained
        if not name.startswith("stop_contact_"):
            assert f"`{name}`" in md, name
    assert set(CODE_GUARDRAILS) == {name for name, _ in g.enforced_in_code}
    assert "(no basis given)" not in md

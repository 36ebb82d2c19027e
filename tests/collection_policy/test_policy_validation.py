"""Policy validation: every kind of broken policy fails at load with the rule and field named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collection_policy.loader import load_policy, policy_from_dict
from collection_policy.render import policy_markdown
from core.errors import ConfigError


def _rule(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in raw["rules"] if r["name"] == name)


def _fails(raw: dict[str, Any], *fragments: str) -> str:
    with pytest.raises(ConfigError) as exc:
        policy_from_dict(raw, source="test-policy")
    msg = str(exc.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    assert msg.startswith("test-policy:")
    return msg


def test_shipped_policy_is_valid(policy):
    assert [t.id for t in policy.tiers] == [0, 1, 2, 3, 4, 5]
    assert policy.rules[0].priority <= policy.rules[-1].priority
    assert policy.guardrails.field_visits.enabled is False
    assert len(policy.fingerprint()) == 12


def test_gap_is_rejected_with_the_uncovered_region(raw_policy):
    raw_policy["rules"] = [r for r in raw_policy["rules"] if r["name"] != "charge_off_review"]
    msg = _fails(raw_policy, "rules:", "gap", "days_past_due=")
    assert "days_past_due=121" in msg or "days_past_due=1" in msg


def test_gap_in_pd_band_is_rejected(raw_policy):
    _rule(raw_policy, "early_high_pd")["when"]["pd"] = {"gte": 0.35}  # (0.30, 0.35) uncovered
    _fails(raw_policy, "gap", "pd=0.3")


def test_catch_all_closes_any_gap(raw_policy):
    raw_policy["rules"] = [r for r in raw_policy["rules"] if r["name"] != "charge_off_review"]
    raw_policy["rules"].append({"name": "catch_all", "priority": 999, "tier": 5})
    p = policy_from_dict(raw_policy)
    assert p.rules[-1].name == "catch_all" and p.rules[-1].conditions == ()


def test_overlap_at_same_priority_names_both_rules_and_fields(raw_policy):
    _rule(raw_policy, "early_low_pd")["when"]["pd"] = {"lt": 0.20}  # overlaps the mid-PD rules
    _fails(raw_policy, "rules[early_low_pd]", "overlaps rules[early_mid_pd", "priority 30", "'pd'")


def test_overlap_at_different_priorities_is_first_match(raw_policy):
    # the grace rule (priority 20) overlaps early_low_pd (30) by design: allowed
    p = policy_from_dict(raw_policy)
    grace, low = p.rule("first_time_small_overdue_grace"), p.rule("early_low_pd")
    assert grace.priority < low.priority


def test_unknown_channel_names_tier_and_channel(raw_policy):
    raw_policy["tiers"][1]["channels"].append("carrier_pigeon")
    _fails(raw_policy, "tiers[T1].channels", "unknown channel 'carrier_pigeon'")


def test_unknown_channel_in_rule_override(raw_policy):
    _rule(raw_policy, "current_high_pd_pre_due_nudge")["channels"] = ["fax"]
    _fails(raw_policy, "rules[current_high_pd_pre_due_nudge].channels", "'fax'")


def test_threshold_of_wrong_type_names_rule_and_field(raw_policy):
    _rule(raw_policy, "early_low_pd")["when"]["pd"] = {"lt": "0.10"}
    _fails(raw_policy, "rules[early_low_pd].when.pd.lt", "expected a number", "'0.10'")


def test_boolean_threshold_is_not_a_number(raw_policy):
    _rule(raw_policy, "early_low_pd")["when"]["pd"] = {"lt": True}
    _fails(raw_policy, "rules[early_low_pd].when.pd.lt", "expected a number")


def test_fractional_days_past_due_threshold(raw_policy):
    _rule(raw_policy, "bucket3")["when"]["days_past_due"] = {"gte": 60.5, "lte": 90}
    _fails(raw_policy, "rules[bucket3].when.days_past_due.gte", "expected an integer")


def test_flag_condition_must_be_boolean(raw_policy):
    _rule(raw_policy, "first_time_small_overdue_grace")["when"]["first_time_delinquency"] = "yes"
    _fails(raw_policy, "when.first_time_delinquency", "true or false")


def test_unknown_rule_field(raw_policy):
    _rule(raw_policy, "bucket3")["when"]["income"] = {"lt": 5}
    _fails(raw_policy, "rules[bucket3].when.income", "not a rule field")


def test_empty_interval(raw_policy):
    _rule(raw_policy, "bucket3")["when"]["days_past_due"] = {"gte": 90, "lte": 61}
    _fails(raw_policy, "rules[bucket3].when.days_past_due", "empty interval")


def test_third_party_channel_is_rejected(raw_policy):
    raw_policy["tiers"][3]["channels"].append("reference_contact")
    _fails(raw_policy, "tiers[T3].channels", "third-party", "no_third_party_contact")


def test_soft_tier_may_not_call(raw_policy):
    raw_policy["tiers"][1]["channels"].append("agent_call")
    _fails(raw_policy, "tiers[T1].channels", "soft tier")


def test_unreachable_rule(raw_policy):
    raw_policy["rules"].append(
        {"name": "dead", "priority": 80, "when": {"days_past_due": {"gte": 200}}, "tier": 5}
    )
    _fails(raw_policy, "rules[dead].when", "never decide")


def test_tier_falling_with_pd_is_rejected(raw_policy):
    _rule(raw_policy, "bucket2_high_pd")["tier"] = 1  # below bucket2_low_pd's T2
    _fails(raw_policy, "rules[bucket2_high_pd].tier", "'pd' rises", "monotone_in")


def test_unknown_tier_in_rule(raw_policy):
    _rule(raw_policy, "bucket3")["tier"] = 9
    _fails(raw_policy, "rules[bucket3].tier", "expected an integer in [0, 5]")


def test_duplicate_rule_name(raw_policy):
    raw_policy["rules"].append(dict(_rule(raw_policy, "bucket3")))
    _fails(raw_policy, "rules[bucket3].name", "two rules")


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (("contact_window", "end"), "22:00", "within 08:00-21:00"),
        (("contact_window", "start"), "07:00", "within 08:00-21:00"),
        (("call_caps", "connected_calls_per_day"), 4, "expected an integer in [0, 3]"),
        (("call_caps", "call_attempts_per_7_days"), 10, "expected an integer in [0, 7]"),
        (("field_visits", "min_days_past_due"), 30, "expected an integer in [60,"),
        (("first_time_small_overdue", "max_tier"), 3, "expected an integer in [0, 1]"),
        (("small_balance", "threshold"), "100", "expected a number"),
        (("contact_window", "default_timezone"), "Mars/Olympus", "not an IANA zone"),
    ],
)
def test_guardrails_cannot_be_loosened(raw_policy, path, value, fragment):
    raw_policy["guardrails"][path[0]][path[1]] = value
    _fails(raw_policy, f"guardrails.{path[0]}", fragment)


def test_stop_contact_route_may_not_call(raw_policy):
    raw_policy["guardrails"]["stop_contact"][1]["channels"] = ["agent_call"]
    _fails(raw_policy, "guardrails.stop_contact[dispute].channels", "written notices or queues")


def test_every_stop_flag_needs_a_route(raw_policy):
    raw_policy["guardrails"]["stop_contact"].pop()
    _fails(raw_policy, "guardrails.stop_contact", "opt_out")


def test_tier_call_cap_above_guardrail(raw_policy):
    raw_policy["guardrails"]["call_caps"]["connected_calls_per_day"] = 2
    _fails(raw_policy, "tiers[T3].caps.connected_calls_per_day", "exceeds guardrails.call_caps")


def test_ev_net_cure_must_not_fall_with_intensity(raw_policy):
    raw_policy["tiers"][4]["ev"]["commission"] = 0.6  # 0.8 * 0.4 = 0.32 < T3's 0.45
    _fails(raw_policy, "tiers[T4].ev.cure_rate", "non-decreasing")


def test_tiers_must_be_listed_in_order(raw_policy):
    raw_policy["tiers"][2]["id"] = 7
    _fails(raw_policy, "tiers[2].id", "must be 2")


def test_unknown_top_level_key(raw_policy):
    raw_policy["guardrail"] = {}
    _fails(raw_policy, "policy.guardrail", "not a known key")


def test_load_policy_file_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="file not found"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_policy(bad)


def test_policy_markdown_lists_every_tier_rule_and_guardrail(policy):
    md = policy_markdown(policy)
    for t in policy.tiers:
        assert t.label in md
    for r in policy.rules:
        assert f"`{r.name}`" in md
    for g in ("contact_window", "call_caps", "no_field_visit", "first_time_small_overdue"):
        assert g in md
    assert policy.fingerprint() in md
    assert "| dispute | dispute_resolution |" in md

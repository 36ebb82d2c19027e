"""Tier summaries, the headline numbers and the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collection_policy.engine import assign_tiers
from collection_policy.tiers_plot import (
    RISE_FLAGS,
    bad_rate_rises,
    summarise_tiers,
    tiers_headline,
    tiers_png,
)

LATE = {"days_past_due": 100, "overdue_amount": 2000.0, "pd": 0.7, "outstanding_balance": 8000.0}


def test_summary_totals(policy, accounts):
    df = accounts({}, {"pd": 0.4}, LATE, {**LATE, "days_past_due": 150}, {**LATE, "dispute": True})
    out = assign_tiers(df, policy, "rules")
    labels = pd.Series([0, 0, 1, 1, pd.NA], dtype="Int8")
    s = summarise_tiers(df, out, policy, labels)
    assert s["accounts"] == 5
    assert sum(t["accounts"] for t in s["tiers"].values()) == 5
    exposure = np.maximum(df["outstanding_balance"], df["overdue_amount"])
    assert s["expected_loss"] == pytest.approx(float((df["pd"] * exposure).sum()))
    assert sum(t["expected_loss"] for t in s["tiers"].values()) == pytest.approx(s["expected_loss"])
    assert s["tiers"]["T4"]["bad_rate"] == 1.0 and s["tiers"]["T0"]["labelled"] == 2
    assert s["handling"]["dispute_resolution"] == 1
    assert s["guardrails_applied"]["stop_contact_dispute"] == 1
    assert s["tiers"]["T0"]["contact_cost"] == 0.0  # the disputed account costs nothing
    assert s["rules_vs_ev"]["crosstab_rules_by_ev"]["T4"]["T4"] >= 1


def test_bad_rate_rises_needs_two_tiers_with_enough_labels():
    rows = {"T0": {"bad_rate": 0.01, "labelled": 100}, "T1": {"bad_rate": 0.2, "labelled": 100}}
    assert bad_rate_rises(rows) is True
    assert bad_rate_rises({**rows, "T2": {"bad_rate": 0.1, "labelled": 100}}) is False
    assert bad_rate_rises({**rows, "T2": {"bad_rate": 0.1, "labelled": 5}}) is True  # too few
    assert bad_rate_rises({"T0": rows["T0"]}) is None


def test_headline_is_shares_count_and_backtest_flags(policy, accounts):
    df = accounts({}, {"pd": 0.4}, LATE, {**LATE, "days_past_due": 150})
    summary = summarise_tiers(df, assign_tiers(df, policy, "rules"), policy)
    summary["backtest"] = {flag: True for flag in RISE_FLAGS}
    headline = tiers_headline(summary)
    assert set(headline) == {"accounts", "tier_share", *RISE_FLAGS}
    assert headline["accounts"] == 4
    assert list(headline["tier_share"]) == [f"T{t.id}" for t in policy.tiers]
    assert sum(headline["tier_share"].values()) == pytest.approx(1.0)
    assert all(headline[flag] is True for flag in RISE_FLAGS)


def test_headline_flags_from_the_population_without_a_backtest(policy, accounts):
    df = accounts({}, {"pd": 0.4}, LATE)
    labels = pd.Series([0, 0, 1], dtype="Int8")
    summary = summarise_tiers(df, assign_tiers(df, policy, "rules"), policy, labels)
    headline = tiers_headline(summary)
    assert all(headline[flag] is None for flag in RISE_FLAGS)  # 3 accounts: too few to tell
    no_labels = tiers_headline(summarise_tiers(df, assign_tiers(df, policy, "rules"), policy))
    assert all(no_labels[flag] is None for flag in RISE_FLAGS)


def test_png_with_and_without_backtest(policy, accounts):
    df = accounts({}, LATE)
    summary = summarise_tiers(df, assign_tiers(df, policy, "rules"), policy)
    png = tiers_png(summary, policy)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    summary["backtest"] = {"split": "test", "accounts": 2, **summary}
    assert tiers_png(summary, policy)[:4] == b"\x89PNG"


def test_floor_check_is_clean_for_the_shipped_policy(policy, accounts):
    df = accounts(
        {**LATE, "overdue_amount": 40.0},
        {**LATE, "days_past_due": 150, "overdue_amount": 250.0},
        {**LATE, "days_past_due": 150},
    )
    s = summarise_tiers(df, assign_tiers(df, policy, "rules"), policy)
    assert s["floors"]["below_tier_floor_total"] == 0
    assert s["floors"]["below_tier_floor"] == {"T4": 0, "T5": 0}
    assert s["floors"]["calls_below_call_floor"] == 0 and s["floors"]["call_floor"] == 100

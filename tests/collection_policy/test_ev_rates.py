"""Learned cure rates for the expected-value mode: estimation, state probability, the engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given

from collection_policy.engine import assign_tiers
from collection_policy.ev_rates import (
    EVRates,
    learn_ev_rates,
    logging_tiers,
    simulate_history,
)
from collection_policy.outcomes import ResponseModel
from core.errors import DataValidationError
from tests.collection_policy.conftest import BASE_ACCOUNT
from tests.collection_policy.test_outcomes import past_due_book
from tests.collection_policy.test_properties import SETTINGS, check_guardrails, frames

RESPONSE = ResponseModel()


def history_of(
    n: int, seed: int, rule: np.ndarray | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    book = past_due_book(n, seed)
    rules = np.full(n, 4) if rule is None else rule
    macro = np.zeros(n)
    return simulate_history(book, rules, book["slow_cure"], macro, RESPONSE, 1, seed)


def _error(rates: EVRates, true: np.ndarray) -> float:
    both = np.isfinite(rates.uplift) & np.isfinite(true)
    return float(np.max(np.abs(rates.uplift[both] - true[both])))


def test_uplift_converges_to_the_true_one_as_the_history_grows() -> None:
    errors = []
    for n in (4_000, 200_000):
        history, true = history_of(n, seed=11)
        rates = learn_ev_rates(history, RESPONSE.n_tiers, baseline_tier=1)
        errors.append(_error(rates, true))
    assert errors[1] < errors[0]
    assert errors[1] < 0.035 and errors[1] < errors[0] / 3, errors  # cells of ~5,000 rows
    assert (rates.uplift[:, 1] == 0.0).all() and np.isnan(rates.uplift[:, 0]).all()
    for row in rates.uplift:  # never less cure for more treatment
        assert np.all(np.diff(row[np.isfinite(row)]) >= 0)
    # early arrears respond to treatment more than late ones
    assert rates.uplift[0, 3] > rates.uplift[3, 3]


def test_strata_compare_tiers_within_the_logging_policys_randomisation() -> None:
    """Tiers drawn between the minimum and the rules' tier (riskier accounts get the intensive
    tiers more often): compared within the stratum (the rules' tier) the uplift is the true one."""
    book = past_due_book(200_000, seed=5)
    rule = np.asarray(book["champion"]).clip(1, 4)
    history, true = simulate_history(
        book, rule, book["slow_cure"], np.zeros(len(book)), RESPONSE, 1, 5
    )
    assert set(history["stratum"]) == {1, 2, 3, 4}
    within = learn_ev_rates(history, RESPONSE.n_tiers, 1)
    assert _error(within, true) < 0.03, (within.uplift, true)


def test_logging_tiers_stay_between_the_minimum_and_the_rules_tier() -> None:
    rule = np.array([0, 1, 2, 3, 4] * 2000)
    drawn = logging_tiers(rule, 1, seed=3)
    assert (drawn <= rule).all() and (drawn >= np.minimum(rule, 1)).all()
    assert set(drawn[rule == 4]) == {1, 2, 3, 4}  # every tier the rules reach gets contrasts
    assert np.array_equal(drawn, logging_tiers(rule, 1, seed=3))


def test_state_probability_follows_the_state_and_rises_with_pd() -> None:
    history, _ = history_of(100_000, seed=7)
    rates = learn_ev_rates(history, RESPONSE.n_tiers, 1)
    dpd = np.array([0, 10, 10, 10, 45, 75])
    pd_ = np.array([0.05, 0.05, 0.2, 0.6, 0.6, 0.6])
    p = rates.state_probability(dpd, pd_)
    assert p[0] == 0.05  # current: its PD
    assert p[1] <= p[2] <= p[3]  # within a bucket, never falls with PD (isotonic)
    assert p[3] < p[4] < p[5]  # later arrears cure less
    assert rates.covers(dpd, pd_).tolist() == [False, True, True, True, True, True]
    thin = learn_ev_rates(history[history["days_past_due"] < 31], RESPONSE.n_tiers, 1)
    assert not thin.covers([45], [0.6])[0] and np.isnan(thin.state_probability([45], [0.6])[0])
    report = rates.to_dict()
    assert report["uplift"]["1-30"]["T1"] == 0.0 and report["rows"] == len(history)
    assert report["no_cure_at_baseline"]["1-30|pd 0.00-0.10"]["baseline_rows"] > 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.drop(columns="cured"), "required column"),
        (lambda h: h.assign(cured=2), "0/1"),
        (lambda h: h.assign(tier=9), "tier"),
        (lambda h: h.assign(pd=1.5), r"\[0, 1\]"),
        (lambda h: h[h["tier"] != 1], "baseline tier T1"),
    ],
)
def test_a_bad_history_is_refused_naming_the_column(change, message) -> None:
    history, _ = history_of(2_000, seed=1)
    with pytest.raises(DataValidationError, match=message):
        learn_ev_rates(change(history), RESPONSE.n_tiers, 1, source="log.parquet")


@pytest.fixture(scope="module")
def rates() -> EVRates:
    history, _ = history_of(60_000, seed=9)
    return learn_ev_rates(history, RESPONSE.n_tiers, 1)


def test_learned_mode_spends_where_the_measured_uplift_pays(policy, rates) -> None:
    """A large overdue amount in a state that rarely cures buys a more intensive tier than a
    small one; guardrails still cap (the 40 CNY first-timer stays soft, never a call)."""
    rows = [
        {"pd": 0.6, "days_past_due": 45, "overdue_amount": 5000.0, "outstanding_balance": 8000.0},
        {"pd": 0.6, "days_past_due": 45, "overdue_amount": 120.0, "outstanding_balance": 800.0},
        {
            "pd": 0.05,
            "days_past_due": 5,
            "overdue_amount": 40.0,
            "outstanding_balance": 400.0,
            "first_time_delinquency": True,
        },
    ]
    frame = pd.DataFrame([{**BASE_ACCOUNT, **r} for r in rows])
    out = assign_tiers(frame, policy, "expected_value", ev_rates=rates)
    assert out["ev_tier"].iloc[0] > out["ev_tier"].iloc[1] >= 1
    assert out["ev_tier"].iloc[2] <= 1 and "call" not in out["channels"].iloc[2]
    plain = assign_tiers(frame, policy, "expected_value")
    assert (plain["rule_tier"] == out["rule_tier"]).all()  # the rules never read the rates


@SETTINGS
@given(df=frames)
def test_learned_mode_keeps_every_guardrail(policy, rates, df) -> None:
    out = assign_tiers(df, policy, "expected_value", ev_rates=rates)
    for acc, res in zip(df.to_dict("records"), out.to_dict("records"), strict=True):
        check_guardrails(acc, res, policy)


@SETTINGS
@given(df=frames)
def test_learned_tier_never_falls_when_pd_or_amount_rises(policy, rates, df) -> None:
    """Monotone by construction: the state probability rises with PD within a DPD bucket and the
    slopes rise with the tier, so the upper envelope can only move up."""
    lo = assign_tiers(df, policy, "expected_value", ev_rates=rates)
    for col, bump in (("pd", 0.2), ("overdue_amount", 500.0)):
        higher = df.copy()
        higher[col] = np.minimum(1.0, df[col] + bump) if col == "pd" else df[col] + bump
        hi = assign_tiers(higher, policy, "expected_value", ev_rates=rates)
        assert (hi["ev_tier"].to_numpy() >= lo["ev_tier"].to_numpy()).all(), col


def test_a_commission_never_lets_the_tier_fall_as_the_stakes_rise(policy) -> None:
    """Uplift rises T2 < T3 < T4, but T4 (agency referral) pays a commission: its value per unit
    falls below T3's. The engine does not offer T4 then, so the tier only rises with exposure."""
    n_tiers = policy.n_tiers
    uplift = np.full((5, n_tiers), np.nan)
    uplift[:, 1:5] = [0.0, 0.05, 0.10, 0.12]
    rates = EVRates(
        baseline_tier=1,
        uplift=uplift,
        no_cure=np.full((5, 3), 0.5),
        pd_edges=(0.1, 0.3),
        counts=np.full(n_tiers, 100),
        segment_counts=np.full((5, 3), 100),
        rows=500,
        source="test",
    )
    commission = [t.ev.commission for t in policy.tiers]
    assert commission[4] > 0 and rates.slopes(commission)[3, 4] < rates.slopes(commission)[3, 3]
    amounts = np.geomspace(300, 1e6, 60)
    frame = pd.DataFrame(
        [
            {**BASE_ACCOUNT, "pd": 0.6, "days_past_due": 100, "overdue_amount": a,
             "outstanding_balance": a}
            for a in amounts
        ]
    )  # fmt: skip
    ev = assign_tiers(frame, policy, "expected_value", ev_rates=rates)["ev_tier"].to_numpy()
    assert np.all(np.diff(ev) >= 0), ev
    assert ev[-1] == 3  # the referral's value per unit never beats T3's here


def test_history_errors_name_the_row_of_the_file() -> None:
    history, _ = history_of(2_000, seed=1)
    log = pd.concat(
        [history.assign(days_past_due=0).head(5), history], ignore_index=True
    )  # five current rows first: ignored by the learning, counted in row numbers
    bad_tier = log.copy()
    bad_tier.loc[7, "tier"] = 9
    with pytest.raises(DataValidationError, match="row 7"):
        learn_ev_rates(bad_tier, RESPONSE.n_tiers, 1)
    half_day = log.astype({"days_past_due": float})
    half_day.loc[8, "days_past_due"] = 0.5
    with pytest.raises(DataValidationError, match="days_past_due.*row 8.*whole days"):
        learn_ev_rates(half_day, RESPONSE.n_tiers, 1)


def test_the_truth_may_not_repeat_an_account() -> None:
    from collection_policy.outcomes import cure_effects_for

    effects = pd.DataFrame({"account_id": [1, 2, 2], "slow_cure": [0.1, 0.2, 0.3]})
    with pytest.raises(DataValidationError, match="appears twice"):
        cure_effects_for(pd.Series([1, 2]), effects, "tiered account")
    ok = cure_effects_for(pd.Series(["2", "1"]), effects.iloc[:2], "tiered account")
    assert ok.tolist() == [0.2, 0.1]  # text ids against integer ids

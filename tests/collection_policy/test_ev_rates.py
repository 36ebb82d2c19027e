"""The expected-value rates the engine reads: state probability, the file, the learned mode."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given

from collection_policy.engine import assign_tiers
from collection_policy.ev_rates import (
    NO_HISTORY,
    EVRates,
    ev_rates_json,
    read_ev_rates,
    segment_labels,
    segment_of,
)
from collection_policy.rate_learning import learn_ev_rates
from collection_policy.simulated.response import ResponseModel
from core.errors import DataValidationError
from tests.collection_policy.conftest import BASE_ACCOUNT, history_of
from tests.collection_policy.test_properties import SETTINGS, check_guardrails, frames

RESPONSE = ResponseModel()


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


def test_the_rates_file_round_trips_at_full_precision(rates, tmp_path) -> None:
    """What the collection_rates stage writes is what the tiers stage and the served model read."""
    path = tmp_path / "ev_rates.json"
    path.write_text(json.dumps(ev_rates_json(rates)))
    back = read_ev_rates(path)
    assert back is not None and back.to_json() == rates.to_json()
    np.testing.assert_array_equal(back.uplift, rates.uplift)
    np.testing.assert_array_equal(back.no_cure, rates.no_cure)
    path.write_text(json.dumps(ev_rates_json(None)))
    assert ev_rates_json(None) == NO_HISTORY and read_ev_rates(path) is None
    path.write_text(json.dumps({"format": "other/1"}))
    with pytest.raises(DataValidationError, match="not an expected-value rates file"):
        read_ev_rates(path)
    with pytest.raises(DataValidationError, match="file not found"):
        read_ev_rates(tmp_path / "missing.json")


def test_segments_are_the_dpd_bucket_and_pd_band() -> None:
    assert segment_of([45, 5], [0.2, 0.95]).tolist() == ["31-60|pd 0.10-0.30", "1-30|pd 0.30-1.00"]
    grid = segment_labels()
    assert grid.shape == (5, 3) and grid[0, 0] == "1-30|pd 0.00-0.10"

"""The built-in book's true response to treatment: probabilities, draws, the truth per account."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collection_policy.simulated.response import (
    ResponseModel,
    cure_effects_for,
    simulate_outcomes,
    true_outcome_probabilities,
)
from core.errors import DataValidationError, InvalidConfig
from tests.collection_policy.conftest import past_due_book

RESPONSE = ResponseModel()


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    return past_due_book(50_000, seed=3)


def test_effects_rise_with_shrinking_increments():
    eff = RESPONSE.effects()
    steps = np.diff(eff[:5])  # T0..T4: the contacting ladder
    assert (steps > 0).all()
    assert (np.diff(steps) < 0).all()
    assert eff.max() < RESPONSE.max_effect


def test_true_probabilities_follow_tier_account_and_state(book):
    acc = book.head(2000)
    by_tier = [true_outcome_probabilities(acc, np.full(len(acc), t), RESPONSE) for t in range(5)]
    cure = np.stack([p["cure_p"].to_numpy() for p in by_tier])
    assert (np.diff(cure, axis=0) > 0).all()  # more treatment, more cures, for every account
    p = by_tier[1]
    assert ((p["cure_p"] + p["roll_p"]) <= 1).all()
    assert (p.loc[acc["days_past_due"] > 120, "roll_p"] == 0).all()  # no bucket after 121+
    assert np.allclose(p["expected_recovered"], p["cure_p"] * acc["overdue_amount"])
    assert (p["cost"] == RESPONSE.contact_cost[1]).all()
    slow = true_outcome_probabilities(acc, np.ones(len(acc)), RESPONSE, acc["slow_cure"] + 1)
    rolls = acc["days_past_due"] <= 120
    assert (slow["cure_p"] < p["cure_p"]).all()
    assert (slow.loc[rolls, "roll_p"] > p.loc[rolls, "roll_p"]).all()
    current = acc.assign(days_past_due=0)
    q = true_outcome_probabilities(current, np.zeros(len(acc)), RESPONSE)
    assert not q["past_due"].any() and (q["cure_p"] == 0).all() and (q["roll_p"] == 0).all()


def test_response_model_and_inputs_are_validated(book):
    with pytest.raises(InvalidConfig, match="contact_cost"):
        ResponseModel(contact_cost=(0.0, 1.0))
    with pytest.raises(InvalidConfig, match="base_cure_logit"):
        ResponseModel(base_cure_logit=(0.0,))
    with pytest.raises(InvalidConfig, match="intensity_scale"):
        ResponseModel(intensity_scale=0.0)
    acc = book.head(10)
    with pytest.raises(DataValidationError, match="tier outside"):
        true_outcome_probabilities(acc, np.full(10, 6), RESPONSE)
    with pytest.raises(DataValidationError, match="slow_cure"):
        true_outcome_probabilities(acc.drop(columns="slow_cure"), np.ones(10), RESPONSE)


def test_simulated_outcomes_are_deterministic_and_follow_the_truth(book):
    p = true_outcome_probabilities(book, book["champion"], RESPONSE)
    a, b = simulate_outcomes(p, 5), simulate_outcomes(p, 5)
    pd.testing.assert_frame_equal(a, b)
    assert not (a["cured"] & a["rolled"]).any()
    assert (a.loc[~a["cured"], "recovered"] == 0).all()
    assert np.allclose(a["net"], a["recovered"] - a["cost"])
    assert a["cured"].mean() == pytest.approx(p["cure_p"].mean(), abs=0.01)
    assert a["rolled"].mean() == pytest.approx(p["roll_p"].mean(), abs=0.01)


def test_the_truth_may_not_repeat_an_account() -> None:
    effects = pd.DataFrame({"account_id": [1, 2, 2], "slow_cure": [0.1, 0.2, 0.3]})
    with pytest.raises(DataValidationError, match="appears twice"):
        cure_effects_for(pd.Series([1, 2]), effects, "tiered account")
    ok = cure_effects_for(pd.Series(["2", "1"]), effects.iloc[:2], "tiered account")
    assert ok.tolist() == [0.2, 0.1]  # text ids against integer ids

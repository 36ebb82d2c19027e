"""The collection experiment: arms, the holdout's treatment and the per-arm report, from outcomes
given as input (a lender's measured month or draws from the built-in book's truth)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collection_policy.experiment import (
    ARMS,
    OUTCOME_COLUMNS,
    ExperimentConfig,
    arm_report,
    assign_arms,
    experiment_report,
    holdout_tiers,
    treatment_tiers,
    unmeasured_report,
)
from collection_policy.simulated.response import (
    ResponseModel,
    simulate_outcomes,
    true_outcome_probabilities,
)
from core.errors import DataValidationError, InvalidConfig
from tests.collection_policy.conftest import past_due_book

RESPONSE = ResponseModel()


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    return past_due_book(50_000, seed=3)


# --- arms ---------------------------------------------------------------------------------------


def test_arms_are_stable_per_account_whatever_the_order_batch_or_id_type():
    ids = np.arange(20_000, dtype=np.int64) + 10_000_000
    arms = assign_arms(ids, 7, 0.1, 0.2)
    perm = np.random.default_rng(0).permutation(len(ids))
    assert (assign_arms(ids[perm], 7, 0.1, 0.2) == arms[perm]).all()
    assert (assign_arms(ids[:500], 7, 0.1, 0.2) == arms[:500]).all()  # another batch
    assert (assign_arms(ids.astype(str).astype(object), 7, 0.1, 0.2) == arms).all()
    assert (assign_arms(ids, 8, 0.1, 0.2) != arms).mean() > 0.2  # the seed matters
    # a larger holdout only moves accounts into the holdout
    bigger = assign_arms(ids, 7, 0.15, 0.2)
    assert (bigger[arms == "holdout"] == "holdout").all()


def test_arms_match_the_shares():
    ids = np.array([f"ACC-{i:07d}" for i in range(200_000)], dtype=object)
    arms = assign_arms(ids, 1, 0.1, 0.25)
    shares = {k: float((arms == k).mean()) for k in ARMS}
    assert shares["holdout"] == pytest.approx(0.1, abs=0.005)
    assert shares["challenger"] == pytest.approx(0.25, abs=0.005)
    assert shares["champion"] == pytest.approx(0.65, abs=0.005)


@pytest.mark.parametrize("shares", [(-0.1, 0.2), (0.5, 0.5), (1.0, 0.0), (0.1, "x")])
def test_invalid_shares_are_rejected(shares):
    with pytest.raises(InvalidConfig):
        assign_arms(np.arange(3), 1, *shares)
    with pytest.raises(InvalidConfig):
        ExperimentConfig(holdout_share=shares[0], challenger_share=shares[1])


def test_holdout_gets_the_minimum_treatment_within_the_guardrails():
    champ = np.array([0, 1, 3, 5, 2])
    dpd = np.array([10, 10, 50, 130, 0])
    assert holdout_tiers(champ, dpd, 1).tolist() == [0, 1, 1, 1, 0]
    arms = np.array(["champion", "challenger", "holdout", "holdout", "champion"], dtype=object)
    applied = treatment_tiers(arms, champ, champ + 1, holdout_tiers(champ, dpd))
    assert applied.tolist() == [0, 2, 1, 1, 2]


# --- the report ---------------------------------------------------------------------------------


def _measured(arms: list[str], cured: list[bool], amounts: list[float]) -> pd.DataFrame:
    """A month's outcomes as a lender measures them on the next statements (no truth)."""
    cured_ = np.array(cured)
    recovered = np.where(cured_, amounts, 0.0)
    cost = np.ones(len(arms))
    return pd.DataFrame(
        {
            "past_due": True,
            "cured": cured_,
            "rolled": ~cured_,
            "recovered": recovered,
            "cost": cost,
            "net": recovered - cost,
        }
    )


def test_report_reads_measured_outcomes_without_any_truth():
    arms = np.array(["champion"] * 4 + ["challenger"] * 4 + ["holdout"] * 4, dtype=object)
    cured = [True, True, True, False] + [True, True, False, False] + [True, False, False, False]
    outcomes = _measured(list(arms), cured, [100.0] * 12)
    config = ExperimentConfig()
    report = experiment_report(outcomes, arms, config)
    champion = report["arms"]["champion"]
    assert champion["n"] == 4 and champion["cure_rate"] == 0.75 and champion["net"] == 296.0
    assert champion["uplift"]["cure_rate"]["estimate"] == pytest.approx(0.5)
    assert "true" not in champion["uplift"]["cure_rate"]  # no truth, no true uplift
    assert "true_uplift_definition" not in report
    assert report["config"]["seed"] == config.seed and report["level"] == config.level


def test_unmeasured_report_gives_the_arm_sizes():
    arms = np.array(["holdout", "champion", "champion", "challenger"], dtype=object)
    report = unmeasured_report(arms)
    assert report["arms"] == {"champion": {"n": 2}, "challenger": {"n": 1}, "holdout": {"n": 1}}
    assert "next month's statements" in report["outcomes"]


def test_report_refuses_outcomes_without_a_required_column():
    arms = np.array(["holdout", "champion"], dtype=object)
    outcomes = _measured(list(arms), [True, False], [10.0, 10.0])
    for column in OUTCOME_COLUMNS:
        with pytest.raises(DataValidationError, match=f"column '?{column}'?"):
            arm_report(outcomes.drop(columns=column), arms)


def test_report_rejects_bad_inputs(book):
    p = true_outcome_probabilities(book.head(5), np.ones(5), RESPONSE)
    o = simulate_outcomes(p, 1)
    with pytest.raises(DataValidationError, match="unknown arm"):
        arm_report(o, np.array(["champion"] * 4 + ["control"], dtype=object))
    with pytest.raises(DataValidationError, match="missing"):
        arm_report(o, np.array(["holdout"] * 5, dtype=object), truth={"holdout": p})
    with pytest.raises(InvalidConfig):
        arm_report(o, np.array(["holdout"] * 5, dtype=object), level=1.5)

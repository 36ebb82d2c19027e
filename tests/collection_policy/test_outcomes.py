"""Collection outcomes: true response, arms, draws and the per-arm report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from collection_policy.outcomes import (
    ARMS,
    ExperimentConfig,
    ResponseModel,
    arm_report,
    assign_arms,
    holdout_tiers,
    newcombe_interval,
    run_experiment,
    simulate_outcomes,
    treatment_tiers,
    true_outcome_probabilities,
    wilson_interval,
)
from core.dpd import collection_bucket
from core.errors import DataValidationError, InvalidConfig

RESPONSE = ResponseModel()


def past_due_book(n: int, seed: int) -> pd.DataFrame:
    """A past-due book like the built-in one: DPD buckets, amounts, PD rising with DPD and the
    hidden cure effect slow_cure ~ N(0, 0.5); plus champion (rules-like) and challenger tiers."""
    rng = np.random.default_rng(seed)
    dpd = rng.choice([5, 20, 45, 75, 100, 130], n, p=[0.35, 0.25, 0.15, 0.1, 0.1, 0.05])
    overdue = rng.lognormal(5.5, 0.8, n)
    pd_ = 1.0 / (1.0 + np.exp(-(rng.normal(-1.5, 1.0, n) + dpd / 40)))
    b = collection_bucket(dpd)
    champion = np.select(
        [b == 1, b == 2, b == 3, b == 4],
        [np.where(pd_ < 0.3, 1, 2), np.where(pd_ < 0.3, 2, 3), 3, np.where(overdue >= 300, 4, 3)],
        5,
    )
    # an EV-like challenger: more intensive where the amount pays for it, lighter where not
    challenger = np.where(
        overdue * pd_ > 150, np.minimum(champion + 1, 4), np.maximum(champion - 1, 1)
    )
    return pd.DataFrame(
        {
            "account_id": np.arange(n, dtype=np.int64) + 10_000_000,
            "days_past_due": dpd,
            "overdue_amount": overdue,
            "pd": pd_,
            "slow_cure": rng.normal(0.0, 0.5, n),
            "champion": champion,
            "challenger": challenger,
        }
    )


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


# --- the true response ----------------------------------------------------------------------------


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


# --- intervals and the report ---------------------------------------------------------------------


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Stat Med 17:873, example (a): 56/70 vs 48/80, method 10
    d, lo, hi = newcombe_interval(56, 70, 48, 80, 0.95)
    assert d == pytest.approx(0.2)
    assert (lo, hi) == pytest.approx((0.0524, 0.3339), abs=5e-4)
    assert wilson_interval(0, 10, 0.95)[0] == 0.0


def test_measured_uplift_covers_the_true_uplift_at_the_nominal_rate(book):
    """20 seeds x 2 strategies x 3 metrics: the six uplift intervals are simultaneous at 90%
    (Bonferroni), so in about nine seeds of ten all six cover the generator's truth."""
    hits: dict[tuple[str, str], list[bool]] = {}
    all_six = []
    for seed in range(20):
        config = ExperimentConfig(holdout_share=0.1, challenger_share=0.3, seed=seed, level=0.9)
        report = run_experiment(book, book["champion"], book["challenger"], RESPONSE, config).report
        assert report["uplift_interval_level"] == pytest.approx(1 - 0.1 / 6)
        covered = []
        for arm in ("champion", "challenger"):
            for metric, u in report["arms"][arm]["uplift"].items():
                hits.setdefault((arm, metric), []).append(u["covers_true"])
                covered.append(u["covers_true"])
        all_six.append(all(covered))
    rates = {k: float(np.mean(v)) for k, v in hits.items()}
    assert min(rates.values()) >= 0.9, rates
    assert np.mean(all_six) >= 0.8, all_six  # nominal: at least 0.9
    # and the intervals are informative, not covering by being wide
    cure = report["arms"]["challenger"]["uplift"]["cure_rate"]["interval"]
    assert cure[0] > 0 and cure[1] - cure[0] < 0.07


def test_true_uplift_is_the_book_wide_difference_of_expectations(book):
    config = ExperimentConfig(seed=2)
    e = run_experiment(book, book["champion"], book["challenger"], RESPONSE, config)
    u = e.report["arms"]["challenger"]["uplift"]
    expected = e.truth["challenger"]["cure_p"].mean() - e.truth["holdout"]["cure_p"].mean()
    assert u["cure_rate"]["true"] == pytest.approx(expected)
    net = e.truth["champion"]["expected_net"].mean() - e.truth["holdout"]["expected_net"].mean()
    assert e.report["arms"]["champion"]["uplift"]["net_per_account"]["true"] == pytest.approx(net)
    assert u["cure_rate"]["true"] > 0  # the challenger really does better than the holdout
    # the applied tiers are each arm's strategy
    hold = e.arms == "holdout"
    assert (e.tiers[hold] == np.minimum(book["champion"].to_numpy()[hold], 1)).all()
    assert (e.outcomes["tier"].to_numpy() == e.tiers).all()


def test_report_is_json_safe_and_deterministic(book):
    small = book.head(3000).copy()
    small.loc[small.index[:100], "days_past_due"] = 0  # some current accounts are left out
    config = ExperimentConfig(holdout_share=0.1, challenger_share=0.0, seed=4)
    a = run_experiment(small, small["champion"], small["challenger"], RESPONSE, config).report
    b = run_experiment(small, small["champion"], small["challenger"], RESPONSE, config).report
    text = json.dumps(a, allow_nan=False)
    assert text == json.dumps(b, allow_nan=False)
    assert a["excluded_current"] == 100 and a["n"] == 2900
    assert set(a["arms"]) == set(ARMS)
    for arm in ARMS:
        assert {"n", "cure_rate", "roll_rate", "recovered", "contact_cost", "net"} <= set(
            a["arms"][arm]
        )
    empty = a["arms"]["challenger"]  # no challenger share: nulls, not NaN
    assert empty["n"] == 0 and empty["cure_rate"] is None
    assert empty["uplift"]["cure_rate"]["interval"] == [None, None]
    assert empty["uplift"]["cure_rate"]["covers_true"] is None


def test_report_rejects_bad_inputs(book):
    p = true_outcome_probabilities(book.head(5), np.ones(5), RESPONSE)
    o = simulate_outcomes(p, 1)
    with pytest.raises(DataValidationError, match="unknown arm"):
        arm_report(o, np.array(["champion"] * 4 + ["control"], dtype=object))
    with pytest.raises(DataValidationError, match="missing"):
        arm_report(o, np.array(["holdout"] * 5, dtype=object), truth={"holdout": p})
    with pytest.raises(InvalidConfig):
        arm_report(o, np.array(["holdout"] * 5, dtype=object), level=1.5)


def _tiers_table(n: int = 20_000, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A tiers table as the stage writes it, and the truth's cure effects (str vs int ids)."""
    rng = np.random.default_rng(seed)
    dpd = np.where(rng.random(n) < 0.3, rng.integers(1, 120, n), 0)
    rule = np.where(dpd == 0, 0, np.minimum(1 + dpd // 30, 4))
    table = pd.DataFrame(
        {
            "account_id": (np.arange(n) + 10_000_000).astype(str),
            "days_past_due": dpd,
            "overdue_amount": np.where(dpd > 0, rng.uniform(50, 3000, n), 0.0),
            "pd": rng.uniform(0.01, 0.9, n),
            "rule_tier": rule,
            "ev_tier": np.where(dpd == 0, 0, np.minimum(rule + 1, 4)),
        }
    )
    effects = pd.DataFrame(
        {"account_id": np.arange(n) + 10_000_000, "slow_cure": rng.normal(0, 0.5, n)}
    )
    return table, effects


def test_book_experiment_reports_arms_with_truth_and_without():
    from collection_policy.outcomes import ExperimentConfig, book_experiment

    table, effects = _tiers_table()
    config = ExperimentConfig()
    arms, tiers, report = book_experiment(table, config, effects, macro=0.1)
    assert set(report["arms"]) == {"champion", "challenger", "holdout"}
    holdout = arms == "holdout"
    past_due = table["days_past_due"].to_numpy() > 0
    assert (tiers[holdout & past_due] <= config.holdout_tier).all()
    assert (tiers[arms == "champion"] == table["rule_tier"].to_numpy()[arms == "champion"]).all()
    for arm in ("champion", "challenger"):
        entry = report["arms"][arm]
        assert {"n", "cure_rate", "roll_rate", "recovered", "contact_cost"} <= set(entry)
        assert "interval" in entry["uplift"]["cure_rate"] and "true" in entry["uplift"]["cure_rate"]
    json.dumps(report, allow_nan=False)
    # a lender's own book has no truth: the same arms, sizes only
    arms2, tiers2, plain = book_experiment(table, config)
    assert (arms2 == arms).all() and (tiers2 == tiers).all()
    assert "not simulated" in plain["outcomes"]


def test_book_experiment_refuses_an_account_missing_from_the_truth():
    from collection_policy.outcomes import ExperimentConfig, book_experiment

    table, effects = _tiers_table(n=200)
    with pytest.raises(DataValidationError, match="no cure effect"):
        book_experiment(table, ExperimentConfig(), effects.iloc[1:])

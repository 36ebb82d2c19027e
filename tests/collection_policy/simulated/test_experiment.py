"""One experiment month on the built-in book: the measured uplift against the generator's truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from collection_policy.experiment import ARMS, ExperimentConfig
from collection_policy.simulated.experiment import run_experiment
from collection_policy.simulated.response import ResponseModel
from tests.collection_policy.conftest import past_due_book

RESPONSE = ResponseModel()


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    return past_due_book(50_000, seed=3)


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

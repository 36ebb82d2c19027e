"""Learning the expected-value rates from an outcome history: estimation and refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from collection_policy.ev_rates import EVRates
from collection_policy.rate_learning import learn_ev_rates
from collection_policy.simulated.history import simulate_history
from collection_policy.simulated.response import ResponseModel
from core.errors import DataValidationError
from tests.collection_policy.conftest import history_of, past_due_book

RESPONSE = ResponseModel()


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

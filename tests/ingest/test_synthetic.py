"""The synthetic book: deterministic, realistic rates, labels only from after the observation date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.errors import InvalidConfig
from features.synthetic import generate_book
from tests.features.configs import synthetic_config


@pytest.fixture(scope="module")
def book():
    return generate_book(synthetic_config(n_customers=4000, seed=7))


def test_same_seed_same_book(book):
    again = generate_book(synthetic_config(n_customers=4000, seed=7))
    pd.testing.assert_frame_equal(book.statements, again.statements)
    pd.testing.assert_frame_equal(book.observations, again.observations)
    pd.testing.assert_frame_equal(book.true_pd, again.true_pd)


def test_other_seed_other_book(book):
    other = generate_book(synthetic_config(n_customers=4000, seed=8))
    assert not book.statements["bill_amount"].equals(other.statements["bill_amount"])


def test_default_rate_in_band(book):
    labelled = book.observations[~book.observations["is_current"]]
    rate = labelled["default"].astype(float).mean()
    assert 0.02 <= rate <= 0.08
    # the true PD is calibrated to the draws on average and is informative
    merged = labelled.merge(book.true_pd, on=["account_id", "observation_date"])
    assert abs(merged["true_pd"].mean() - rate) < 0.01
    assert roc_auc_score(merged["default"].astype(int), merged["true_pd"]) > 0.75


def test_label_is_90dpd_within_outcome_window(book):
    """default == 1 exactly when the account reaches 90+ DPD in the 6 months from the date."""
    obs = book.observations[~book.observations["is_current"]]
    s = book.statements[["account_id", "statement_date", "days_past_due"]]
    w = obs.merge(s, on="account_id")
    in_window = (w["statement_date"] >= w["observation_date"]) & (
        w["statement_date"] < w["observation_date"] + pd.DateOffset(months=6)
    )
    hit = w[in_window].groupby(["account_id", "observation_date"])["days_past_due"].max().ge(90)
    merged = obs.set_index(["account_id", "observation_date"])["default"].astype(int)
    assert (hit.reindex(merged.index, fill_value=False).astype(int) == merged).all()


def test_labelled_accounts_not_in_default_at_the_date(book):
    obs = book.observations[~book.observations["is_current"]]
    s = book.statements
    w = obs.merge(s, on="account_id")
    last = (
        w[w["statement_date"] < w["observation_date"]]
        .sort_values("statement_date")
        .groupby(["account_id", "observation_date"])
        .tail(1)
    )
    assert len(last) == len(obs)  # every labelled account has history before its date
    assert (last["days_past_due"] < 90).all()


def test_true_pd_depends_only_on_history_before_the_date():
    """Changing the future (a different seed path after the date) cannot change the true PD:
    generating with more months keeps every earlier true PD identical."""
    short = generate_book(synthetic_config(n_customers=1500, months=24, seed=3))
    longer = generate_book(synthetic_config(n_customers=1500, months=30, seed=3))
    a = short.true_pd.set_index(["account_id", "observation_date"])["true_pd"]
    b = longer.true_pd.set_index(["account_id", "observation_date"])["true_pd"]
    np.testing.assert_allclose(a.sort_index().to_numpy(), b.loc[a.sort_index().index].to_numpy())


def test_realistic_shapes(book):
    s = book.statements
    overdue = s.loc[s["overdue_amount"] > 0, "overdue_amount"]
    assert overdue.median() < 150  # many overdue amounts are small
    assert (overdue < 100).mean() > 0.3
    late_rows = (s["days_past_due"] > 0).mean()
    assert 0.01 < late_rows < 0.2  # most pay on time
    assert (s["days_past_due"] >= 90).any()  # a few roll into serious delinquency
    current = book.observations[book.observations["is_current"]]
    assert current["default"].isna().all()
    assert set(book.customers["timezone"]) > {"Asia/Shanghai"}
    for flag in ("dispute", "hardship", "opt_out", "deceased"):
        assert book.customers[flag].mean() < 0.05


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"observation_months": (9, 12)}, "observation_months"),
        ({"observation_months": (9, 12, 20)}, "observation_months"),  # 20 + 6 > 24 months
        ({"observation_months": (9, 12, 13, 14)}, "observation_months"),  # windows overlap
        ({"observation_months": (2, 9, 12)}, "observation_months"),
        ({"start_date": "someday"}, "start_date"),
    ],
)
def test_bad_config_names_the_field(changes, field):
    """The library names its own field; the params reader turns it into the params.yaml key."""
    with pytest.raises(InvalidConfig, match=field) as err:
        synthetic_config(**changes)
    assert err.value.field == field

"""The synthetic book: deterministic, realistic rates, labels only from after the observation date."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import features.synthetic as synthetic
from core.errors import InvalidConfig
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


#: The digest of a small three-block book (`_digest`). The generator's draws come in a fixed order
#: (customers, lifecycle, prior history, schedules, then month by month): a change that moves,
#: adds or removes a draw changes every book after it. Update this only for a deliberate change
#: to the generator, knowing that the pipeline's data and every result downstream change too.
PINNED_BOOK = "28c09b2cc6881b87e64c193e548b40321495720cdbd9d9882493c1ac428e1cdf"
BOOK_TABLES = (
    "customers",
    "statements",
    "observations",
    "true_pd",
    "attributes",
    "macro",
    "effects",
)


def _digest(book) -> str:
    h = hashlib.sha256()
    for name in BOOK_TABLES:
        table = getattr(book, name)
        h.update(name.encode())
        h.update(repr([(c, str(table[c].dtype)) for c in table.columns]).encode())
        h.update(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return h.hexdigest()


def test_book_is_pinned(monkeypatch):
    monkeypatch.setattr(synthetic, "GENERATOR_BLOCK", 120)
    book = generate_book(synthetic_config(n_customers=300, seed=11))
    assert _digest(book) == PINNED_BOOK


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
    short = generate_book(synthetic_config(n_customers=1500, months=36, seed=3))
    longer = generate_book(synthetic_config(n_customers=1500, months=42, seed=3))
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
        ({"observation_months": (9, 12, 32)}, "observation_months"),  # 32 + 6 > 36 months
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


def _months_on_book(book, observations):
    signup = book.customers.set_index("account_id")["signup_date"].loc[observations["account_id"]]
    date = observations["observation_date"]
    return (date.dt.year.to_numpy() * 12 + date.dt.month.to_numpy()) - (
        signup.dt.year.to_numpy() * 12 + signup.dt.month.to_numpy()
    )


def test_attribute_history_is_dated_and_moves_with_behaviour(book):
    """One row at open (or the day before the data starts), then limit changes that follow
    behaviour: increases for clean payers, cuts after delinquency; income bands drift."""
    a = book.attributes
    assert list(a.columns) == ["account_id", "effective_date", "credit_limit", "income_band"]
    assert not a.duplicated(["account_id", "effective_date"]).any()
    first = a.sort_values("effective_date").groupby("account_id").head(1).set_index("account_id")
    customers = book.customers.set_index("account_id")
    assert first.index.sort_values().equals(customers.index.sort_values())
    # the customers table holds the values at open / data start
    assert (first["credit_limit"] == customers.loc[first.index, "credit_limit"]).all()
    assert (first["income_band"] == customers.loc[first.index, "income_band"]).all()
    # every account's first row comes before its first statement
    first_statement = book.statements.groupby("account_id")["statement_date"].min()
    assert (first.loc[first_statement.index, "effective_date"] < first_statement).all()
    changes = a.merge(a.groupby("account_id").size().rename("rows"), on="account_id")
    assert (changes["rows"] > 1).mean() > 0.2
    step = a.groupby("account_id")["credit_limit"].diff().dropna()
    assert (step > 0).sum() > 100 and (step < 0).sum() > 20
    # cuts follow delinquency: accounts with a cut were past due far more often
    cut_ids = a.loc[a.groupby("account_id")["credit_limit"].diff() < 0, "account_id"].unique()
    s = book.statements
    late_share = (s["days_past_due"] > 0).groupby(s["account_id"]).mean()
    assert late_share.loc[cut_ids].mean() > 2 * late_share.mean()
    assert (a.groupby("account_id")["income_band"].nunique() > 1).any()


def test_macro_factor_is_truth_with_a_stress_in_the_test_window(book):
    cfg = synthetic_config(n_customers=4000, seed=7)
    macro = book.macro
    assert len(macro) == cfg.months + cfg.outcome_months
    assert macro["month"].iloc[0] == pd.Timestamp(cfg.start_date)
    obs = cfg.observation_months
    peak = int(macro["macro_factor"].to_numpy().argmax())
    assert obs[-3] < peak < obs[-1] + cfg.outcome_months  # inside the out-of-time test windows
    # never a raw column: not in statements, customers, observations or attributes
    for table in (book.customers, book.statements, book.observations, book.attributes):
        assert "macro_factor" not in table.columns
    # the bad rate moves with the macro factor: the stressed dates default more
    labelled = book.observations[~book.observations["is_current"]]
    rate = labelled.groupby("observation_date")["default"].mean()
    window_macro = pd.Series(
        [macro["macro_factor"].iloc[m : m + cfg.outcome_months].mean() for m in obs],
        index=rate.index,
    )
    assert rate.corr(window_macro.astype(float)) > 0.5
    assert rate.iloc[-2:].mean() > 1.3 * rate.iloc[:3].mean()
    # true_pd includes the macro factor: its mean follows the bad rate date by date
    merged = labelled.merge(book.true_pd, on=["account_id", "observation_date"])
    mean_pd = merged.groupby("observation_date")["true_pd"].mean()
    assert mean_pd.corr(rate.astype(float)) > 0.8


def test_history_before_the_window_is_left_censored(book):
    """Accounts open before the data starts carry tenure, balances and sometimes arrears
    that began before the first statement."""
    start = pd.Timestamp(synthetic_config(n_customers=4000, seed=7).start_date)
    old = book.customers.loc[book.customers["signup_date"] < start, "account_id"]
    assert 0.3 < len(old) / len(book.customers) < 0.8
    s = book.statements
    first = s.sort_values("statement_date").groupby("account_id").head(1).set_index("account_id")
    at_start = first.loc[first.index.isin(old) & (first["statement_date"] == start)]
    assert len(at_start) > 0.9 * len(old)
    assert (at_start["outstanding_balance"] > 0).mean() > 0.5
    assert (at_start["days_past_due"] > 0).sum() > 0  # in arrears before the data shows why
    assert (first.loc[~first.index.isin(old), "days_past_due"] == 0).all()


def test_tenure_is_stationary_and_accounts_open_and_close(book):
    """Accounts join and leave over the whole window, so months on book at the first snapshot
    and at the current book have the same distribution (data-quality PSI well under 0.25)."""
    from core.stats import psi

    obs = book.observations
    first_date = obs.loc[~obs["is_current"], "observation_date"].min()
    early = obs[obs["observation_date"] == first_date]
    current = obs[obs["is_current"]]
    value = psi(
        _months_on_book(book, early).astype(float), _months_on_book(book, current).astype(float)
    )
    assert value < 0.1
    s = book.statements
    last = s.groupby("account_id")["statement_date"].max()
    first = s.groupby("account_id")["statement_date"].min()
    assert (last < s["statement_date"].max()).mean() > 0.2  # accounts close inside the window
    start = s["statement_date"].min()
    joined = first[first > start]
    assert joined.max() > start + pd.DateOffset(months=30)  # and open until late
    assert len(s) / len(book.customers) <= 22  # volume: statement rows per customer

"""Behavioural features: a slow per-row reference, point-in-time property, one code path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.catalogue import to_model_frame
from core.contracts import POLICY_FEATURE_COLUMNS
from core.errors import DataValidationError
from features.behavioural import (
    build_behavioural_features,
    core_window_aggregates,
    no_delinquency_months,
)

WINDOWS = (3, 6, 12)  # explicit: the tests name columns such as max_dpd_3m
LOOKBACK = 24  # months: longer than the test books, so the look-back holds their whole history


def _reference(customers, statements, obs_row, windows=WINDOWS, lookback=LOOKBACK) -> dict:
    """Straightforward per-observation computation the vectorised engine must match."""
    acc, date = obs_row["account_id"], obs_row["observation_date"]
    cust = customers.set_index("account_id").loc[acc]
    h = statements[statements["account_id"] == acc].sort_values("statement_date")
    prev = h.shift(1)
    h = h.assign(
        util=h["outstanding_balance"] / cust["credit_limit"],
        ratio_min=np.where(prev["min_due"] > 0, h["paid_amount"] / prev["min_due"], np.nan),
        late=(
            ((h["payment_date"] - prev["due_date"]).dt.days > 0)
            | ((prev["min_due"] > 0) & (h["paid_amount"] < prev["min_due"] - 1e-6))
        )
        & prev["due_date"].notna(),
    )
    h["ratio_min"] = h["ratio_min"].clip(0, 10)
    h = h[h["statement_date"] < date]
    out = {}
    for w in windows:
        win = h[h["statement_date"] >= date - pd.DateOffset(months=w)]
        out[f"max_dpd_{w}m"] = win["days_past_due"].max() if len(win) else np.nan
        out[f"utilisation_mean_{w}m"] = win["util"].mean() if len(win) else np.nan
        out[f"utilisation_max_{w}m"] = win["util"].max() if len(win) else np.nan
        out[f"late_payments_{w}m"] = float(win["late"].sum()) if len(win) else np.nan
        out[f"payment_ratio_min_mean_{w}m"] = win["ratio_min"].mean() if len(win) else np.nan
        out[f"bill_mean_{w}m"] = win["bill_amount"].mean() if len(win) else np.nan
    h = h[h["statement_date"] >= date - pd.DateOffset(months=lookback)]  # the look-back
    if len(h):
        last = h.iloc[-1]
        out["dpd_current"] = float(last["days_past_due"])
        out["overdue_amount_current"] = float(last["overdue_amount"])
        delq = h[h["days_past_due"] > 0]
        if len(delq):
            d = delq["statement_date"].iloc[-1]
            out["months_since_delinquency"] = float(
                (date.year - d.year) * 12 + date.month - d.month
            )
        else:
            out["months_since_delinquency"] = no_delinquency_months(lookback)
        # spells = runs of past-due statements within the look-back alone
        flags = (h["days_past_due"] > 0).to_numpy()
        episodes = int(np.sum(flags & ~np.r_[False, flags[:-1]]))
        out["delinquency_episodes"] = float(episodes)
        out["first_time_delinquency"] = float(flags[-1] and episodes == 1)
        out["repeat_delinquency"] = float(flags[-1] and episodes > 1)
        out["policy__delinquency_episodes"] = float(episodes)
        out["policy__never_paid"] = float((h["paid_amount"] > 0).sum() == 0)
    else:
        for k in ("dpd_current", "months_since_delinquency", "delinquency_episodes"):
            out[k] = np.nan
        out["policy__delinquency_episodes"] = 0.0
        out["policy__never_paid"] = 0.0
    s = pd.Timestamp(cust["signup_date"])
    out["months_on_book"] = float((date.year - s.year) * 12 + date.month - s.month)
    return out


@pytest.mark.parametrize("lookback", [LOOKBACK, 12])
def test_matches_per_row_reference(book, lookback):
    """With a 12-month look-back the 14-month book's last dates lose their oldest statements."""
    customers, statements, observations = book
    frame, *_ = build_behavioural_features(customers, statements, observations, WINDOWS, lookback)
    for i in range(len(observations)):
        ref = _reference(customers, statements, observations.iloc[i], lookback=lookback)
        for name, expected in ref.items():
            got = frame.at[i, name]
            if pd.isna(expected):
                assert pd.isna(got), (i, name, got)
            else:
                assert got == pytest.approx(expected, rel=1e-5, abs=1e-4), (i, name, got, expected)


def test_row_order_and_statement_order_do_not_matter(book):
    customers, statements, observations = book
    base, *_ = build_behavioural_features(customers, statements, observations, WINDOWS, LOOKBACK)
    shuffled = statements.sample(frac=1.0, random_state=3)
    again, *_ = build_behavioural_features(customers, shuffled, observations, WINDOWS, LOOKBACK)
    pd.testing.assert_frame_equal(base, again)


def test_frame_layout_follows_contract(book):
    customers, statements, observations = book
    frame, cat, _ = build_behavioural_features(
        customers, statements, observations, WINDOWS, LOOKBACK
    )
    assert len(frame) == len(observations)
    assert list(frame.columns[:4]) == ["account_id", "observation_date", "default", "is_current"]
    assert list(frame.columns[4 : 4 + len(cat.features)]) == cat.model_columns
    assert list(frame.columns[4 + len(cat.features) :]) == cat.protected + list(
        POLICY_FEATURE_COLUMNS
    )
    # protected attributes sit beside the features, never inside them
    assert cat.protected == ["protected__age_band"]
    assert "age_band" not in cat.model_columns
    assert (
        frame["protected__age_band"].to_numpy()
        == customers.set_index("account_id")["age_band"].loc[frame["account_id"]].to_numpy()
    ).all()
    for flag in ("dispute", "region", "timezone", "hardship"):
        assert flag not in cat.model_columns
    assert {"max_dpd_6m", "utilisation_mean_3m", "months_on_book"} <= set(cat.model_columns)
    assert all(f.direction in (-1, 0, 1) and f.description and f.sources for f in cat.features)
    model = to_model_frame(frame, cat)
    assert list(model.columns) == cat.model_columns
    # flags come from the customer table, policy dpd from the last statement
    dispute = customers.set_index("account_id")["dispute"]
    assert (
        frame["policy__dispute"].to_numpy() == dispute.loc[frame["account_id"]].to_numpy()
    ).all()
    np.testing.assert_array_equal(frame["policy__days_past_due"], frame["dpd_current"].fillna(0))


def _perturb_future(statements, cutoff, seed):
    """Change, delete and add statements dated on/after `cutoff` (the future of that date)."""
    rng = np.random.default_rng(seed)
    s = statements.copy()
    future = s["statement_date"] >= cutoff
    idx = s.index[future]
    if len(idx):
        chg = rng.choice(idx, size=max(1, len(idx) // 2), replace=False)
        s.loc[chg, "days_past_due"] = rng.integers(0, 200, len(chg)).astype("int16")
        s.loc[chg, "outstanding_balance"] = rng.uniform(0, 5e4, len(chg))
        s.loc[chg, "paid_amount"] = 0.0
        s.loc[chg, "payment_date"] = pd.NaT
        s = s.drop(rng.choice(idx, size=len(idx) // 3, replace=False))
    extra = s.sample(n=min(3, len(s)), random_state=seed).copy()
    extra["statement_date"] = [cutoff + pd.DateOffset(months=30 + i) for i in range(len(extra))]
    extra["days_past_due"] = np.int16(180)
    return pd.concat([s, extra], ignore_index=True)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10_000),
    obs_month=st.integers(1, 13),
    windows=st.sampled_from([(3, 6, 12), (1, 2), (4,)]),
)
def test_point_in_time_future_statements_do_not_change_features(
    book_factory, seed, obs_month, windows
):
    customers, statements, _ = book_factory(n_accounts=6, months=14, seed=seed)
    date = pd.Timestamp("2024-01-01") + pd.DateOffset(months=obs_month)
    observations = pd.DataFrame(
        {"account_id": customers["account_id"], "observation_date": date, "default": pd.NA}
    ).astype({"default": "Int8"})
    before, *_ = build_behavioural_features(customers, statements, observations, windows, LOOKBACK)
    after, *_ = build_behavioural_features(
        customers, _perturb_future(statements, date, seed), observations, windows, LOOKBACK
    )
    pd.testing.assert_frame_equal(before, after)


def test_past_statement_change_does_change_features(book):
    """Guard against the property test passing vacuously."""
    customers, statements, observations = book
    before, *_ = build_behavioural_features(customers, statements, observations, WINDOWS, LOOKBACK)
    s = statements.copy()
    date = observations["observation_date"].iloc[0]
    hit = s.index[s["statement_date"] == date - pd.DateOffset(months=1)][0]
    s.loc[hit, "days_past_due"] = np.int16(250)
    after, *_ = build_behavioural_features(customers, s, observations, WINDOWS, LOOKBACK)
    assert not before["max_dpd_3m"].equals(after["max_dpd_3m"])


def test_current_book_uses_the_same_code_path(book):
    customers, statements, observations = book
    frame, *_ = build_behavioural_features(customers, statements, observations, WINDOWS, LOOKBACK)
    current = observations[observations["is_current"]].copy()
    as_labelled = current.assign(is_current=False, default=pd.array([0] * len(current), "Int8"))
    alone, cat, _ = build_behavioural_features(
        customers, statements, as_labelled, WINDOWS, LOOKBACK
    )
    mixed = frame[frame["is_current"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        mixed[cat.model_columns], alone[cat.model_columns], check_dtype=True
    )


def test_core_aggregates_match_full_build(book):
    customers, statements, observations = book
    frame, *_ = build_behavioural_features(customers, statements, observations, WINDOWS, LOOKBACK)
    core = core_window_aggregates(
        statements, observations, customers.set_index("account_id")["credit_limit"], WINDOWS
    )
    for col in core.columns:
        np.testing.assert_allclose(core[col], frame[col].astype(float), rtol=1e-5, equal_nan=True)


def test_account_without_history_gets_missing_not_zero(book):
    customers, statements, observations = book
    obs = pd.DataFrame(
        {
            "account_id": [customers["account_id"].iloc[0]],
            "observation_date": [pd.Timestamp("2023-06-01")],
        }
    )
    frame, *_ = build_behavioural_features(customers, statements, obs, WINDOWS, LOOKBACK)
    assert np.isnan(frame.at[0, "max_dpd_3m"])
    assert np.isnan(frame.at[0, "late_payments_12m"])
    assert frame.at[0, "policy__days_past_due"] == 0
    assert not frame.at[0, "policy__first_time_delinquency"]


def test_duplicate_statement_is_rejected(book):
    customers, statements, observations = book
    dup = pd.concat([statements, statements.iloc[[5]]], ignore_index=True)
    with pytest.raises(DataValidationError, match="two statements"):
        build_behavioural_features(customers, dup, observations, WINDOWS, LOOKBACK)


def test_unknown_account_is_rejected(book):
    customers, statements, observations = book
    obs = observations.copy()
    obs.loc[0, "account_id"] = 999_999
    with pytest.raises(DataValidationError, match="account_id"):
        build_behavioural_features(customers, statements, obs, WINDOWS, LOOKBACK)


def _attribute_history(customers, months: int, seed: int, changes: int = 20) -> pd.DataFrame:
    """A dated limit / income history: the customers' values at signup, then random changes."""
    rng = np.random.default_rng(seed)
    first = customers[["account_id", "credit_limit", "income_band"]].assign(
        effective_date=customers["signup_date"]
    )
    start = pd.Timestamp("2024-01-01")
    later = pd.DataFrame(
        {
            "account_id": rng.choice(customers["account_id"].to_numpy(), changes),
            "effective_date": [
                start + pd.Timedelta(days=int(d)) for d in rng.integers(0, months * 30, changes)
            ],
            "credit_limit": rng.choice([3000.0, 8000.0, 30000.0], changes),
            "income_band": rng.choice(["low", "mid", "high", "very_high"], changes),
        }
    )
    out = pd.concat([first, later], ignore_index=True)
    out = out.drop_duplicates(["account_id", "effective_date"]).reset_index(drop=True)
    return out[["account_id", "effective_date", "credit_limit", "income_band"]]


def _as_of(attributes, account_id, date):
    rows = attributes[
        (attributes["account_id"] == account_id) & (attributes["effective_date"] < date)
    ]
    return rows.sort_values("effective_date").iloc[-1] if len(rows) else None


def test_attributes_are_read_as_of_each_date(book):
    """credit_limit and income_band are the last change dated strictly before the observation;
    each statement's utilisation uses the limit in force at its own date."""
    customers, statements, observations = book
    attributes = _attribute_history(customers, months=14, seed=1, changes=40)
    frame, *_ = build_behavioural_features(
        customers, statements, observations, WINDOWS, LOOKBACK, attributes=attributes
    )
    changed = 0
    for i, obs in observations.iterrows():
        acc, date = obs["account_id"], obs["observation_date"]
        row = _as_of(attributes, acc, date)
        assert frame.loc[i, "credit_limit"] == pytest.approx(row["credit_limit"])
        assert frame.loc[i, "income_band"] == row["income_band"]
        changed += row["credit_limit"] != customers.set_index("account_id").loc[acc, "credit_limit"]
        h = statements[(statements["account_id"] == acc) & (statements["statement_date"] < date)]
        if len(h):
            last = h.sort_values("statement_date").iloc[-1]
            limit = _as_of(attributes, acc, last["statement_date"])["credit_limit"]
            assert frame.loc[i, "utilisation_current"] == pytest.approx(
                last["outstanding_balance"] / limit, rel=1e-5
            )
    assert changed > 0  # the history did change some limits (the test is not vacuous)


def test_history_without_changes_equals_the_customers_values(book):
    customers, statements, observations = book
    fixed = _attribute_history(customers, months=14, seed=0, changes=0)
    plain, *_ = build_behavioural_features(customers, statements, observations, WINDOWS, LOOKBACK)
    dated, *_ = build_behavioural_features(
        customers, statements, observations, WINDOWS, LOOKBACK, attributes=fixed
    )
    pd.testing.assert_frame_equal(plain, dated)


def _perturb_future_attributes(attributes, cutoff, seed):
    """Change attribute rows dated on/after `cutoff` and add new ones on and after it."""
    rng = np.random.default_rng(seed)
    a = attributes.copy()
    future = a.index[a["effective_date"] >= cutoff]
    a.loc[future, "credit_limit"] = rng.uniform(100.0, 90_000.0, len(future))
    a.loc[future, "income_band"] = "very_high"
    ids = a["account_id"].drop_duplicates().to_numpy()
    extra = pd.DataFrame(
        {
            "account_id": ids,
            "effective_date": [cutoff + pd.Timedelta(days=40 * (k % 2)) for k in range(len(ids))],
            "credit_limit": 123.0,
            "income_band": "low",
        }
    )
    out = pd.concat([a, extra], ignore_index=True)
    return out.drop_duplicates(["account_id", "effective_date"], keep="last")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10_000),
    obs_month=st.integers(1, 13),
    windows=st.sampled_from([(3, 6, 12), (1, 2), (4,)]),
)
def test_point_in_time_future_attributes_do_not_change_features(
    book_factory, seed, obs_month, windows
):
    """Changing or adding limit / income rows dated on or after the date changes nothing."""
    customers, statements, _ = book_factory(n_accounts=6, months=14, seed=seed)
    attributes = _attribute_history(customers, months=14, seed=seed)
    date = pd.Timestamp("2024-01-01") + pd.DateOffset(months=obs_month)
    observations = pd.DataFrame(
        {"account_id": customers["account_id"], "observation_date": date, "default": pd.NA}
    ).astype({"default": "Int8"})
    before, *_ = build_behavioural_features(
        customers, statements, observations, windows, LOOKBACK, attributes=attributes
    )
    after, *_ = build_behavioural_features(
        customers,
        _perturb_future(statements, date, seed),
        observations,
        windows,
        LOOKBACK,
        attributes=_perturb_future_attributes(attributes, date, seed),
    )
    pd.testing.assert_frame_equal(before, after)


def test_past_attribute_change_does_change_features(book):
    """Guard against the attribute property test passing vacuously."""
    customers, statements, observations = book
    attributes = _attribute_history(customers, months=14, seed=0, changes=0)
    before, *_ = build_behavioural_features(
        customers, statements, observations, WINDOWS, LOOKBACK, attributes=attributes
    )
    date = observations["observation_date"].iloc[0]
    acc = observations["account_id"].iloc[0]
    cut = pd.DataFrame(
        {
            "account_id": [acc],
            "effective_date": [date - pd.Timedelta(days=1)],
            "credit_limit": [1.0],
            "income_band": ["low"],
        }
    )
    after, *_ = build_behavioural_features(
        customers,
        statements,
        observations,
        WINDOWS,
        LOOKBACK,
        attributes=pd.concat([attributes, cut], ignore_index=True),
    )
    assert after.loc[0, "credit_limit"] == 1.0 and before.loc[0, "credit_limit"] != 1.0
    assert after.loc[0, "income_band"] == "low"


def test_duplicate_attribute_row_is_rejected(book):
    customers, statements, observations = book
    attributes = _attribute_history(customers, months=14, seed=0, changes=0)
    doubled = pd.concat([attributes, attributes.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataValidationError, match="two attribute rows"):
        build_behavioural_features(
            customers, statements, observations, WINDOWS, LOOKBACK, attributes=doubled
        )

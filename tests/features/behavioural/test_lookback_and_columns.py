"""A lender's history: every feature reads a fixed look-back (older history changes nothing), a
build computes exactly the features whose input columns exist (skipping never changes another
feature), and the point-in-time rule holds with the required columns alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.contracts import POLICY_INPUTS
from core.errors import DataValidationError
from features.behavioural import (
    REQUIRED_COLUMNS,
    build_behavioural_features,
    no_delinquency_months,
)
from models.training import missing_policy_inputs, raise_missing_policy_inputs

START = pd.Timestamp("2024-01-01")  # the test books' first statement month (conftest.make_book)
REQUIRED_STATEMENTS = list(REQUIRED_COLUMNS["statements"])
#: The columns a lender's data may lack (the built-in book has them all).
OPTIONAL_STATEMENTS = (
    "due_date",
    "bill_amount",
    "min_due",
    "paid_amount",
    "payment_date",
    "overdue_amount",
    "instalment_plans",
)
OPTIONAL_CUSTOMERS = (
    "signup_date",
    "age_band",
    "city_tier",
    "income_band",
    "credit_limit",
    "channel",
    "region",
    "timezone",
    "dispute",
    "hardship",
    "opt_out",
    "deceased",
)
DATED = ("credit_limit", "income_band")
#: What each policy input is computed from, stated here independently of the code: without the
#: column the input is left missing (broken_promises reads no column of the book).
POLICY_NEEDS = {
    "days_past_due": "statements.days_past_due",
    "overdue_amount": "statements.overdue_amount",
    "first_time_delinquency": "statements.days_past_due",
    "dispute": "customers.dispute",
    "hardship": "customers.hardship",
    "opt_out": "customers.opt_out",
    "deceased": "customers.deceased",
    "timezone": "customers.timezone",
    "outstanding_balance": "statements.outstanding_balance",
    "delinquency_episodes": "statements.days_past_due",
    "broken_promises": None,
    "never_paid": "statements.paid_amount",
}
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _observations(customers: pd.DataFrame, months: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"account_id": a, "observation_date": START + pd.DateOffset(months=m)}
            for m in months
            for a in customers["account_id"]
        ]
    )


def _minimal(customers: pd.DataFrame, statements: pd.DataFrame):
    """A lender's history with the required columns alone."""
    return customers[["account_id"]].copy(), statements[REQUIRED_STATEMENTS].copy()


def _prepend_older_history(statements: pd.DataFrame, months: int, seed: int) -> pd.DataFrame:
    """`months` monthly statements before each account's first one (a longer extract of the same
    book), values drawn from the book's rows. The oldest is past due and the next is not, so the
    extra history holds a spell of its own."""
    rng = np.random.default_rng(seed)
    first = statements.groupby("account_id")["statement_date"].min()
    rows = []
    for account, start in first.items():
        drawn = statements.iloc[rng.integers(0, len(statements), months)].copy()
        dates = [start - pd.DateOffset(months=k) for k in range(months, 0, -1)]
        drawn["account_id"] = account
        drawn["statement_date"] = dates
        drawn["due_date"] = [d + pd.Timedelta(days=20) for d in dates]
        drawn["payment_date"] = [
            d - pd.Timedelta(days=12) if p > 0 else pd.NaT
            for d, p in zip(dates, drawn["paid_amount"], strict=True)
        ]
        dpd = drawn["days_past_due"].to_numpy().copy()
        dpd[0], dpd[1] = 30, 0
        drawn["days_past_due"] = dpd.astype("int16")
        rows.append(drawn)
    out = pd.concat([*rows, statements], ignore_index=True)
    return out.astype(statements.dtypes.to_dict())


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    windows=st.sampled_from([(3, 6, 12), (1, 2), (4,)]),
    extra=st.integers(0, 6),
    older=st.integers(12, 18),
    minimal=st.booleans(),
)
def test_history_older_than_the_lookback_changes_no_feature(
    book_factory, seed, windows, extra, older, minimal
):
    """A snapshot's features are those of a book extract 12+ months longer: the look-back is
    fixed (so 12 and 36 months of data give one distribution where both hold the look-back)."""
    lookback = max(windows) + extra
    months = lookback + 8
    customers, statements, _ = book_factory(n_accounts=6, months=months, seed=seed)
    # accounts open in months 0-4: the look-back (and the statement just before it) lies after
    # every account's first statement
    observations = _observations(customers, list(range(lookback + 5, months + 1)))
    longer = _prepend_older_history(statements, older, seed)
    if minimal:
        customers, statements = _minimal(customers, statements)
        longer = longer[REQUIRED_STATEMENTS]
    before, cat, _ = build_behavioural_features(
        customers, statements, observations, windows, lookback
    )
    after, *_ = build_behavioural_features(customers, longer, observations, windows, lookback)
    pd.testing.assert_frame_equal(before, after)
    # not vacuous: a look-back reaching the extra history sees its spell
    reach = lookback + months + older
    whole, *_ = build_behavioural_features(customers, statements, observations, windows, reach)
    whole_longer, *_ = build_behavioural_features(customers, longer, observations, windows, reach)
    assert (whole_longer["delinquency_episodes"] > whole["delinquency_episodes"]).any()
    assert "delinquency_episodes" in cat.model_columns


def test_months_since_delinquency_caps_just_past_the_lookback(book_factory):
    """No past-due statement in the look-back: lookback + 1, next to the values it can take (not
    a far-off sentinel); no statement in it at all: missing."""
    customers, statements, _ = book_factory(n_accounts=8, months=20, seed=2)
    s = statements.copy()
    acc = s.loc[s["statement_date"] == START, "account_id"].iloc[0]  # open from the first month
    s.loc[s["account_id"] == acc, "days_past_due"] = np.int16(0)
    s.loc[(s["account_id"] == acc) & (s["statement_date"] == START), "days_past_due"] = 60
    obs = pd.DataFrame(
        {
            "account_id": [acc, acc, acc],
            "observation_date": [
                START + pd.DateOffset(months=7),  # the past-due statement is 7 months back
                START + pd.DateOffset(months=12),  # ... and outside a 6-month look-back
                START + pd.DateOffset(months=40),  # nothing in the look-back at all
            ],
        }
    )
    frame, cat, _ = build_behavioural_features(customers, s, obs, (3, 6), 6)
    assert no_delinquency_months(6) == 7.0
    np.testing.assert_array_equal(frame["months_since_delinquency"], [7.0, 7.0, np.nan])
    assert frame["delinquency_episodes"].tolist()[:2] == [0.0, 0.0]
    assert np.isnan(frame["dpd_current"].iloc[2])  # the last statement is too old to count
    spec = cat.spec("months_since_delinquency")
    assert "last 6 months" in spec.description and "(7 when" in spec.description
    frame, *_ = build_behavioural_features(customers, s, obs[:1], (3, 6), 12)
    assert frame["months_since_delinquency"].iloc[0] == 7.0  # in a 12-month look-back: found
    frame, *_ = build_behavioural_features(customers, s, obs[1:2], (3, 6), 12)
    assert frame["months_since_delinquency"].iloc[0] == 12.0


def test_a_spell_that_began_before_the_lookback_counts_once():
    """Spells are the runs of past-due statements inside the look-back: one that began earlier
    counts once (whatever came before it), one that ended before it not at all."""
    dates = [START + pd.DateOffset(months=m) for m in range(10)]
    dpd = [30, 0, 30, 60, 90, 0, 0, 30, 0, 0]
    statements = pd.DataFrame(
        {
            "account_id": 1,
            "statement_date": dates,
            "days_past_due": np.array(dpd, dtype="int16"),
            "outstanding_balance": 100.0,
        }
    )
    customers = pd.DataFrame({"account_id": [1]})
    obs = pd.DataFrame(
        {"account_id": 1, "observation_date": [START + pd.DateOffset(months=10)] * 1}
    )
    got = {}
    for lookback in (2, 3, 4, 6, 7, 8, 10):
        frame, *_ = build_behavioural_features(customers, statements, obs, (1, 2), lookback)
        got[lookback] = frame["delinquency_episodes"].iloc[0]
        assert frame["policy__delinquency_episodes"].iloc[0] == got[lookback]
    # look-back of k months = the last k statements (months 10-k .. 9)
    assert got == {2: 0.0, 3: 1.0, 4: 1.0, 6: 2.0, 7: 2.0, 8: 2.0, 10: 3.0}


def _drop(tables: dict[str, pd.DataFrame | None], dropped: set[str]) -> dict:
    """The tables without the `dropped` sources; dropping `attributes.X` drops the customers'
    X too (otherwise the fallback would compute the feature from other values)."""
    out = dict(tables)
    for source in dropped:
        table, column = source.split(".", 1)
        pairs = [(table, column)]
        if table == "attributes":
            pairs.append(("customers", column))
        for t, c in pairs:
            if out[t] is not None and c in out[t]:
                out[t] = out[t].drop(columns=[c])
    return out


def _sources(tables: dict[str, pd.DataFrame | None]) -> set[str]:
    """The sources the tables offer: each column, and attributes.X from the dated history when
    it has X, else from the customers table."""
    have = {f"statements.{c}" for c in tables["statements"].columns}
    have |= {f"customers.{c}" for c in tables["customers"].columns}
    for column in DATED:
        if (
            tables["attributes"] is not None
            and column in tables["attributes"]
            or column in tables["customers"]
        ):
            have.add(f"attributes.{column}")
    return have


def _attributes(customers: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = customers[["account_id", "credit_limit", "income_band"]].assign(
        effective_date=customers["signup_date"]
    )
    later = pd.DataFrame(
        {
            "account_id": rng.choice(customers["account_id"].to_numpy(), 20),
            "effective_date": START + pd.to_timedelta(rng.integers(0, 400, 20), unit="D"),
            "credit_limit": rng.choice([3000.0, 8000.0, 30000.0], 20),
            "income_band": rng.choice(["low", "mid", "high", "very_high"], 20),
        }
    )
    out = pd.concat([first, later], ignore_index=True)
    return out.drop_duplicates(["account_id", "effective_date"]).reset_index(drop=True)


OPTIONAL_SOURCES = (
    [f"statements.{c}" for c in OPTIONAL_STATEMENTS]
    + [f"customers.{c}" for c in OPTIONAL_CUSTOMERS]
    + [f"attributes.{c}" for c in DATED]
)


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    dropped=st.sets(st.sampled_from(OPTIONAL_SOURCES)),
    dated=st.booleans(),
)
def test_dropping_optional_columns_skips_exactly_their_features(book_factory, seed, dropped, dated):
    """The catalogue is the features whose sources remain, the skipped list names what each
    lacks, and every computed value (feature or policy input) is the full build's: skipping
    never changes another feature, and nothing is filled."""
    customers, statements, observations = book_factory(n_accounts=8, months=16, seed=seed)
    full_tables = {
        "customers": customers,
        "statements": statements,
        "attributes": _attributes(customers, seed) if dated else None,
    }
    tables = _drop(full_tables, dropped)
    windows, lookback = (3, 6, 12), 12

    def build(t):
        return build_behavioural_features(
            t["customers"],
            t["statements"],
            observations,
            windows,
            lookback,
            attributes=t["attributes"],
        )

    full, full_cat, full_skipped = build(full_tables)
    frame, cat, skipped = build(tables)
    assert full_skipped == []
    have = _sources(tables)
    kept = [f.name for f in full_cat.features if set(f.sources) <= have]
    assert cat.model_columns == kept
    assert [s["feature"] for s in skipped] == [n for n in full_cat.model_columns if n not in kept]
    for entry in skipped:
        sources = full_cat.spec(entry["feature"]).sources
        assert entry["missing"] == [s for s in sources if s not in have] != []
    expected_columns = ["account_id", "observation_date", "default", "is_current", *kept]
    protected = [] if "customers.age_band" in dropped else ["protected__age_band"]
    assert cat.protected == protected
    assert list(frame.columns) == expected_columns + protected + cat.policy_columns
    for name in ["account_id", "observation_date", "default", "is_current", *kept, *protected]:
        pd.testing.assert_series_equal(frame[name], full[name], check_names=True)
    for spec in POLICY_INPUTS:
        column, need = spec.feature_column, POLICY_NEEDS[spec.name]
        if need is None or need in have:
            pd.testing.assert_series_equal(frame[column], full[column])
        else:
            assert frame[column].isna().all(), column  # left missing, never guessed


def test_a_missing_compliance_flag_stays_missing_so_training_refuses(book):
    customers, statements, observations = book
    frame, *_ = build_behavioural_features(
        customers.drop(columns=["dispute", "hardship"]), statements, observations, (3, 6), 12
    )
    assert frame["policy__dispute"].isna().all() and frame["policy__hardship"].isna().all()
    assert frame["policy__opt_out"].notna().all()
    missing = missing_policy_inputs(frame)
    assert set(missing) == {"dispute", "hardship"}
    with pytest.raises(DataValidationError, match="dispute"):
        raise_missing_policy_inputs(missing, len(frame), "features.parquet")


def test_a_missing_flag_value_stays_missing(book):
    customers, statements, observations = book
    c = customers.astype({"opt_out": "boolean"})
    c.loc[0, "opt_out"] = pd.NA
    frame, *_ = build_behavioural_features(c, statements, observations, (3, 6), 12)
    own = frame["account_id"] == c.loc[0, "account_id"]
    assert frame.loc[own, "policy__opt_out"].isna().all()
    assert frame.loc[~own, "policy__opt_out"].notna().all()


def test_the_minimal_history_builds_and_says_what_it_skipped(book):
    customers, statements, observations = book
    c, s = _minimal(customers, statements)
    frame, cat, skipped = build_behavioural_features(c, s, observations, (3, 6, 12), 12)
    assert cat.model_columns == [
        "max_dpd_3m",
        "months_delinquent_3m",
        "max_dpd_6m",
        "months_delinquent_6m",
        "max_dpd_12m",
        "months_delinquent_12m",
        "months_since_delinquency",
        "delinquency_episodes",
        "dpd_current",
        "first_time_delinquency",
        "repeat_delinquency",
    ]
    assert cat.protected == []
    by_name = {e["feature"]: e["missing"] for e in skipped}
    assert by_name["utilisation_current"] == ["attributes.credit_limit"]
    assert by_name["payment_ratio_min_mean_3m"] == ["statements.paid_amount", "statements.min_due"]
    assert by_name["months_on_book"] == ["customers.signup_date"]
    assert len(by_name) + len(cat.model_columns) == 37
    assert frame["policy__outstanding_balance"].notna().all()
    assert frame["policy__never_paid"].isna().all() and frame["policy__overdue_amount"].isna().all()


@pytest.mark.parametrize("column", REQUIRED_STATEMENTS)
def test_a_required_statement_column_is_still_required(book, column):
    customers, statements, observations = book
    with pytest.raises(DataValidationError, match=column):
        build_behavioural_features(
            customers, statements.drop(columns=[column]), observations, (3,), 12
        )


def test_the_lookback_must_cover_the_windows(book):
    customers, statements, observations = book
    with pytest.raises(ValueError, match="longest window"):
        build_behavioural_features(customers, statements, observations, (3, 6, 12), 11)


def _perturb_future_minimal(statements: pd.DataFrame, cutoff: pd.Timestamp, seed: int):
    """Change, delete and add statements dated on/after `cutoff` (required columns only)."""
    rng = np.random.default_rng(seed)
    s = statements.copy()
    idx = s.index[s["statement_date"] >= cutoff]
    if len(idx):
        chg = rng.choice(idx, size=max(1, len(idx) // 2), replace=False)
        s.loc[chg, "days_past_due"] = rng.integers(0, 200, len(chg)).astype("int16")
        s.loc[chg, "outstanding_balance"] = rng.uniform(0, 5e4, len(chg))
        s = s.drop(rng.choice(idx, size=len(idx) // 3, replace=False))
    extra = s.sample(n=min(3, len(s)), random_state=seed).copy()
    extra["statement_date"] = [cutoff + pd.DateOffset(months=30 + i) for i in range(len(extra))]
    extra["days_past_due"] = np.int16(180)
    return pd.concat([s, extra], ignore_index=True).astype(statements.dtypes.to_dict())


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    obs_month=st.integers(1, 13),
    windows=st.sampled_from([(3, 6, 12), (1, 2), (4,)]),
    extra=st.integers(0, 12),
)
def test_point_in_time_holds_with_the_required_columns_alone(
    book_factory, seed, obs_month, windows, extra
):
    customers, statements, _ = book_factory(n_accounts=6, months=14, seed=seed)
    customers, statements = _minimal(customers, statements)
    date = START + pd.DateOffset(months=obs_month)
    observations = pd.DataFrame({"account_id": customers["account_id"], "observation_date": date})
    lookback = max(windows) + extra
    before, *_ = build_behavioural_features(customers, statements, observations, windows, lookback)
    after, *_ = build_behavioural_features(
        customers, _perturb_future_minimal(statements, date, seed), observations, windows, lookback
    )
    pd.testing.assert_frame_equal(before, after)
    # not vacuous: a past statement does count
    past = statements.index[statements["statement_date"] == date - pd.DateOffset(months=1)]
    if len(past):
        changed = statements.copy()
        changed.loc[past, "days_past_due"] = np.int16(250)
        moved, *_ = build_behavioural_features(customers, changed, observations, windows, lookback)
        assert not before["dpd_current"].equals(moved["dpd_current"])

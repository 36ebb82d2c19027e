"""The feature declarations: the catalogue derived from them, their reason families, and whether
each declares truthfully what it reads (its source columns and its look-back)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.behavioural import (
    ATTRIBUTE_COLUMNS,
    CUSTOMER_COLUMNS,
    STATEMENT_COLUMNS,
    behavioural_catalogue,
    build_behavioural_features,
)
from features.behavioural.definitions import (
    GROUPS,
    SOURCE_TABLES,
    Lookback,
    feature_columns,
)
from tests.helpers import REPO

WINDOW_SETS = [(3, 6, 12), (1, 2), (4,), (2, 5, 9, 24)]
KEYS = {"account_id", "statement_date", "effective_date", "observation_date"}
TABLE_COLUMNS = {
    "statements": STATEMENT_COLUMNS,
    "customers": CUSTOMER_COLUMNS,
    "attributes": ATTRIBUTE_COLUMNS,
}
#: The built-in catalogue's columns for the pipeline's windows, as the stage has always written
#: them: the order is part of the feature file's contract.
BUILTIN_COLUMNS = [
    "months_on_book",
    "credit_limit",
    "utilisation_current",
    "utilisation_mean_3m",
    "utilisation_max_3m",
    "utilisation_mean_6m",
    "utilisation_max_6m",
    "utilisation_mean_12m",
    "utilisation_max_12m",
    "bill_mean_3m",
    "bill_mean_6m",
    "bill_mean_12m",
    "bill_trend_3m_12m",
    "payment_ratio_min_mean_3m",
    "payment_ratio_bill_mean_3m",
    "payment_ratio_min_mean_6m",
    "payment_ratio_bill_mean_6m",
    "payment_ratio_min_mean_12m",
    "payment_ratio_bill_mean_12m",
    "late_payments_3m",
    "max_dpd_3m",
    "months_delinquent_3m",
    "late_payments_6m",
    "max_dpd_6m",
    "months_delinquent_6m",
    "late_payments_12m",
    "max_dpd_12m",
    "months_delinquent_12m",
    "months_since_delinquency",
    "delinquency_episodes",
    "dpd_current",
    "overdue_amount_current",
    "first_time_delinquency",
    "repeat_delinquency",
    "instalment_plans_current",
    "instalment_plans_max_12m",
    "city_tier",
    "income_band",
    "channel",
]


def _features():
    return [f for group in GROUPS for f in group.features]


def test_builtin_catalogue_order_is_unchanged():
    assert behavioural_catalogue((12, 3, 6)).model_columns == BUILTIN_COLUMNS


@pytest.mark.parametrize("windows", WINDOW_SETS)
def test_catalogue_lists_every_computed_column_in_order_and_nothing_else(book, windows):
    customers, statements, observations = book
    frame, cat = build_behavioural_features(customers, statements, observations, windows)
    columns = feature_columns(sorted(windows))
    assert cat.model_columns == [c.name for c in columns]
    assert len(set(cat.model_columns)) == len(cat.model_columns)
    keys = ["account_id", "observation_date", "default", "is_current"]
    rest = cat.protected + cat.policy_columns
    assert list(frame.columns) == keys + cat.model_columns + rest
    for spec in cat.features:
        col = frame[spec.name]
        if spec.dtype == "category":
            assert isinstance(col.dtype, pd.CategoricalDtype)
            assert list(col.cat.categories) == spec.categories
        else:
            assert spec.dtype == "float" and col.dtype == np.float32, spec.name
    # one column per window of a per-window feature, one otherwise; a trend needs two windows
    for f in _features():
        made = [c for c in columns if c.feature is f]
        expected = {Lookback.EACH_WINDOW: len(windows), Lookback.SHORT_VS_LONG: len(windows) > 1}
        assert len(made) == expected.get(f.lookback, 1), f.name


def test_names_and_sources_are_well_formed():
    names = [f.name for f in _features()]
    assert len(set(names)) == len(names)
    for f in _features():
        placeholders = {p for p in ("{w}", "{lo}", "{hi}") if p in f.name}
        expected = {
            Lookback.EACH_WINDOW: {"{w}"},
            Lookback.LONGEST_WINDOW: {"{w}"},
            Lookback.SHORT_VS_LONG: {"{lo}", "{hi}"},
        }.get(f.lookback, set())
        assert placeholders == expected, f.name
        assert f.sources and f.description and f.direction in (-1, 0, 1)
        assert (f.dtype == "category") == (f.categories is not None), f.name
        for table, column in f.inputs:
            assert table in SOURCE_TABLES and column in TABLE_COLUMNS[table], (f.name, table)
        if f.lookback is Lookback.AT_DATE:
            assert all(table != "statements" for table, _ in f.inputs), f.name


@pytest.mark.parametrize("windows", [(3, 6, 12), (1, 2), (4,)])
def test_each_family_agrees_with_the_reason_dictionary(windows):
    """configs/reasons.yaml places every feature in a family; the declaration names the same."""
    from models.explain.reason_dictionary import load_reason_dictionary

    dictionary = load_reason_dictionary(REPO / "configs" / "reasons.yaml")
    for col in feature_columns(list(windows)):
        assert dictionary.family_of(col.name) == col.feature.family, col.name


def _attributes(customers: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = customers[["account_id", "credit_limit", "income_band"]].assign(
        effective_date=customers["signup_date"]
    )
    later = pd.DataFrame(
        {
            "account_id": rng.choice(customers["account_id"].to_numpy(), 30),
            "effective_date": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 400, 30), unit="D"),
            "credit_limit": rng.choice([3000.0, 8000.0, 30000.0], 30),
            "income_band": rng.choice(["low", "mid", "high", "very_high"], 30),
        }
    )
    out = pd.concat([first, later], ignore_index=True)
    out = out.drop_duplicates(["account_id", "effective_date"]).reset_index(drop=True)
    return out[list(ATTRIBUTE_COLUMNS)]


def _scramble(table: pd.DataFrame, column: str, rows: np.ndarray, seed: int) -> pd.DataFrame:
    """`column` of `rows` replaced by values drawn from the whole column (other rows, other
    accounts), so the rows keep their keys and every other column."""
    rng = np.random.default_rng(seed)
    out = table.copy()
    picked = rng.integers(0, len(table), len(rows))
    out.loc[out.index[rows], column] = table[column].to_numpy()[picked]
    return out


def _changed(before: pd.DataFrame, after: pd.DataFrame, names: list[str]) -> set[str]:
    return {n for n in names if not before[n].equals(after[n])}


@pytest.mark.parametrize("dated", [True, False], ids=["attributes", "customers-only"])
def test_features_depend_only_on_their_declared_sources(book, dated):
    """Scrambling one input column changes no feature that does not declare it (and some that
    do): a build may skip the features whose sources a lender's data lacks."""
    customers, statements, observations = book
    attributes = _attributes(customers, 0) if dated else None
    tables = {"statements": statements, "customers": customers, "attributes": attributes}
    base, cat = build_behavioural_features(
        customers, statements, observations, (3, 6, 12), attributes=attributes
    )
    names = cat.model_columns
    declared = {c.name: set(c.feature.sources) for c in feature_columns([3, 6, 12])}
    for table, columns in TABLE_COLUMNS.items():
        if tables[table] is None:
            continue
        for column in columns:
            if column in KEYS or column == "age_band":  # keys place rows; age is protected
                continue
            source = f"{table}.{column}"
            if not dated and source in ("customers.credit_limit", "customers.income_band"):
                source = "attributes." + column  # the fallback of the dated history
            changed = dict(tables)
            t = tables[table]
            changed[table] = _scramble(t, column, np.arange(len(t)), seed=len(column))
            after, _ = build_behavioural_features(
                changed["customers"],
                changed["statements"],
                observations,
                (3, 6, 12),
                attributes=changed["attributes"],
            )
            moved = _changed(base, after, names)
            readers = {n for n in names if source in declared[n]}
            assert moved <= readers, (source, sorted(moved - readers))
            if dated and table == "customers" and column in ("credit_limit", "income_band"):
                assert not moved  # the dated history replaces the customers' values
            else:
                assert moved, source  # the scramble did change something (not vacuous)


def _scramble_statements(statements: pd.DataFrame, rows: np.ndarray, seed: int) -> pd.DataFrame:
    out = statements
    for k, column in enumerate(STATEMENT_COLUMNS):
        if column not in KEYS:
            out = _scramble(out, column, rows, seed + k)
    return out


def test_features_read_no_statement_outside_their_lookback(book_factory):
    """Scrambling every statement before a feature's look-back leaves it unchanged. A window
    of w months reads the statements of the last w months and, for the signals that compare a
    statement with its predecessor, the one statement before them."""
    customers, statements, _ = book_factory(n_accounts=20, months=30, seed=4)
    date = pd.Timestamp("2024-01-01") + pd.DateOffset(months=26)
    observations = pd.DataFrame({"account_id": customers["account_id"], "observation_date": date})
    windows = [2, 5, 9]
    base, _ = build_behavioural_features(customers, statements, observations, windows)
    stmt_date = statements["statement_date"]
    # the last statement before the date is the latest one dated before it, per account
    latest = statements[stmt_date < date].groupby("account_id")["statement_date"].max()
    last_before = statements["account_id"].map(latest)
    not_last = np.flatnonzero((stmt_date < date).to_numpy() & (stmt_date < last_before).to_numpy())
    older_than = {
        w: np.flatnonzero((stmt_date < date - pd.DateOffset(months=w + 1)).to_numpy())
        for w in windows
    }
    scrambled_before = {
        w: build_behavioural_features(
            customers, _scramble_statements(statements, rows, seed=w), observations, windows
        )[0]
        for w, rows in older_than.items()
    }
    all_but_last, _ = build_behavioural_features(
        customers, _scramble_statements(statements, not_last, seed=99), observations, windows
    )
    every = np.flatnonzero((stmt_date < date).to_numpy())
    all_rows, _ = build_behavioural_features(
        customers, _scramble_statements(statements, every, seed=7), observations, windows
    )
    seen_history_change = False
    for col in feature_columns(windows):
        name, lookback = col.name, col.feature.lookback
        if lookback is Lookback.AT_DATE:
            assert base[name].equals(all_rows[name]), name
        elif lookback is Lookback.LAST_STATEMENT:
            assert base[name].equals(all_but_last[name]), name
            assert not base[name].equals(all_rows[name]), name
        elif lookback in (Lookback.EACH_WINDOW, Lookback.LONGEST_WINDOW):
            assert base[name].equals(scrambled_before[col.window][name]), name
        elif lookback is Lookback.SHORT_VS_LONG:
            assert base[name].equals(scrambled_before[windows[-1]][name]), name
        else:
            assert lookback is Lookback.ALL_HISTORY
            seen_history_change |= not base[name].equals(scrambled_before[windows[-1]][name])
    assert seen_history_change  # the old statements were scrambled (the test is not vacuous)

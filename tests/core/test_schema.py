"""One test per rejection rule of the declared schemas; table-level faults raise."""

from __future__ import annotations

import pandas as pd
import pytest

from core.errors import DataValidationError
from core.schema import STATEMENTS, Column, TableSchema, validate_table


def _statements(**overrides) -> pd.DataFrame:
    base = {
        "account_id": [1, 1, 2],
        "statement_date": ["2024-01-01", "2024-02-01", "2024-01-01"],
        "due_date": ["2024-01-21", "2024-02-21", "2024-01-21"],
        "bill_amount": [100.0, 50.0, 30.0],
        "min_due": [10.0, 10.0, 10.0],
        "paid_amount": [0.0, 10.0, 0.0],
        "payment_date": [None, "2024-02-10", None],
        "days_past_due": [0, 0, 0],
        "overdue_amount": [0.0, 0.0, 0.0],
        "outstanding_balance": [100.0, 140.0, 30.0],
        "instalment_plans": [0, 0, 1],
    }
    base.update(overrides)
    return pd.DataFrame(base)


PARENTS = {"customers": pd.Index([1, 2])}


def _reject(df: pd.DataFrame) -> pd.DataFrame:
    kept, rejects = validate_table(df, STATEMENTS, "s.parquet", PARENTS)
    assert len(kept) + len(rejects) == len(df)  # nothing vanishes
    return rejects


def test_clean_table_passes_with_types():
    kept, rejects = validate_table(_statements(), STATEMENTS, "s.parquet", PARENTS)
    assert rejects.empty
    assert kept["statement_date"].dtype == "datetime64[ns]"
    assert kept["payment_date"].isna().sum() == 2


@pytest.mark.parametrize(
    ("overrides", "column", "rule"),
    [
        ({"bill_amount": [100.0, "abc", 30.0]}, "bill_amount", "not a valid float"),
        ({"min_due": [10.0, None, 10.0]}, "min_due", "missing value"),
        ({"paid_amount": [0.0, -5.0, 0.0]}, "paid_amount", "below minimum"),
        ({"days_past_due": [0, 20000, 0]}, "days_past_due", "above maximum"),
        (
            {"statement_date": ["2024-01-01", "not a date", "2024-01-01"]},
            "statement_date",
            "not a valid date",
        ),
        (
            {"statement_date": ["2024-01-01", "2024-01-01", "2024-01-01"]},
            "account_id,statement_date",
            "duplicate key",
        ),
        ({"account_id": [1, 1, 3]}, "account_id", "not found in customers"),
    ],
)
def test_each_rule_rejects_the_row_with_its_reason(overrides, column, rule):
    rejects = _reject(_statements(**overrides))
    assert len(rejects) == 1
    row = rejects.iloc[0]
    assert row["_column"] == column
    assert rule in row["_rule"]
    assert row["_file"] == "s.parquet"
    assert row["_row"] in (1, 2)


def test_allowed_values_rule():
    schema = TableSchema("t", (Column("band", "str", allowed=("a", "b")),))
    kept, rejects = validate_table(pd.DataFrame({"band": ["a", "z", "b"]}), schema, "t.csv")
    assert list(kept["band"]) == ["a", "b"]
    assert rejects.iloc[0]["_row"] == 1 and "allowed" in rejects.iloc[0]["_rule"]


def test_missing_column_names_file_and_column():
    with pytest.raises(DataValidationError, match=r"file 's.parquet', column 'min_due'"):
        validate_table(_statements().drop(columns=["min_due"]), STATEMENTS, "s.parquet", PARENTS)


def test_empty_table_fails():
    with pytest.raises(DataValidationError, match="empty"):
        validate_table(_statements().iloc[:0], STATEMENTS, "s.parquet", PARENTS)

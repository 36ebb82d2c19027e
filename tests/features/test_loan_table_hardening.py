"""Loan tables that used to pass wrongly (GitHub issue 16): dates, names, values, messages, targets.

Each test fails on the code before the fix: a value read other than as written is rejected with
its rule or noted in the ingest summary, never coerced silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import DataValidationError, InvalidConfig
from features.ingest import ingest_table
from features.loan_table import GROUP, TableConfig, load_table, standardise


def _cfg(path: str = "loans.csv", **kw) -> TableConfig:
    base = dict(
        path=path,
        target_column="loan_status",
        positive_values=("Charged Off",),
        negative_values=None,
        id_column="loan_id",
        date_column="issue_d",
        date_format=None,
        group_column=None,
        drop_columns=(),
        protected_columns=(),
    )
    base.update(kw)
    return TableConfig(**base)


def _frame(n: int = 10, **columns) -> pd.DataFrame:
    data = {
        "loan_id": [f"L{i}" for i in range(n)],
        "issue_d": [f"2020-{1 + i % 12:02d}-{10 + i % 15:02d}" for i in range(n)],
        "loan_amnt": [1000.0 + i for i in range(n)],
        "loan_status": ["Charged Off" if i % 3 == 0 else "Fully Paid" for i in range(n)],
    }
    data.update(columns)
    return pd.DataFrame(data)


# ------------------------------------------------------------------------------------ dates
def test_mixed_date_formats_are_rejected_never_swapped():
    iso = [f"2020-01-{d:02d}" for d in range(13, 20)]  # 7 rows in the column's format
    day_first = ["05/01/2020", "06/02/2020", "07/03/2020"]  # 30%: would be read May 1, ...
    result = standardise(_frame(issue_d=iso + day_first), _cfg(), "loans.csv")
    assert result.date_format == "%Y-%m-%d"
    kept = result.kept["observation_date"]
    assert kept.dt.month.eq(1).all() and len(kept) == 7  # nothing read with day and month swapped
    assert list(result.rejects["_rule"]) == ["date not in the column's format '%Y-%m-%d'"] * 3
    assert any("'%d/%m/%Y'" in note for note in result.notes)


def test_explicit_date_format_reads_day_first():
    dates = [f"{d:02d}/01/2020" for d in range(1, 11)]
    result = standardise(_frame(issue_d=dates), _cfg(date_format="%d/%m/%Y"), "loans.csv")
    assert result.kept["observation_date"].dt.month.eq(1).all()
    assert result.kept["observation_date"].dt.day.tolist() == list(range(1, 11))


def test_day_month_ambiguity_stops_with_the_formats_and_the_key():
    dates = [f"{d:02d}/{m:02d}/2020" for d, m in zip(range(1, 11), range(2, 12), strict=True)]
    with pytest.raises(DataValidationError, match="day and month cannot be told apart") as err:
        standardise(_frame(issue_d=dates), _cfg(), "loans.csv")
    assert "'%d/%m/%Y'" in str(err.value) and "data.table.date_format" in str(err.value)


def test_no_parseable_date_says_so_not_single_class():
    with pytest.raises(DataValidationError, match="no value of the date column is a date"):
        standardise(_frame(issue_d=["soon"] * 10), _cfg(), "loans.csv")


def test_every_row_rejected_names_the_rule_not_single_class():
    df = _frame(loan_amnt=[np.inf] * 10)
    with pytest.raises(DataValidationError, match=r"no usable row.*'not a finite number \(inf\)'"):
        standardise(df, _cfg(), "x.csv")


# ---------------------------------------------------------------------------- reading CSV
def test_semicolon_csv_is_read_with_its_separator(tmp_path: Path):
    path = tmp_path / "loans.csv"
    _frame().to_csv(path, index=False, sep=";")
    df, notes = load_table(path)
    assert list(df.columns) == ["loan_id", "issue_d", "loan_amnt", "loan_status"]
    assert notes == ["file read as semicolon-separated (detected from the header)"]


def test_a_glued_header_says_the_file_looks_semicolon_separated():
    glued = pd.DataFrame({"loan_id;issue_d;loan_status": ["a;2020-01-01;x"]})
    with pytest.raises(DataValidationError, match="looks semicolon"):
        standardise(glued, _cfg(), "loans.csv")


def test_duplicate_header_fails_instead_of_renaming(tmp_path: Path):
    path = tmp_path / "loans.csv"
    path.write_text("loan_id,dti,dti,loan_status\nL1,0.1,0.2,Charged Off\nL2,0.3,0.4,Fully Paid\n")
    with pytest.raises(DataValidationError, match="column 'dti'.*names column 'dti' 2 times"):
        load_table(path)


def test_missing_tokens_and_thousands_are_read_with_a_note(tmp_path: Path):
    path = tmp_path / "loans.csv"
    _frame(income=["1,234", "N/A", "2,500", "900"] + ["1,000"] * 6).to_csv(path, index=False)
    result = ingest_table(_cfg(path=str(path)), max_reject_fraction=0.5)
    income = result.tables["loans.parquet"]["income"]
    assert income.dtype == np.float64
    assert income.iloc[0] == 1234.0 and np.isnan(income.iloc[1])
    notes = result.summary["parsing_notes"]
    assert any("'income'" in n and "'N/A' read as missing" in n for n in notes)
    assert any("'income'" in n and "thousands separators" in n and "1234" in n for n in notes)


def test_missing_token_in_the_target_is_a_missing_target():
    df = _frame(loan_status=["N/A"] + ["Charged Off", "Fully Paid"] * 4 + ["Fully Paid"])
    result = standardise(df, _cfg(), "loans.csv")
    assert list(result.rejects["_rule"]) == ["target value missing"]


# ---------------------------------------------------------------------------------- values
def test_infinite_and_float32_overflow_values_are_rejected():
    amounts = [np.inf, -np.inf, 1e300, *[1000.0 + i for i in range(7)]]
    result = standardise(_frame(loan_amnt=amounts), _cfg(), "loans.csv")
    assert result.rejects["_rule"].tolist() == [
        "not a finite number (inf)",
        "not a finite number (inf)",
        "beyond the float32 range of model features (|x| > 3.4e+38)",
    ]
    assert np.isfinite(result.kept["loan_amnt"].astype(np.float32)).all()


def test_text_infinity_is_rejected_too(tmp_path: Path):
    path = tmp_path / "loans.csv"
    _frame(loan_amnt=["inf"] + [str(1000 + i) for i in range(9)]).to_csv(path, index=False)
    result = ingest_table(_cfg(path=str(path)), max_reject_fraction=0.5)
    assert result.summary["rejected_by_rule"] == {"loans: loan_amnt: not a finite number (inf)": 1}


# ---------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id_column": "loan_status"}, "id_column"),
        ({"date_column": "loan_status"}, "date_column"),
        ({"date_column": "loan_id"}, "date_column"),
        ({"group_column": "loan_id"}, "group_column"),
        ({"drop_columns": ("loan_id",)}, "drop_columns"),
        ({"negative_values": ("Charged Off",)}, "negative_values"),
        ({"positive_values": None, "negative_values": ("0",)}, "negative_values"),
        ({"date_format": "YYYY-MM-DD"}, "date_format"),
        ({"date_column": None, "date_format": "%Y-%m-%d"}, "date_format"),
    ],
)
def test_column_roles_must_be_distinct_and_consistent(changes, field):
    with pytest.raises(InvalidConfig) as err:
        _cfg(**changes)
    assert err.value.field == field


# ---------------------------------------------------------------------------------- target
def _statuses() -> list[str]:
    return ["Charged Off", "Fully Paid", "Current", "Late (31-120 days)", "Fully Paid"] * 2


def test_negative_values_leave_other_outcomes_out_and_count_them(tmp_path: Path):
    path = tmp_path / "loans.csv"
    _frame(loan_status=_statuses()).to_csv(path, index=False)
    cfg = _cfg(path=str(path), negative_values=("Fully Paid",))
    result = ingest_table(cfg, max_reject_fraction=0.2)
    kept = result.tables["loans.parquet"]
    assert len(kept) == 6 and kept["default"].tolist() == [1, 0, 0] * 2
    assert result.summary["rows_indeterminate"] == 4 and result.summary["rows_rejected"] == 0
    assert result.summary["target_values"]["indeterminate"] == {
        "Current": 2,
        "Late (31-120 days)": 2,
    }


def test_null_negative_values_count_every_other_value_as_good(tmp_path: Path):
    path = tmp_path / "loans.csv"
    _frame(loan_status=_statuses()).to_csv(path, index=False)
    result = ingest_table(_cfg(path=str(path)), max_reject_fraction=0.2)
    assert len(result.tables["loans.parquet"]) == 10
    assert result.summary["rows_indeterminate"] == 0
    assert result.summary["target_values"]["non_default"] == {
        "Fully Paid": 4,
        "Current": 2,
        "Late (31-120 days)": 2,
    }


def test_negative_values_absent_from_the_target_fail():
    with pytest.raises(DataValidationError, match="none of negative_values"):
        standardise(_frame(), _cfg(negative_values=("Paid Off",)), "loans.csv")


# ---------------------------------------------------------------------------------- groups
def test_group_column_becomes_group_id_and_missing_groups_are_rejected():
    df = _frame(borrower=["b1", "b1", None, "b2", "b3", "b3", "b4", "b5", "b6", "b6"])
    result = standardise(df, _cfg(group_column="borrower"), "loans.csv")
    assert GROUP in result.kept and "borrower" not in result.kept
    assert result.kept[GROUP].tolist()[:2] == ["b1", "b1"]
    assert result.rejects["_rule"].tolist() == ["group missing"]

"""Bring-your-own table: mapping the target, ids, dates, drops, rejects and clear failures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.errors import DataValidationError
from features.loan_table import TableConfig, read_table, standardise_table


def _loans() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "loan_id": ["a1", "a2", "a3", "a4", "a5", "a5"],
            "issue_d": [
                "2020-01-05",
                "2020-02-11",
                "bad",
                "2020-03-01",
                "2020-04-01",
                "2020-05-01",
            ],
            "loan_amnt": [1000, 2500, 1200, None, 800, 900],
            "grade": ["A", "B", "C", "A", "B", "A"],
            "total_pymnt": [1100, 0, 10, 5, 1, 2],
            "gender": ["f", "m", "f", "m", "f", "m"],
            "loan_status": [
                "Fully Paid",
                "Charged Off",
                "Fully Paid",
                "Charged Off",
                None,
                "Fully Paid",
            ],
        }
    )


def _cfg(**kw) -> TableConfig:
    base = dict(
        path="loans.csv",
        target_column="loan_status",
        positive_values=("Charged Off",),
        negative_values=None,
        id_column="loan_id",
        date_column="issue_d",
        date_format=None,
        group_column=None,
        drop_columns=("total_pymnt",),
        protected_columns=("gender",),
    )
    base.update(kw)
    return TableConfig(**base)


def test_csv_roundtrip_maps_target_and_rejects(tmp_path: Path):
    path = tmp_path / "loans.csv"
    _loans().to_csv(path, index=False)
    kept, rejects = standardise_table(read_table(path), _cfg(path=str(path)), str(path))
    assert list(kept.columns[:3]) == ["account_id", "observation_date", "default"]
    assert "total_pymnt" not in kept.columns and "loan_status" not in kept.columns
    assert (
        "gender" in kept.columns
    )  # protected columns are kept (never features: see features stage)
    assert list(kept["default"]) == [0, 1, 1]
    assert list(kept["account_id"]) == ["a1", "a2", "a4"]
    # bad date, missing target, duplicate id: each kept with its reason
    assert sorted(rejects["_rule"]) == sorted(
        ["date not in the column's format '%Y-%m-%d'", "target value missing", "duplicate id"]
    )
    assert len(kept) + len(rejects) == len(_loans())


def test_binary_target_without_positive_values():
    df = _loans().assign(loan_status=[0, 1, 0, 1, 0, 1])
    kept, _ = standardise_table(
        df, _cfg(positive_values=None, id_column=None, date_column=None), "x.csv"
    )
    assert kept["default"].tolist() == [0, 1, 0, 1, 0, 1]
    assert kept["account_id"].tolist() == ["1", "2", "3", "4", "5", "6"]  # generated ids


def test_target_outside_0_1_without_mapping_fails():
    with pytest.raises(DataValidationError, match="column 'loan_status'.*0/1"):
        standardise_table(_loans(), _cfg(positive_values=None), "x.csv")


def test_positive_values_absent_fails():
    with pytest.raises(DataValidationError, match="none of positive_values"):
        standardise_table(_loans(), _cfg(positive_values=("Default",)), "x.csv")


def test_single_class_fails():
    df = _loans().assign(loan_status=0)
    with pytest.raises(DataValidationError, match="single class"):
        standardise_table(df, _cfg(positive_values=None), "x.csv")


def test_missing_configured_column_fails():
    with pytest.raises(DataValidationError, match="column 'issue_d'"):
        standardise_table(_loans().drop(columns=["issue_d"]), _cfg(), "x.csv")


def test_unreadable_and_missing_files(tmp_path: Path):
    with pytest.raises(DataValidationError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataValidationError, match="could not be read"):
        read_table(bad)


def test_config_rules_name_the_field():
    from core.errors import InvalidConfig

    with pytest.raises(InvalidConfig, match="path") as err:
        _cfg(path="loans.xlsx")
    assert err.value.field == "path"
    with pytest.raises(InvalidConfig, match="drop_columns") as err:
        _cfg(drop_columns=("gender",))
    assert err.value.field == "protected_columns"


def test_unreadable_file_is_a_data_error_not_a_crash(tmp_path: Path):
    bad = tmp_path / "loans.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(DataValidationError, match="could not be read as a table"):
        read_table(bad)
    gz = tmp_path / "loans.csv.gz"
    gz.write_bytes(b"\x1f\x8b broken gzip")
    with pytest.raises(DataValidationError, match="could not be read as a table"):
        read_table(gz)

"""features.history: a lender's accounts + statements files, read with its own column names."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.contracts import RAW_CUSTOMERS, RAW_OBSERVATIONS, RAW_STATEMENTS
from core.errors import DataValidationError
from core.partitions import PartitionedWriter
from features.ingest import IngestConfig, run_ingest
from features.raw import read_raw
from pipelines.params import load_params
from pipelines.params.data import read_history
from tests.features.history_helpers import export_history, history_params, small_book


@pytest.fixture(scope="module")
def book():
    return small_book(600, seed=5)


def config(tmp_path: Path, history: dict):
    """A HistoryConfig read through the params reader (so the checks are the stage's)."""
    import yaml

    from tests.helpers import REPO

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["history"] = history
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return read_history(load_params(path))


def ingest(tmp_path: Path, cfg, partitions: int = 3):
    raw = tmp_path / "raw"
    with PartitionedWriter(raw, partitions) as writer:
        result = run_ingest(IngestConfig(cfg, 0.2), writer.write, raw / ".scratch", partitions)
    (raw / "meta.json").write_text(json.dumps({**result.meta, "partitions": partitions}))
    return raw, result


def _read(raw: Path, contract) -> pd.DataFrame:
    return pd.read_parquet(raw / contract.file)


def test_a_lenders_files_come_back_as_the_built_in_raw_layout(tmp_path, book):
    files = export_history(book, tmp_path / "ext")
    raw, result = ingest(tmp_path, config(tmp_path, history_params(files)))
    customers, statements = _read(raw, RAW_CUSTOMERS), _read(raw, RAW_STATEMENTS)
    assert len(customers) == len(book.customers) and len(statements) == len(book.statements)
    got = _read(raw, RAW_OBSERVATIONS).sort_values(["observation_date", "account_id"])
    want = book.observations.assign(account_id=book.observations["account_id"].astype(str))
    want = want.sort_values(["observation_date", "account_id"])
    assert got["account_id"].tolist() == want["account_id"].tolist()
    assert (
        got["default"].astype("float").fillna(-1).tolist()
        == want["default"].astype("float").fillna(-1).tolist()
    )
    assert got["is_current"].tolist() == want["is_current"].tolist()
    assert result.rejects.empty
    assert result.summary["columns"]["static_features"] == ["city_tier", "channel"]
    assert result.meta["protected_columns"] == ["protected__age_band"]
    assert read_raw(raw).source == "history"  # the features stage reads it like the built-in


def test_labels_are_derived_by_the_stated_definition_and_counted(tmp_path, book):
    files = export_history(book, tmp_path / "ext", with_labels=False)
    dates = ["2024-10-01", "2025-01-01", "2025-04-01", "2025-07-01"]
    cfg = config(tmp_path, history_params(files, observation_dates=dates))
    _, result = ingest(tmp_path, cfg)
    labels = result.summary["labels"]
    assert labels["source"] == "derived from the statements"
    assert [d["observation_date"] for d in labels["by_date"]] == dates
    assert labels["defaulted"] > 0 and labels["labelled"] > 1000
    for d in labels["by_date"]:
        assert d["observations"] == d["labelled"] + d["in_default"] + d["censored"]


def test_a_missing_required_column_names_it_and_its_mapping(tmp_path, book):
    files = export_history(book, tmp_path / "ext", drop_statement_columns=("days_past_due",))
    with pytest.raises(
        DataValidationError, match=r"column 'dpd'.*data.history.columns.days_past_due: dpd"
    ):
        ingest(tmp_path, config(tmp_path, history_params(files)))


def test_a_mapping_to_no_column_is_an_error_not_ignored(tmp_path, book):
    files = export_history(book, tmp_path / "ext")
    params = history_params(files)
    params["columns"]["min_due"] = "minimum_payment"  # a typo: the file says "minimum"
    with pytest.raises(
        DataValidationError, match="columns.min_due: minimum_payment names a column no file has"
    ):
        ingest(tmp_path, config(tmp_path, params))
    params["columns"]["mindue"] = "minimum"
    with pytest.raises(Exception, match="mindue"):
        config(tmp_path, params)


def test_duplicate_statements_and_bad_values_are_rejected_with_file_row_column_rule(tmp_path, book):
    files = export_history(book, tmp_path / "ext")
    statements = pd.read_csv(files["statements"], dtype=str)
    statements.loc[3, "balance"] = "-25.5"  # a credit balance: valid
    statements.loc[5, "paid"] = "1,234"  # never guessed
    statements = pd.concat([statements, statements.iloc[[7]]], ignore_index=True)  # a repeat
    statements.to_csv(files["statements"], index=False)
    raw, result = ingest(tmp_path, config(tmp_path, history_params(files)))
    rejects = result.rejects.set_index("_row")
    assert rejects.loc["5", "_column"] == "paid" and "plain number" in rejects.loc["5", "_rule"]
    last = str(len(statements) - 1)
    assert rejects.loc[last, "_rule"] == "duplicate (account_id, statement_date)"
    assert set(rejects["_file"]) == {str(files["statements"])}
    kept = _read(raw, RAW_STATEMENTS)
    assert (kept["outstanding_balance"] == -25.5).sum() == 1
    assert len(kept) == len(statements) - 2


def test_ids_are_kept_as_written(tmp_path, book):
    files = export_history(book, tmp_path / "ext")
    for name in ("accounts", "statements", "attributes", "labels"):
        frame = pd.read_csv(files[name], dtype=str)
        frame["acct_no"] = "000" + frame["acct_no"].str.zfill(16)  # 19 digits, leading zeros
        frame.to_csv(files[name], index=False)
    raw, _ = ingest(tmp_path, config(tmp_path, history_params(files)))
    ids = _read(raw, RAW_CUSTOMERS)["account_id"]
    assert ids.str.len().eq(19).all() and ids.str.startswith("000").all()


def test_missing_flags_refuse_unless_assumed_false_which_is_recorded(tmp_path, book):
    files = export_history(book, tmp_path / "ext")
    params = history_params(files)
    params["flags"]["hardship"] = None
    with pytest.raises(DataValidationError, match=r"no 'hardship' flag.*never guessed"):
        ingest(tmp_path, config(tmp_path, params))
    params["flags_absent"] = "assume_false"
    raw, result = ingest(tmp_path, config(tmp_path, params))
    assert result.summary["flags"]["absent"] == ["hardship"]
    assert result.meta["flags_assumed_false"] == ["hardship"]
    assert not _read(raw, RAW_CUSTOMERS)["hardship"].any()


def test_materiality_without_an_overdue_amount_stops(tmp_path, book):
    files = export_history(
        book, tmp_path / "ext", with_labels=False, drop_statement_columns=("overdue_amount",)
    )
    params = history_params(files, observation_dates=["2025-01-01"])
    params["columns"].pop("overdue_amount")
    params["default_definition"]["materiality_abs"] = 100
    with pytest.raises(DataValidationError, match="materiality.*no overdue amount"):
        ingest(tmp_path, config(tmp_path, params))

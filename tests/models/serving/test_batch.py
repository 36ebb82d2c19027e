"""The chunked batch scorer: answers chunk by chunk, ids beside them, nothing left on failure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.types import ColSpec, Schema

from core.errors import DataValidationError
from models.serving.batch import count_rows, file_kind, iter_chunks, score_file, signature_types


class _Metadata:
    def get_input_schema(self) -> Schema:
        return Schema([ColSpec("double", "x"), ColSpec("boolean", "dispute")])


class DoublingModel:
    """A stand-in pyfunc: checks the request types as MLflow would, answers 2x."""

    metadata = _Metadata()

    def predict(self, frame: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        if frame["x"].dtype != "float64" or (frame["x"] < 0).any():
            raise MlflowException("column 'x': expected a non-negative double")
        return pd.DataFrame({"y": 2 * frame["x"], "flag": frame["dispute"]})


def _book(path: Path, n: int = 25) -> pd.DataFrame:
    rows = pd.DataFrame(
        {"account_id": range(n), "x": range(n), "policy__dispute": [i % 3 == 0 for i in range(n)]}
    )
    (rows.to_parquet if path.suffix == ".parquet" else rows.to_csv)(path, index=False)
    return rows


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_chunks_are_scored_in_order_with_ids(tmp_path, suffix):
    rows = _book(tmp_path / f"in{suffix}")
    written = score_file(DoublingModel(), tmp_path / f"in{suffix}", tmp_path / "out.parquet", 7)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert written == len(rows) == len(out)
    assert out["account_id"].tolist() == rows["account_id"].tolist()
    assert out["y"].tolist() == [2.0 * v for v in rows["x"]]
    assert out["flag"].tolist() == rows["policy__dispute"].tolist()  # policy__ -> request name


def test_a_bad_chunk_names_its_rows_and_leaves_nothing(tmp_path):
    rows = _book(tmp_path / "in.parquet")
    rows.loc[17, "x"] = -1
    rows.to_parquet(tmp_path / "in.parquet", index=False)
    with pytest.raises(DataValidationError, match=r"rows 14\.\.20 could not be scored: column 'x'"):
        score_file(DoublingModel(), tmp_path / "in.parquet", tmp_path / "out.csv", 7)
    assert not (tmp_path / "out.csv").exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_bucketed_book_is_scored_bucket_by_bucket(tmp_path):
    """A table bucketed by account id (a directory of part files, as ingest writes the raw book)
    is scored part after part, in part order, one chunk at a time."""
    from core.partitions import PartitionedWriter, bucket_of, part_files

    rows = _book(tmp_path / "whole.parquet", n=40)
    with PartitionedWriter(tmp_path / "book", 3) as writer:
        writer.write("in.parquet", rows)
    directory = tmp_path / "book" / "in.parquet"
    assert len(part_files(directory)) == 3 and count_rows(directory) == 40
    written = score_file(DoublingModel(), directory, tmp_path / "out.parquet", 4)
    out = pd.read_parquet(tmp_path / "out.parquet")
    expected = rows.iloc[pd.Series(bucket_of(rows["account_id"], 3)).argsort(kind="stable")]
    assert written == 40
    assert out["account_id"].tolist() == expected["account_id"].tolist()
    assert out["y"].tolist() == [2.0 * v for v in expected["x"]]
    (tmp_path / "empty.parquet").mkdir()
    with pytest.raises(DataValidationError, match="no part-\\*.parquet files"):
        count_rows(tmp_path / "empty.parquet")


def test_file_helpers(tmp_path):
    _book(tmp_path / "in.parquet", n=10)
    assert file_kind(Path("a.csv.gz")) == "csv" and file_kind(Path("a.pq")) == "parquet"
    with pytest.raises(DataValidationError, match="must end in"):
        file_kind(Path("a.xlsx"))
    assert count_rows(tmp_path / "in.parquet") == 10 and count_rows(Path("a.csv")) is None
    assert [len(c) for c in iter_chunks(tmp_path / "in.parquet", 4)] == [4, 4, 2]
    with pytest.raises(DataValidationError, match="file not found"):
        next(iter_chunks(tmp_path / "absent.csv", 4))
    assert signature_types(DoublingModel()) == {"x": "double", "dispute": "boolean"}


@pytest.mark.slow
def test_registered_model_failure_leaves_no_output(trained_registry, tmp_path):
    import mlflow

    from core.errors import DataValidationError

    mlflow.set_tracking_uri(trained_registry.tracking_uri)
    model = mlflow.pyfunc.load_model(trained_registry.uri)
    table = trained_registry.features
    rows = table[table["split"].isin(["test", "score"])].head(100).reset_index(drop=True)
    rows.loc[70, "policy__days_past_due"] = -3
    rows.to_parquet(tmp_path / "in.parquet")
    with pytest.raises(DataValidationError, match="days_past_due"):
        score_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", chunk_rows=30)
    assert not (tmp_path / "out.parquet").exists() and not list(tmp_path.glob(".*.tmp"))

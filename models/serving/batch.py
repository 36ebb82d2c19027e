"""Batch scoring with a served model: CSV or Parquet in, CSV or Parquet out, in chunks.

Large books are scored through exactly the model services load (`mlflow.pyfunc`), so a batch run
and a request answer alike; reading in chunks (Parquet row batches / CSV chunks) keeps memory
flat, and writing to a temp file moved into place only when every chunk succeeded means a failed
run leaves no half-written output. Each chunk becomes a request through `request.to_request`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import DataValidationError
from core.io import atomic_path
from core.partitions import part_files
from models.serving.request import to_request

log = logging.getLogger(__name__)

#: Input columns copied to the output beside the model's answer, when present.
ID_COLUMNS = ("account_id", "observation_date")


def file_kind(path: Path) -> str:
    """'parquet' or 'csv' from the file name (a bucketed table is a directory named *.parquet);
    anything else is an error naming the file."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise DataValidationError(str(path), "must end in .csv, .csv.gz or .parquet")


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of an input: itself, or a bucketed table directory's parts in order."""
    if not path.is_dir():
        return [path]
    parts = part_files(path)
    if not parts:
        raise DataValidationError(str(path), "directory holds no part-*.parquet files")
    return parts


def iter_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Yield the input in chunks of at most `chunk_rows` rows (a bucketed Parquet directory:
    bucket after bucket, so memory stays one chunk whatever the book's size)."""
    if not path.exists():
        raise DataValidationError(str(path), "file not found")
    if file_kind(path) == "parquet":
        import pyarrow.parquet as pq

        for file in parquet_files(path):
            for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
    else:
        yield from pd.read_csv(path, chunksize=chunk_rows, low_memory=False)


def count_rows(path: Path) -> int | None:
    """Rows in a Parquet input (from its metadata); None for CSV (unknown without reading it)."""
    if file_kind(path) == "parquet":
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(f).metadata.num_rows for f in parquet_files(path))
    return None


def signature_types(model: Any) -> dict[str, str]:
    """The model's request columns and their MLflow types, from its logged signature."""
    schema = model.metadata.get_input_schema()
    if schema is None:
        return {}
    return {c.name: str(c.type).removeprefix("DataType.") for c in schema.inputs}


def load_model(model_uri: str, tracking_uri: str) -> Any:
    """The pyfunc model at `model_uri` (models:/credit-pd@champion) from this tracking store."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.pyfunc.load_model(model_uri)


def _arrow_table(frame: pd.DataFrame) -> Any:
    """Text columns typed as string even when a chunk holds only nulls (stable across chunks)."""
    import pyarrow as pa

    fields = []
    for c in frame.columns:
        s = frame[c]
        if s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype | pd.StringDtype):
            fields.append(pa.field(c, pa.string()))
        else:
            fields.append(
                pa.field(c, pa.Schema.from_pandas(frame[[c]], preserve_index=False)[0].type)
            )
    data = {
        c: frame[c].astype(object).where(frame[c].notna(), None)
        if fields[i].type == pa.string()
        else frame[c]
        for i, c in enumerate(frame.columns)
    }
    return pa.Table.from_pandas(pd.DataFrame(data), schema=pa.schema(fields), preserve_index=False)


def score_file(
    model: Any,
    input_path: Path,
    output_path: Path,
    chunk_rows: int,
    params: dict[str, Any] | None = None,
    output_kind: str | None = None,
) -> int:
    """Score `input_path` chunk by chunk with a loaded pyfunc model; return rows written.

    `output_kind` ("csv" | "parquet") overrides the kind read from `output_path`'s name (the
    caller may write to a staged temp path).

    Output: the input's id columns (account_id, observation_date when present) and the model's
    outputs, one row per input row in input order. Nothing is left at `output_path` on failure.
    """
    import pyarrow.parquet as pq
    from mlflow.exceptions import MlflowException
    from tqdm import tqdm

    out_kind = output_kind or file_kind(output_path)
    types = signature_types(model)
    written = 0
    with atomic_path(output_path) as tmp:
        writer = None
        try:
            with tqdm(
                total=count_rows(input_path), unit="rows", desc="scoring", disable=None
            ) as bar:
                for i, chunk in enumerate(iter_chunks(input_path, chunk_rows)):
                    try:
                        result = model.predict(to_request(chunk, types), params=params)
                    except (MlflowException, DataValidationError) as exc:
                        # the model's own message names the column and the rule
                        raise DataValidationError(
                            str(input_path),
                            f"rows {written}..{written + len(chunk) - 1} could not be scored: "
                            f"{getattr(exc, 'message', exc)}",
                        ) from None
                    ids = [c for c in ID_COLUMNS if c in chunk.columns and c not in result]
                    result = pd.concat(
                        [chunk[ids].reset_index(drop=True), result.reset_index(drop=True)], axis=1
                    )
                    if out_kind == "parquet":
                        table = _arrow_table(result)
                        if writer is None:
                            writer = pq.ParquetWriter(tmp, table.schema)
                        writer.write_table(table.cast(writer.schema))
                    else:
                        result.to_csv(tmp, mode="a" if i else "w", header=i == 0, index=False)
                    written += len(result)
                    bar.update(len(chunk))
            if writer is None and out_kind == "parquet":
                raise DataValidationError(str(input_path), "has no rows to score")
        finally:
            if writer is not None:
                writer.close()
    log.info("scored %d rows -> %s", written, output_path)
    return written

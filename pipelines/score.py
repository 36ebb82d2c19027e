"""Batch scoring with the registered model: CSV or Parquet in, CSV or Parquet out.

    python -m pipelines.score --input accounts.parquet --output scored.parquet \
        [--model-uri models:/credit-pd@champion] [--chunk-rows 50000] [--no-reasons]

The input is read in chunks (Parquet row batches / CSV chunks) so memory stays flat on large files;
each chunk goes through the same pyfunc model that services load (the feature table's `policy__`
columns are mapped onto the model's request names); the output is written to a temp file beside the
target and moved into place only when every chunk succeeded. The tracking URI resolves as in the
train stage: MLFLOW_TRACKING_URI, then params `mlflow.tracking_uri`, else sqlite at the repo root.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from features.catalogue import POLICY_PREFIX
from features.errors import ConfigError, DataValidationError
from features.io import atomic_path
from pipelines.common import base_parser, load_params, run_stage

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]


def _suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    raise DataValidationError(str(path), "must end in .csv, .csv.gz or .parquet")


def iter_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Yield the input in chunks of at most `chunk_rows` rows."""
    if not path.exists():
        raise DataValidationError(str(path), "file not found")
    if _suffix(path) == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
    else:
        yield from pd.read_csv(path, chunksize=chunk_rows, low_memory=False)


def count_rows(path: Path) -> int | None:
    if _suffix(path) == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return None


ID_COLUMNS = ("account_id", "observation_date")


def request_types(model: Any) -> dict[str, str]:
    """The model's input columns and their MLflow types, from its signature."""
    schema = model.metadata.get_input_schema()
    if schema is None:
        return {}
    return {c.name: str(c.type).removeprefix("DataType.") for c in schema.inputs}


def to_request(chunk: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """A file chunk as a request: the feature table's `policy__<name>` columns under the model's
    plain names; whole numbers typed double where the signature says double (MLflow refuses the
    int64 -> float64 cast); text columns as text with None for missing (CSV reads an empty column
    as float NaN)."""
    rename = {
        f"{POLICY_PREFIX}{n}": n
        for n in types
        if n not in chunk.columns and f"{POLICY_PREFIX}{n}" in chunk.columns
    }
    out = chunk.rename(columns=rename)
    cast: dict[str, Any] = {}
    for name, typ in types.items():
        if name not in out.columns:
            continue
        col = out[name]
        if typ == "double" and pd.api.types.is_integer_dtype(col.dtype):
            cast[name] = col.astype("float64")
        elif typ == "string" and not pd.api.types.is_string_dtype(col.dtype):
            text = col.astype(object)
            cast[name] = text.where(col.notna(), None).map(
                lambda v: v if v is None or isinstance(v, str) else str(v)
            )
    return out.assign(**cast) if cast else out


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
    chunk_rows: int = 50_000,
    params: dict[str, Any] | None = None,
) -> int:
    """Score `input_path` chunk by chunk with a loaded pyfunc model; return rows written.

    Output: the input's id columns (account_id, observation_date when present) and the model's
    outputs, one row per input row in input order. Nothing is left at `output_path` on failure.
    """
    import pyarrow.parquet as pq
    from tqdm import tqdm

    out_kind = _suffix(output_path)
    types = request_types(model)
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
                    except Exception as exc:  # the model's own message names the column
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


def main(args: argparse.Namespace) -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if args.chunk_rows < 1:
        raise ConfigError(
            "--chunk-rows", "must be a positive integer", args.chunk_rows, source="command line"
        )
    params = load_params(args.params) if Path(args.params).exists() else {}
    ml = params.get("mlflow") or {}
    model_uri = args.model_uri or f"models:/{ml.get('model_name', 'credit-pd')}@champion"
    import mlflow

    from models.registry import resolve_tracking_uri

    uri = resolve_tracking_uri(ml.get("tracking_uri"), REPO_ROOT)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = mlflow.pyfunc.load_model(model_uri)
    predict_params = None if args.reasons else {"reasons": False}
    score_file(model, Path(args.input), Path(args.output), args.chunk_rows, predict_params)


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("Batch-score a CSV/Parquet file with the registered PD model.")
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument(
        "--model-uri", default=None, help="default models:/<mlflow.model_name>@champion"
    )
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument(
        "--no-reasons",
        dest="reasons",
        action="store_false",
        help="skip reason codes (TreeSHAP is ~100x the cost of a PD)",
    )
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())

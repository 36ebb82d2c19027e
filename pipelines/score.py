"""Batch scoring with the registered model: CSV or Parquet in, CSV or Parquet out.

    python -m pipelines.score --input accounts.parquet --output scored.parquet \
        [--model-uri models:/credit-pd@champion] [--chunk-rows 50000] [--no-reasons]

Rows go through the same pyfunc model services load, chunk by chunk (`models.serving.batch`); a
feature table's `policy__` columns are mapped onto the model's request names. The input may also
be a table bucketed by account id (a directory `book.parquet/part-XXXX.parquet`, the layout ingest
writes): it is scored part after part, so memory stays one chunk for any book size. The tracking URI
resolves as in the register stage: MLFLOW_TRACKING_URI, then params `mlflow.tracking_uri`, else
sqlite at the repo root; the default model is params `mlflow.model_name` at alias `champion`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.errors import ConfigError, DataValidationError, PipelineError
from models.registry.provenance import resolve_tracking_uri
from models.serving.batch import file_kind, load_model, parquet_files, score_file
from pipelines.params import Params
from pipelines.params.mlflow import read_mlflow
from pipelines.stage import REPO_ROOT, Option, Stage, StagePaths, one_line

STAGE = Stage(
    "score",
    "Batch-score a CSV/Parquet file with the registered PD model.",
    inputs=("input",),
    outputs=("output",),
    options=(
        Option(
            "--model-uri", {"default": None, "help": "default models:/<mlflow.model_name>@champion"}
        ),
        Option("--chunk-rows", {"type": int, "default": 50_000}),
        Option(
            "--no-reasons",
            {
                "dest": "reasons",
                "action": "store_false",
                "help": "skip reason codes (TreeSHAP is ~100x the cost of a PD)",
            },
        ),
    ),
)


def main(paths: StagePaths, params: Params) -> None:
    if paths.chunk_rows < 1:
        raise ConfigError(
            "--chunk-rows", "must be a positive integer", paths.chunk_rows, source="command line"
        )
    mlflow_config = read_mlflow(params)
    model_uri = paths.model_uri or f"models:/{mlflow_config.model_name}@champion"
    check_readable(paths.input)  # before the model: seconds, not a traceback, on a bad file
    tracking_uri = resolve_tracking_uri(mlflow_config.tracking_uri, REPO_ROOT)
    model = _load(model_uri, tracking_uri)
    predict_params = None if paths.reasons else {"reasons": False}
    try:
        with STAGE.writing(paths) as out:
            kind = file_kind(paths.output)
            staged = out.file("output")
            score_file(model, paths.input, staged, paths.chunk_rows, predict_params, kind)
    except PipelineError:
        raise
    except UNREADABLE as exc:  # an empty, truncated or mislabelled file
        raise DataValidationError(
            str(paths.input),
            f"could not be read as {_kind(str(paths.input))} or scored ({type(exc).__name__}: {one_line(exc)})",
            hint="Give a CSV with a header row or a Parquet file with the model's columns.",
        ) from None


#: What pandas/pyarrow raise on an empty, truncated or garbage input file.
UNREADABLE: tuple[type[BaseException], ...] = (ValueError, UnicodeDecodeError, OSError, EOFError)


def check_readable(path: Path) -> None:
    """The input exists, has a known kind and opens: a CSV header row, a Parquet footer (each
    part's, for a bucketed table directory)."""
    if not path.exists():
        raise DataValidationError(str(path), "file not found")
    kind = file_kind(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            for file in parquet_files(path):  # a bucketed table: every part opens
                pq.ParquetFile(file)
        else:
            pd.read_csv(path, nrows=1)
    except UNREADABLE as exc:
        raise DataValidationError(
            str(path),
            f"is not a readable {_kind(str(path))} file ({type(exc).__name__}: {one_line(exc)})",
            hint="Give a CSV with a header row or a Parquet file with the model's columns.",
        ) from None


def _kind(path: str) -> str:
    return "Parquet" if path.lower().endswith((".parquet", ".pq")) else "CSV"


def _load(model_uri: str, tracking_uri: str) -> object:
    """The model at `model_uri`, or one line naming the URI and the store that lacks it."""
    from mlflow.exceptions import MlflowException

    try:
        return load_model(model_uri, tracking_uri)
    except (MlflowException, OSError, ValueError) as exc:
        raise PipelineError(
            f"cannot load model '{model_uri}' from tracking store {tracking_uri}: {one_line(exc)}. "
            "Pass --model-uri models:/NAME@ALIAS (or models:/NAME/VERSION, runs:/RUN_ID/model) "
            "for a model registered there, or set MLFLOW_TRACKING_URI."
        ) from None


if __name__ == "__main__":
    STAGE.main(main)

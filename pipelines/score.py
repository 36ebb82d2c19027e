"""Batch scoring with the registered model: CSV or Parquet in, CSV or Parquet out.

    python -m pipelines.score --input accounts.parquet --output scored.parquet \
        [--model-uri models:/credit-pd@champion] [--chunk-rows 50000] [--no-reasons]

Rows go through the same pyfunc model services load, chunk by chunk (`models.serving.batch`); a
feature table's `policy__` columns are mapped onto the model's request names. The tracking URI
resolves as in the register stage: MLFLOW_TRACKING_URI, then params `mlflow.tracking_uri`, else
sqlite at the repo root; the default model is params `mlflow.model_name` at alias `champion`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from features.errors import ConfigError
from models.registry import resolve_tracking_uri
from models.serving.batch import load_model, score_file
from pipelines.common import base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.mlflow import read_mlflow

REPO_ROOT = Path(__file__).resolve().parents[1]


def main(args: argparse.Namespace) -> None:
    if args.chunk_rows < 1:
        raise ConfigError(
            "--chunk-rows", "must be a positive integer", args.chunk_rows, source="command line"
        )
    mlflow_config = read_mlflow(load_params(args.params))
    model_uri = args.model_uri or f"models:/{mlflow_config.model_name}@champion"
    model = load_model(model_uri, resolve_tracking_uri(mlflow_config.tracking_uri, REPO_ROOT))
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

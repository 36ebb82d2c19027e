"""DVC stage `register`: bundle the serving model, log the MLflow run, register it, gate it.

python -m pipelines.register --model-dir data/model --features-dir data/features \
    --metrics reports/metrics.json --deciles reports/deciles.json --plots-dir reports/plots \
    --ingest-summary reports/ingest.json --data-quality reports/data_quality.json \
    --explanations-dir data/explanations --explain-report-dir reports/explain \
    --explain-summary reports/explain.json \
    --promotion reports/promotion.json --headline reports/headline/register.json

The only stage that talks to MLflow. The run carries the training params and metrics, the data
reports and the explain stage's report and tables; the registered model bundles the collection
policy (params `tiers.policy`) and the reason dictionary (params `explain.reasons`), so editing
either re-registers without retraining. reports/promotion.json is written only after the
registry call succeeded.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from core.io import write_json
from models.pd_model import TrainConfig
from models.registry import (
    ExplainOutputs,
    MlflowConfig,
    Registration,
    read_register_inputs,
    register_pd,
)
from models.serving.pyfunc import ServingSpec
from pipelines.common import add_output, base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.mlflow import read_mlflow
from pipelines.params.register import read_serving
from pipelines.params.train import read_train

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RegisterPaths:
    model_dir: Path
    features_dir: Path
    metrics: Path
    deciles: Path
    plots_dir: Path
    promotion: Path
    headline: Path
    data_reports: tuple[Path, ...] = ()  # ingest summary, data quality: logged when present
    explanations: tuple[Path, Path, Path] | None = None  # report dir, tables dir, summary json


def run(
    paths: RegisterPaths,
    train_config: TrainConfig,
    mlflow_config: MlflowConfig,
    serving: ServingSpec | None,
    repo_root: Path = REPO_ROOT,
) -> Registration:
    """Register the train stage's model; write the promotion record once the registry answered."""
    inputs = read_register_inputs(
        paths.model_dir,
        paths.features_dir,
        paths.metrics,
        paths.deciles,
        paths.plots_dir,
        paths.data_reports,
        ExplainOutputs.read(*paths.explanations) if paths.explanations else None,
    )
    registration = register_pd(inputs, train_config, mlflow_config, serving, repo_root)
    write_json(registration.promotion(), paths.promotion)
    write_json(registration.headline(), paths.headline)
    return registration


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    paths = RegisterPaths(
        model_dir=Path(args.model_dir),
        features_dir=Path(args.features_dir),
        metrics=Path(args.metrics),
        deciles=Path(args.deciles),
        plots_dir=Path(args.plots_dir),
        promotion=Path(args.promotion),
        headline=Path(args.headline),
        explanations=(
            Path(args.explain_report_dir),
            Path(args.explanations_dir),
            Path(args.explain_summary),
        ),
        data_reports=tuple(Path(p) for p in (args.ingest_summary, args.data_quality) if p),
    )
    serving = read_serving(params)
    if args.ev_rates:  # the served model tiers with the rates the tiers stage uses
        serving = dataclasses.replace(serving, ev_rates_path=Path(args.ev_rates))
    run(paths, read_train(params), read_mlflow(params), serving)


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("Register the trained PD model in MLflow behind the promotion gate.")
    parser.add_argument("--model-dir", default="data/model")
    parser.add_argument("--features-dir", default="data/features")
    parser.add_argument("--metrics", default="reports/metrics.json")
    parser.add_argument("--deciles", default="reports/deciles.json")
    parser.add_argument("--plots-dir", default="reports/plots")
    parser.add_argument("--ingest-summary", default="reports/ingest.json")
    parser.add_argument("--data-quality", default="reports/data_quality.json")
    parser.add_argument("--explanations-dir", default="data/explanations")
    parser.add_argument("--explain-report-dir", default="reports/explain")
    parser.add_argument("--explain-summary", default="reports/explain.json")
    parser.add_argument(
        "--ev-rates",
        default=None,
        help="the collection_rates stage's ev_rates.json, bundled for the served tiers",
    )
    add_output(parser, "--promotion", default="reports/promotion.json")
    add_output(parser, "--headline", default="reports/headline/register.json")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())

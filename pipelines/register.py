"""DVC stage `register`: bundle the serving model, log the MLflow run, register it, gate it.

The only stage that talks to MLflow. The run carries the training params (as the train stage saved
them with the model) and metrics, the data reports and the explain stage's report and tables; the registered model bundles the collection
policy (params `tiers.policy`), the reason dictionary (params `explain.reasons`) and the learned
expected-value rates, so editing any of them re-registers without retraining. Its outputs are
written only after the registry call succeeded; `data/registry/registered.json` is not tracked by
git, so a fresh clone runs this stage and its registry gets a champion.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from core.io import write_json
from models.registry.registration import (
    ExplainOutputs,
    Registration,
    read_register_inputs,
    run_register,
)
from models.registry.tracking import MlflowConfig
from models.serving.pyfunc import ServingSpec
from pipelines.params import Params
from pipelines.params.mlflow import read_mlflow
from pipelines.params.register import read_serving
from pipelines.stage import REPO_ROOT, Input, Stage, StagePaths

STAGE = Stage(
    "register",
    "Register the trained PD model in MLflow behind the promotion gate.",
    inputs=(
        "model_dir",
        "features_dir",
        Input("scores", help="the train stage's scores: which rows stopped it early (`sample`)"),
        "metrics",
        "deciles",
        "plots_dir",
        Input("ingest_summary", optional=True, help="reports/ingest.json, logged when given"),
        Input("data_quality", optional=True, help="reports/data_quality.json, logged when given"),
        Input("explanations_dir", optional=True, help="the explain stage's tables"),
        Input("explain_report_dir", optional=True, help="the explain stage's report"),
        Input("explain_summary", optional=True, help="reports/explain.json"),
        Input("ev_rates", optional=True, help="the learned expected-value rates, bundled"),
    ),
    outputs=("promotion", "headline", "registered"),
)


def run(
    paths: StagePaths,
    mlflow_config: MlflowConfig,
    serving: ServingSpec | None,
    repo_root: Path = REPO_ROOT,
) -> Registration:
    """Register the train stage's model; write the promotion record once the registry answered."""
    explain = (paths.explain_report_dir, paths.explanations_dir, paths.explain_summary)
    inputs = read_register_inputs(
        paths.model_dir,
        paths.features_dir,
        paths.scores,
        paths.metrics,
        paths.deciles,
        paths.plots_dir,
        tuple(p for p in (paths.ingest_summary, paths.data_quality) if p is not None),
        ExplainOutputs.read(*explain) if all(p is not None for p in explain) else None,
    )
    if serving is not None and paths.ev_rates is not None:
        serving = dataclasses.replace(serving, ev_rates_path=paths.ev_rates)
    registration = run_register(inputs, mlflow_config, serving, repo_root)
    with STAGE.writing(paths) as out:
        write_json(registration.promotion(), out.file("promotion"))
        write_json(registration.headline(), out.file("headline"))
        write_json(registration.record(), out.file("registered"))
    return registration


def main(paths: StagePaths, params: Params) -> None:
    run(paths, read_mlflow(params), read_serving(params))


if __name__ == "__main__":
    STAGE.main(main)

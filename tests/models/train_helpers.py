"""Shared set-up for tests that train (and register) a PD model through the real stages.

Configs come from the real params.yaml through the real readers, so tests exercise what production
uses (Platt calibration, 15 leaves, ...); the only changes are the small-data speedups in `FAST`,
applied with `dataclasses.replace` where a test asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.io import read_json
from models.registry.registration import Registration
from models.registry.tracking import MlflowConfig
from models.serving.pyfunc import ServingSpec
from models.train_config import TrainConfig
from models.training import TrainResult
from pipelines import register as register_stage
from pipelines import train as train_stage
from pipelines.params import load_params
from pipelines.params.mlflow import read_mlflow
from pipelines.params.train import read_train

REPO = Path(__file__).resolve().parents[2]
PARAMS = REPO / "params.yaml"

#: Small-data speedups over params.yaml for a few thousand rows: faster learning, smaller leaves
#: and category groups, fewer rounds, one thread. Everything else is production's.
FAST: dict[str, Any] = {
    "learning_rate": 0.1,
    "min_child_samples": 40,
    "min_data_per_group": 50,
    "num_boost_round": 300,
    "early_stopping_rounds": 30,
    "num_threads": 1,
}


def production_train_config() -> TrainConfig:
    """`train:` of the real params.yaml, as the train stage reads it."""
    return read_train(load_params(PARAMS))


def fast_train_config(**changes: Any) -> TrainConfig:
    """Production's config with the `FAST` speedups (and any further `changes`)."""
    return replace(production_train_config(), **{**FAST, **changes})


def mlflow_config(
    tracking_uri: str | None, experiment: str, model_name: str, **gate: float
) -> MlflowConfig:
    """`mlflow:` of the real params.yaml with a test's store, names and gate limits."""
    production = read_mlflow(load_params(PARAMS))
    return replace(
        production,
        tracking_uri=tracking_uri,
        experiment=experiment,
        model_name=model_name,
        gate=replace(production.gate, **gate),
    )


@dataclass(frozen=True)
class StagePaths:
    """Where the train and register stages write under one temp root."""

    train: Any  # pipelines.stage.StagePaths of the train stage
    register: Any  # ... and of the register stage

    @classmethod
    def under(cls, root: Path, features_dir: Path, truth_dir: Path | None) -> StagePaths:
        reports = root / "reports"
        train = train_stage.STAGE.paths(
            features_dir=features_dir,
            truth_dir=truth_dir,
            model_dir=root / "model",
            scores=root / "scores" / "scores.parquet",
            metrics=reports / "metrics.json",
            deciles=reports / "deciles.json",
            plots_dir=reports / "plots",
            headline=reports / "headline" / "train.json",
        )
        register = register_stage.STAGE.paths(
            model_dir=train.model_dir,
            features_dir=features_dir,
            scores=train.scores,
            metrics=train.metrics,
            deciles=train.deciles,
            plots_dir=train.plots_dir,
            promotion=reports / "promotion.json",
            headline=reports / "headline" / "register.json",
            registered=root / "registry" / "registered.json",
        )
        return cls(train, register)


@dataclass(frozen=True)
class StageRun:
    paths: StagePaths
    train: TrainResult
    registration: Registration | None  # None when the run was not registered

    @property
    def promotion(self) -> dict[str, Any]:
        """reports/promotion.json as the register stage wrote it."""
        return read_json(self.paths.register.promotion)


def train_and_register(
    root: Path,
    features_dir: Path,
    truth: Path | None,
    train_config: TrainConfig,
    mlflow: MlflowConfig | None = None,
    serving: ServingSpec | None = None,
) -> StageRun:
    """Run the train stage into `root`, then (given an MLflow config) the register stage, with
    `root` as the repository root (the default SQLite store and git lookup stay in the temp dir)."""
    paths = StagePaths.under(root, features_dir, truth)
    trained = train_stage.run(paths.train, train_config)
    registration = None
    if mlflow is not None:
        registration = register_stage.run(paths.register, mlflow, serving, repo_root=root)
    return StageRun(paths, trained, registration)

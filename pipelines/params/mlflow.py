"""The `mlflow` section of params.yaml -> `models.registry.MlflowConfig` (with its `GateConfig`)."""

from __future__ import annotations

from features.config import Section
from models.registry import GateConfig, MlflowConfig
from pipelines.params import Params

MLFLOW_KEYS: tuple[str, ...] = (
    "tracking_uri",
    "experiment",
    "model_name",
    "max_shap_values_mb",
    "gate",
)
GATE_KEYS: tuple[str, ...] = ("auc_tolerance", "max_ece", "max_psi", "min_auc")


def read_mlflow(params: Params) -> MlflowConfig:
    """mlflow: tracking store, experiment, registered model name and the promotion gate."""
    sec = params.section("mlflow", keys=MLFLOW_KEYS)
    return MlflowConfig(
        tracking_uri=tracking_uri(sec),
        experiment=sec.string("experiment"),
        model_name=sec.string("model_name"),
        gate=_gate(sec.section("gate", keys=GATE_KEYS)),
        max_shap_values_mb=sec.number("max_shap_values_mb", lo=0),
    )


def tracking_uri(mlflow: Section) -> str | None:
    """mlflow.tracking_uri: null = sqlite:///<repo>/mlflow.db (MLFLOW_TRACKING_URI wins over both)."""
    return mlflow.optional_string("tracking_uri")


def _gate(sec: Section) -> GateConfig:
    """mlflow.gate: absolute limits for every version, AUC tolerance against the champion."""
    return GateConfig(
        auc_tolerance=sec.number("auc_tolerance", lo=0),
        max_ece=sec.number("max_ece", lo=0),
        max_psi=sec.number("max_psi", lo=0),
        min_auc=sec.number("min_auc", lo=0, hi=1),
    )

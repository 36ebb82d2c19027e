"""The `mlflow` section of params.yaml -> `models.registry.tracking.MlflowConfig` (and its
`GateConfig`)."""

from __future__ import annotations

from core.config import Section
from models.gate import AMBER, CALIBRATION_SAMPLES, MODES, GateConfig
from models.registry.tracking import MlflowConfig
from pipelines.params import Params

MLFLOW_KEYS: tuple[str, ...] = (
    "tracking_uri",
    "experiment",
    "model_name",
    "max_shap_values_mb",
    "gate",
)
GATE_KEYS: tuple[str, ...] = (
    "mode",
    "min_auc",
    "margin",
    "level",
    "calibration_sample",
    "red",
    "max_psi",
    "allow_feature_set_change",
    "vs_baseline_margin",
)


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
    """mlflow.gate: the statistical promotion gate (`models.gate`)."""
    return GateConfig(
        mode=sec.choice("mode", MODES),
        min_auc=sec.number("min_auc", lo=0, hi=1),
        margin=sec.number("margin", lo=0, hi=0.5),
        level=sec.number("level", lo=0.5, hi=1, lo_open=True, hi_open=True),
        calibration_sample=sec.choice("calibration_sample", CALIBRATION_SAMPLES),
        red=sec.number("red", lo=0, hi=AMBER, lo_open=True, hi_open=True),
        max_psi=sec.number("max_psi", lo=0),
        allow_feature_set_change=sec.boolean("allow_feature_set_change"),
        vs_baseline_margin=sec.number("vs_baseline_margin", lo=0, hi=0.5),
    )

"""The `mlflow` section reader: tracking store, names and the promotion gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from core.errors import ConfigError
from pipelines.params import load_params
from pipelines.params.mlflow import GATE_KEYS, MLFLOW_KEYS, read_mlflow

REPO = Path(__file__).resolve().parents[2]


def _read(tmp_path: Path, gate: dict[str, Any] | None = None, **mlflow: Any):
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["mlflow"].update(mlflow)
    data["mlflow"]["gate"].update(gate or {})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return read_mlflow(load_params(path))


def test_real_params():
    cfg = read_mlflow(load_params(REPO / "params.yaml"))
    assert cfg.model_name == "credit-pd" and cfg.experiment == "credit-pd"
    assert cfg.tracking_uri is None  # null in params.yaml: the repo's SQLite file
    assert (cfg.gate.mode, cfg.gate.min_auc, cfg.gate.margin) == ("auto", 0.6, 0.005)
    assert cfg.gate.calibration_sample == "holdout" and cfg.gate.allow_feature_set_change is False
    data = yaml.safe_load((REPO / "params.yaml").read_text())["mlflow"]
    assert list(data) == list(MLFLOW_KEYS) and list(data["gate"]) == list(GATE_KEYS)


def test_tracking_uri_string_or_null(tmp_path):
    assert _read(tmp_path, tracking_uri="http://x:5000").tracking_uri == "http://x:5000"
    with pytest.raises(ConfigError, match="mlflow.tracking_uri: expected a non-empty string"):
        _read(tmp_path, tracking_uri=5)


@pytest.mark.parametrize(
    "gate,match",
    [
        ({"margin": "x"}, "mlflow.gate.margin: expected a number, got 'x'"),
        ({"max_ece": 0.1}, "mlflow.gate.max_ece: is not a known key"),
        ({"mode": "manual"}, "mlflow.gate.mode"),
        ({"calibration_sample": "train"}, "mlflow.gate.calibration_sample"),
        ({"level": 1.0}, "mlflow.gate.level"),
        ({"red": 0.05}, "mlflow.gate.red"),
        ({"allow_feature_set_change": "yes"}, "mlflow.gate.allow_feature_set_change"),
        ({"min_auc": -1}, "mlflow.gate.min_auc"),
        ({"min_auc": 1.5}, "mlflow.gate.min_auc"),
        ({"max_psi": True}, "mlflow.gate.max_psi: expected a number"),
        ({"margin": float("nan")}, "mlflow.gate.margin"),
    ],
)
def test_bad_gate_fails_cleanly(tmp_path, gate, match):
    with pytest.raises(ConfigError, match=match):
        _read(tmp_path, gate=gate)


def test_names_must_be_strings(tmp_path):
    with pytest.raises(ConfigError, match="mlflow.model_name"):
        _read(tmp_path, model_name="")
    with pytest.raises(ConfigError, match="mlflow.experiment"):
        _read(tmp_path, experiment=None)
    with pytest.raises(ConfigError, match="mlflow.registry: is not a known key"):
        _read(tmp_path, registry="x")

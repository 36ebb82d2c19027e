"""The promotion gate (pure) and tracking configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from features.errors import ConfigError
from models.registry import (
    GateConfig,
    MlflowConfig,
    data_hashes,
    decide_promotion,
    file_md5,
    flatten_metrics,
    resolve_tracking_uri,
    serving_requirements,
)

GATE = GateConfig(auc_tolerance=0.005, max_ece=0.02, max_psi=0.25, min_auc=0.6)
GOOD = {"auc": 0.80, "ece": 0.01, "psi": 0.05}


def test_first_version_promoted_when_floors_met():
    d = decide_promotion(GOOD, None, GATE)
    assert d.promote
    assert any("no champion" in r for r in d.reasons)
    assert all(not r.startswith("FAIL") for r in d.reasons)


def test_first_version_rejected_below_floor():
    d = decide_promotion({**GOOD, "auc": 0.55}, None, GATE)
    assert not d.promote
    assert any(r.startswith("FAIL") and "floor" in r for r in d.reasons)


def test_promote_within_tolerance_of_champion():
    assert decide_promotion({**GOOD, "auc": 0.796}, {"auc": 0.80}, GATE).promote
    assert decide_promotion({**GOOD, "auc": 0.85}, {"auc": 0.80}, GATE).promote


def test_reject_worse_than_champion():
    d = decide_promotion({**GOOD, "auc": 0.79}, {"auc": 0.80}, GATE)
    assert not d.promote
    assert any(r.startswith("FAIL") and "champion" in r for r in d.reasons)
    assert d.champion == {"auc": 0.80}


@pytest.mark.parametrize("key,value", [("ece", 0.03), ("psi", 0.4), ("auc", float("nan"))])
def test_reject_on_absolute_limits_even_if_better(key, value):
    d = decide_promotion({**GOOD, key: value}, {"auc": 0.70}, GATE)
    assert not d.promote
    assert sum(r.startswith("FAIL") for r in d.reasons) >= 1


def test_champion_without_comparable_auc_falls_back_to_limits():
    d = decide_promotion(GOOD, {"auc": float("nan")}, GATE)
    assert d.promote and any("unavailable" in r for r in d.reasons)


def test_tracking_uri_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert resolve_tracking_uri("http://x:5000", tmp_path) == "http://x:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:1")
    assert resolve_tracking_uri("http://x:5000", tmp_path) == "http://env:1"


def test_mlflow_config_from_params_and_errors():
    repo = Path(__file__).resolve().parents[2]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    cfg = MlflowConfig.from_mapping(params["mlflow"])
    assert cfg.model_name == "credit-pd" and cfg.gate.max_ece > 0
    with pytest.raises(ConfigError, match="unknown"):
        MlflowConfig.from_mapping({"gate": {"max_eec": 0.1}})
    with pytest.raises(ConfigError, match="model_name"):
        MlflowConfig.from_mapping({"model_name": ""})
    with pytest.raises(ConfigError):
        GateConfig(min_auc=-1)


def test_flatten_and_hashes(tmp_path):
    flat = flatten_metrics({"test": {"auc": 0.8, "n": 10, "x": float("inf")}, "psi": 0.1, "s": "a"})
    assert flat == {"test_auc": 0.8, "test_n": 10.0, "psi": 0.1}
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    assert file_md5(f) == "900150983cd24fb0d6963f7d28e17f72"
    assert data_hashes([f, tmp_path / "missing"]) == {str(f): "900150983cd24fb0d6963f7d28e17f72"}
    assert all("==" in r for r in serving_requirements() if r.startswith(("mlflow", "lightgbm")))

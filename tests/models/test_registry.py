"""Tracking configuration, run records and the promotion record (the gate: test_gate.py)."""

from __future__ import annotations

from models.gate import Decision, decide_promotion
from models.registry import (
    ExplainOutputs,
    Registration,
    RegistryResult,
    data_hashes,
    file_md5,
    flatten_metrics,
    portable_tracking_uri,
    resolve_tracking_uri,
    serving_requirements,
    tracking_store,
)


def test_tracking_uri_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert resolve_tracking_uri("http://x:5000", tmp_path) == "http://x:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:1")
    assert resolve_tracking_uri("http://x:5000", tmp_path) == "http://env:1"


def test_tracking_uri_in_reports_is_portable(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    default = f"sqlite:///{repo.resolve()}/mlflow.db"
    assert portable_tracking_uri(default, repo) == "sqlite:///mlflow.db"
    assert portable_tracking_uri(f"file://{repo.resolve()}/mlruns", repo) == "file://mlruns"
    elsewhere = portable_tracking_uri(f"sqlite:///{tmp_path.resolve()}/other.db", repo)
    assert elsewhere == "sqlite:///<outside the repository>/other.db"
    assert str(tmp_path) not in elsewhere
    assert portable_tracking_uri("http://127.0.0.1:5000", repo) == "http://127.0.0.1:5000"
    assert portable_tracking_uri("https://me:secret@host/mlflow", repo) == "https://host/mlflow"
    assert portable_tracking_uri("sqlite:///mlflow.db", repo) == "sqlite:///mlflow.db"


def test_tracking_store_names_the_setting_that_won(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_store(None) == "default"
    assert tracking_store("http://x:5000") == "params"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:1")
    assert tracking_store(None) == "environment"


def test_promotion_record_and_headline():
    from tests.models.test_gate import GATE, evidence

    decision = decide_promotion(evidence(), None, GATE)
    decision.challenger_version = "3"
    result = RegistryResult("abc123", "models:/pd/3", "3", decision, "/abs/path/not/recorded")
    registration = Registration(result, "pd", "sqlite:///mlflow.db", "default")
    promotion = registration.promotion()
    assert "run_id" not in promotion and "abc123" not in str(promotion)  # a tracked report
    assert promotion["challenger_version"] == "3"  # the version identifies the run
    assert promotion["tracking_uri"] == "sqlite:///mlflow.db"
    assert promotion["promote"] is True and promotion["model_name"] == "pd"
    assert "/abs/path" not in str(promotion)
    assert registration.headline() == {"promote": True, "gate_passed": True, "version": 3}
    assert isinstance(decision, Decision)


def test_flatten_and_hashes(tmp_path):
    flat = flatten_metrics({"test": {"auc": 0.8, "n": 10, "x": float("inf")}, "psi": 0.1, "s": "a"})
    assert flat == {"test_auc": 0.8, "test_n": 10.0, "psi": 0.1}
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    assert file_md5(f) == "900150983cd24fb0d6963f7d28e17f72"
    assert data_hashes([f, tmp_path / "missing"]) == {str(f): "900150983cd24fb0d6963f7d28e17f72"}
    assert all("==" in r for r in serving_requirements() if r.startswith(("mlflow", "lightgbm")))


def test_explain_outputs_say_why_shap_values_were_not_logged(tmp_path):
    import pandas as pd

    tables = tmp_path / "tables"
    tables.mkdir()
    pd.DataFrame({"account_id": [1]}).to_parquet(tables / "reasons.parquet")
    outputs = ExplainOutputs(tmp_path / "report", tables, {"top_features": ["x"]})
    artifacts, tags, _ = outputs.run_entries(max_shap_values_mb=50.0)
    assert tags["explain.shap_values"] == "not logged: no shap_values.parquet"
    assert artifacts["explain/tables"] == (tables / "reasons.parquet",)
    pd.DataFrame({"account_id": range(1000)}).to_parquet(tables / "shap_values.parquet")
    _, tags, _ = outputs.run_entries(max_shap_values_mb=0.0)
    assert tags["explain.shap_values"].startswith("not logged: 0.0 MB > mlflow.max_shap_values_mb")
    _, tags, _ = outputs.run_entries(max_shap_values_mb=50.0)
    assert tags["explain.shap_values"] == "logged"


def test_register_inputs_name_a_missing_model_column_and_skip_protected_ones(tmp_path):
    """The register stage reads the gate's rows without the protected columns (never model
    inputs); a model column the table lacks is named before anything is logged."""
    import pytest

    from core.errors import DataValidationError
    from models.registry import read_register_inputs
    from tests.models.conftest import make_catalogue, make_feature_table, write_feature_dir

    table = make_feature_table(n=600, seed=4).assign(protected__age_band="18-24")
    catalogue = make_catalogue()
    catalogue.protected.append("protected__age_band")
    fdir, _ = write_feature_dir(tmp_path / "ok", table, catalogue)
    reports = {name: tmp_path / name for name in ("metrics.json", "deciles.json", "plots")}
    for path in reports.values():
        path.mkdir() if path.suffix == "" else path.write_text("{}")
    inputs = read_register_inputs(
        tmp_path, fdir, reports["metrics.json"], reports["deciles.json"], reports["plots"]
    )
    assert "protected__age_band" not in inputs.features.columns
    assert set(inputs.features["split"]) == {"validation", "test"}
    fdir, _ = write_feature_dir(tmp_path / "bad", table.drop(columns="noise"), catalogue)
    with pytest.raises(DataValidationError, match=r"column 'noise'.*required column is missing"):
        read_register_inputs(
            tmp_path, fdir, reports["metrics.json"], reports["deciles.json"], reports["plots"]
        )

"""The register stage: serving spec from params, registration, promotion record, failure handling,
and the DVC wiring that keeps policy edits away from training."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml

from core.errors import ConfigError, PipelineError
from models.serving.pyfunc import ServingConfig, ServingSpec
from pipelines import register as register_stage
from pipelines.params import load_params
from pipelines.params.register import read_serving
from tests.helpers import dvc_stages, free_port
from tests.models.conftest import make_catalogue, make_feature_table, write_feature_dir
from tests.models.train_helpers import fast_train_config, mlflow_config, train_and_register

REPO = Path(__file__).resolve().parents[2]


def _params(tmp_path: Path, **sections: dict) -> Path:
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, changes in sections.items():
        for key, value in changes.items():
            if value is None:
                del data[section][key]
            else:
                data[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_serving_spec_from_the_real_params(monkeypatch):
    monkeypatch.chdir(REPO)  # configured paths are relative to the repository root
    spec = read_serving(load_params("params.yaml"))
    assert spec == ServingSpec(
        Path("configs/collection_policy.yaml"),
        Path("configs/reasons.yaml"),
        ServingConfig(tier_mode="rules", top_k=4, shap_batch_rows=20000),
    )


@pytest.mark.parametrize(
    "sections,match",
    [
        ({"tiers": {"mode": "fuzzy"}}, "tiers.mode: expected one of"),
        ({"tiers": {"policy": None}}, "tiers.policy: is required"),
        ({"tiers": {"policy": "configs/nope.yaml"}}, "tiers.policy: file not found"),
        ({"explain": {"top_k": 0}}, "explain.top_k: expected an integer in"),
        ({"explain": {"batch_rows": "many"}}, "explain.batch_rows: expected an integer"),
        ({"explain": {"reasons": None}}, "explain.reasons: is required"),
    ],
)
def test_serving_spec_rules_are_the_shared_ones(tmp_path, monkeypatch, sections, match):
    path = _params(tmp_path, **sections)
    monkeypatch.chdir(REPO)
    with pytest.raises(ConfigError, match=match):
        read_serving(load_params(path))


@pytest.fixture
def book(tmp_path):
    fdir, truth = write_feature_dir(tmp_path, make_feature_table(n=4000, seed=5), make_catalogue())
    return fdir, truth


def test_register_writes_promotion_after_the_registry_and_keeps_it_on_failure(
    tmp_path, monkeypatch, book
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fdir, truth = book
    ml = mlflow_config(None, "register-test", "pd-test")
    run = train_and_register(tmp_path, fdir, truth, fast_train_config(), ml)
    paths = run.paths.register
    promotion = run.promotion
    assert promotion["promote"] is True and promotion["challenger_version"] == "1"
    # The default store is <repo root>/mlflow.db: recorded relative, never as this machine's path.
    assert promotion["tracking_uri"] == "sqlite:///mlflow.db"
    assert promotion["tracking_store"] == "default"
    assert str(tmp_path) not in paths.promotion.read_text()
    assert "run_id" not in promotion  # a tracked report: the version identifies the run
    assert yaml.safe_load(paths.headline.read_text()) == {
        "promote": True,
        "gate_passed": True,
        "version": 1,
    }

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.get_model_version("pd-test", promotion["challenger_version"]).run_id
    assert run_id == run.registration.result.run_id
    logged = client.get_run(run_id)
    assert logged.data.metrics["test_auc"] == pytest.approx(run.train.metrics["test"]["auc"])
    assert logged.data.params["calibration"] == "platt"
    assert logged.data.params["gate.margin"] == "0.005"
    assert logged.data.tags["data_md5.features.parquet"] and logged.data.tags["model_md5"]
    assert logged.data.tags["training_window"] == run.train.training_window
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"deciles.json", "fit_report.json", "data_hashes.json", "plots"} <= artifacts
    assert str(client.get_model_version_by_alias("pd-test", "champion").version) == "1"

    # A registry that cannot be reached: a one-line error, and the last good record stays.
    before = (paths.promotion.read_bytes(), paths.headline.read_bytes())
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow exported the last one
    dead = mlflow_config(f"http://127.0.0.1:{free_port()}", "register-test", "pd-test")
    with pytest.raises(PipelineError, match="MLflow tracking/registry failed"):
        register_stage.run(paths, dead, None, repo_root=tmp_path)
    assert (paths.promotion.read_bytes(), paths.headline.read_bytes()) == before


def test_approval_mode_waits_for_a_person_and_records_who_when_why(tmp_path, monkeypatch, book):
    from dataclasses import replace

    from models.registry.approval import approve_version

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fdir, truth = book
    auto = mlflow_config(None, "approval-test", "pd-appr")
    first = train_and_register(tmp_path, fdir, truth, fast_train_config(), auto)
    assert first.promotion["status"] == "promoted"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)

    gated = replace(auto, gate=replace(auto.gate, mode="approval"))
    second = train_and_register(tmp_path, fdir, truth, fast_train_config(), gated)
    promo = second.promotion
    assert promo["passed"] is True and promo["promote"] is False
    assert promo["status"] == "awaiting_approval"
    assert str(client.get_model_version_by_alias("pd-appr", "champion").version) == "1"
    assert client.get_model_version("pd-appr", "2").tags["gate_verdict"] == "awaiting_approval"

    with pytest.raises(PipelineError, match="non-empty"):
        approve_version(uri, "pd-appr", "2", "  ", "looks fine")
    approval = approve_version(uri, "pd-appr", "2", "A. Validator", "Q4 validation signed")
    assert approval.previous_champion == "1"
    assert str(client.get_model_version_by_alias("pd-appr", "champion").version) == "2"
    tags = client.get_model_version("pd-appr", "2").tags
    assert (
        tags["approved_by"] == "A. Validator" and tags["approval_reason"] == "Q4 validation signed"
    )
    assert tags["gate_verdict"] == "promoted" and tags["approved_at"].endswith("+00:00")
    assert client.get_model_version("pd-appr", "1").tags["replaced_by"] == "2"
    # only a version waiting for approval can be approved: not twice, not a rejected one
    with pytest.raises(PipelineError, match="gate_verdict 'promoted'"):
        approve_version(uri, "pd-appr", "2", "B", "again")
    with pytest.raises(PipelineError, match="not found"):
        approve_version(uri, "pd-appr", "9", "B", "no such version")


def _explain_outputs(root: Path) -> tuple[Path, Path, Path]:
    """A minimal explain-stage output: a report, the tables, the summary."""
    import json

    import pandas as pd

    report, tables = root / "reports" / "explain", root / "data" / "explanations"
    report.mkdir(parents=True)
    tables.mkdir(parents=True)
    (report / "report.html").write_text("<html>report</html>")
    frame = pd.DataFrame({"account_id": range(2000), "x": [0.5] * 2000})
    frame.to_parquet(tables / "shap_values.parquet")
    frame.head(3).to_parquet(tables / "reasons.parquet")
    summary = root / "reports" / "explain.json"
    summary.write_text(
        json.dumps(
            {
                "rows": 2000,
                "check_max_abs_diff": 1e-8,
                "additivity_max_abs_err": 1e-14,
                "top_features": ["x"],
                "population": {"mode": "actionable"},
            }
        )
    )
    return report, tables, summary


@pytest.mark.parametrize("limit_mb", [50.0, 0.0])
def test_register_attaches_the_explanations_to_the_run(tmp_path, monkeypatch, book, limit_mb):
    """The run that registers the model also carries its explanations (MLflow is register's job)."""
    from dataclasses import replace

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fdir, truth = book
    ml = replace(mlflow_config(None, "explain-test", "pd-x"), max_shap_values_mb=limit_mb)
    trained = train_and_register(tmp_path, fdir, truth, fast_train_config())
    report_dir, tables_dir, summary = _explain_outputs(tmp_path)
    paths = trained.paths.register.replace(
        explain_report_dir=report_dir, explanations_dir=tables_dir, explain_summary=summary
    )
    registration = register_stage.run(paths, ml, None, repo_root=tmp_path)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = registration.result.run_id
    report = {a.path for a in client.list_artifacts(run_id, "explain/report")}
    tables = {a.path for a in client.list_artifacts(run_id, "explain/tables")}
    assert report == {"explain/report/report.html"}
    assert "explain/tables/reasons.parquet" in tables
    logged = client.get_run(run_id).data
    assert logged.metrics["explain_check_max_abs_diff"] == pytest.approx(1e-8)
    note = logged.tags["explain.shap_values"]
    if limit_mb > 0:
        assert "explain/tables/shap_values.parquet" in tables and note == "logged"
    else:
        assert "explain/tables/shap_values.parquet" not in tables
        assert note.startswith("not logged") and "mlflow.max_shap_values_mb" in note


def test_register_needs_the_explain_outputs_when_wired_to_them(tmp_path, book):

    fdir, truth = book
    trained = train_and_register(tmp_path, fdir, truth, fast_train_config())
    paths = trained.paths.register.replace(
        explain_report_dir=tmp_path / "r",
        explanations_dir=tmp_path / "t",
        explain_summary=tmp_path / "s.json",
    )
    with pytest.raises(PipelineError, match="run the explain stage first"):
        register_stage.run(paths, mlflow_config(None, "x", "x"), None, tmp_path)
    assert not paths.promotion.exists()


def test_register_needs_the_train_outputs(tmp_path, book):
    fdir, _ = book
    paths = register_stage.STAGE.paths(
        model_dir=tmp_path / "model",
        features_dir=fdir,
        scores=tmp_path / "scores.parquet",
        metrics=tmp_path / "metrics.json",
        deciles=tmp_path / "deciles.json",
        plots_dir=tmp_path / "plots",
        promotion=tmp_path / "promotion.json",
        headline=tmp_path / "register.json",
        registered=tmp_path / "registered.json",
    )
    ml = mlflow_config(None, "x", "x")
    with pytest.raises(PipelineError, match="run the train stage first"):
        register_stage.run(paths, ml, None, repo_root=tmp_path)
    assert not paths.promotion.exists()


def _deps(stage: dict) -> set[str]:
    return {next(iter(d)) if isinstance(d, dict) else d for d in stage.get("deps", [])}


def test_policy_and_reasons_edits_reach_register_not_train():
    stages = dvc_stages()
    train, register = stages["train"], stages["register"]
    for config in ("configs/collection_policy.yaml", "configs/reasons.yaml"):
        assert config not in _deps(train) and config in _deps(register)
    assert not any(
        d.startswith(("collection_policy", "models/serving", "models/explain"))
        for d in _deps(train)
    )
    assert set(train["params"]) == {"seed", "train"}
    assert {"mlflow", "tiers.policy", "tiers.mode", "explain.reasons"} <= set(register["params"])
    assert {"data/model", "data/features", "reports/metrics.json"} <= _deps(register)
    # Only headline files are metrics; the detailed reports are plain, persistent outputs.
    for stage, headline in (
        (train, "reports/headline/train.json"),
        (register, "reports/headline/register.json"),
    ):
        assert [next(iter(m)) for m in stage["metrics"]] == [headline]
        for out in stage["outs"] + stage["metrics"]:
            assert next(iter(out.values()))["persist"] is True

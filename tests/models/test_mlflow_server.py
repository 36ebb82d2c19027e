"""End to end against a real `mlflow server`: train twice, gate, read the champion back by alias."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tests.helpers import mlflow_tracking_server

pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_server(tmp_path):
    with mlflow_tracking_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path) as url:
        yield url


def test_train_register_gate_and_load_champion(
    mlflow_server, tmp_path, monkeypatch, feature_table, catalogue, fast_config, write_features
):
    import mlflow

    from models.serving.pyfunc import to_request_frame
    from tests.models.train_helpers import mlflow_config, train_and_register

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    fdir, truth = write_features(tmp_path, feature_table, catalogue)
    ml_cfg = mlflow_config(None, experiment="it", model_name="pd-it")

    first = train_and_register(tmp_path, fdir, truth, fast_config, ml_cfg)
    promo1 = first.promotion
    assert promo1["promote"] is True and promo1["challenger_version"] == "1"
    assert promo1["tracking_uri"] == mlflow_server
    assert promo1["tracking_store"] == "environment"
    v1_scores = pd.read_parquet(first.paths.train.scores)

    # A deliberately weak challenger (two shallow trees) must not replace the champion.
    weak = replace(fast_config, num_boost_round=2, num_leaves=2, early_stopping_rounds=1)
    second = train_and_register(tmp_path, fdir, truth, weak, ml_cfg)
    promo2 = second.promotion
    assert second.train.metrics["test"]["auc"] < first.train.metrics["test"]["auc"] - 0.005
    assert promo2["promote"] is False and promo2["champion_version"] == "1"
    assert promo2["champion"]["auc"] == pytest.approx(first.train.metrics["test"]["auc"], abs=1e-9)
    assert any(r.startswith("FAIL") and "champion" in r for r in promo2["reasons"])

    client = mlflow.MlflowClient(tracking_uri=mlflow_server)
    assert client.get_model_version_by_alias("pd-it", "champion").version == "1"
    v2 = client.get_model_version_by_alias("pd-it", "challenger")
    assert v2.version == "2" and v2.tags["gate_verdict"] == "rejected"
    assert (
        "test_auc" in v2.tags and v2.tags["training_window"] and "Gate: rejected" in v2.description
    )
    assert "run_id" not in promo1  # a tracked report: the version identifies the run
    run = client.get_run(client.get_model_version("pd-it", "1").run_id)
    assert run.info.run_id == first.registration.result.run_id
    assert run.data.metrics["test_auc"] == pytest.approx(first.train.metrics["test"]["auc"])
    assert run.data.tags["gate_verdict"] == "promoted"

    mlflow.set_tracking_uri(mlflow_server)
    served = mlflow.pyfunc.load_model("models:/pd-it@champion")
    test = feature_table[feature_table["split"] == "test"].head(100)
    request = to_request_frame(test, catalogue)
    out = served.predict(request)
    assert list(out.columns) == ["pd", "score", "grade"]
    expected = v1_scores.set_index("account_id").loc[test["account_id"]]
    assert np.allclose(out["pd"].to_numpy(), expected["pd"].to_numpy())
    assert (out["grade"].to_numpy() == expected["grade"].to_numpy()).all()

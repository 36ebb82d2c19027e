"""The register stage's inputs, the gate's development hold-out and the promotion record (the
gate itself: tests/models/test_gate.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import DataValidationError
from models.gate import Decision, decide_promotion
from models.registry.registration import (
    ExplainOutputs,
    Registration,
    development_holdout,
    read_register_inputs,
)
from models.registry.tracking import RegistryResult
from tests.models.conftest import make_catalogue, make_feature_table, write_feature_dir


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


def test_explain_outputs_say_why_shap_values_were_not_logged(tmp_path):
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


def _samples(table: pd.DataFrame) -> pd.DataFrame:
    """The scores' validation rows as train records them: every third one fitted the calibrator."""
    valid = table[table["split"] == "validation"]
    names = np.where(np.arange(len(valid)) % 3 == 0, "calibration", "early_stopping")
    return pd.DataFrame(
        {
            "account_id": valid["account_id"].to_numpy(),
            "observation_date": pd.to_datetime(valid["observation_date"]).to_numpy(),
            "split": "validation",
            "sample": pd.Categorical(names),
        }
    )


def _write_scores(path, table: pd.DataFrame) -> None:
    """A scores file whose validation rows carry `_samples`' record (the other columns filled)."""
    samples = _samples(table)
    n = len(samples)
    samples.assign(
        default=pd.array([0] * n, dtype="Int8"),
        raw_score=0.0,
        pd=0.1,
        score=600.0,
        grade="5",
    )[
        [
            "account_id",
            "observation_date",
            "split",
            "sample",
            "default",
            "raw_score",
            "pd",
            "score",
            "grade",
        ]
    ].to_parquet(path)


def test_register_inputs_name_a_missing_model_column_and_skip_protected_ones(tmp_path):
    """The register stage reads the gate's rows without the protected columns (never model
    inputs) and, of the scores, the validation rows' samples; a model column the table lacks is
    named before anything is logged."""
    table = make_feature_table(n=600, seed=4).assign(protected__age_band="18-24")
    catalogue = make_catalogue()
    catalogue.protected.append("protected__age_band")
    fdir, _ = write_feature_dir(tmp_path / "ok", table, catalogue)
    scores = tmp_path / "scores.parquet"
    _write_scores(scores, table)
    reports = {name: tmp_path / name for name in ("metrics.json", "deciles.json", "plots")}
    for path in reports.values():
        path.mkdir() if path.suffix == "" else path.write_text("{}")
    inputs = read_register_inputs(
        tmp_path, fdir, scores, reports["metrics.json"], reports["deciles.json"], reports["plots"]
    )
    assert "protected__age_band" not in inputs.features.columns
    assert set(inputs.features["split"]) == {"validation", "test"}
    assert set(inputs.samples["sample"].astype(str)) == {"early_stopping", "calibration"}
    assert len(inputs.samples) == int((table["split"] == "validation").sum())
    fdir, _ = write_feature_dir(tmp_path / "bad", table.drop(columns="noise"), catalogue)
    with pytest.raises(DataValidationError, match=r"column 'noise'.*required column is missing"):
        read_register_inputs(
            tmp_path,
            fdir,
            scores,
            reports["metrics.json"],
            reports["deciles.json"],
            reports["plots"],
        )


def test_the_development_holdout_is_the_rows_train_stopped_early_on():
    """The gate's hold-out is read from the scores' `sample` column, in the feature table's row
    order, whatever order the scores come in; scores of other rows stop the stage."""
    table = make_feature_table(n=900, seed=2)
    valid = table[table["split"] == "validation"]
    samples = _samples(table)
    holdout = development_holdout(valid, samples.iloc[::-1], "account_id", "scores")
    stopped = samples["sample"].astype(str).eq("early_stopping").to_numpy()
    assert holdout.index.equals(valid.index[stopped])
    # a validation row the scores do not know (scores of another feature table)
    other = samples.copy()
    other.loc[5, "account_id"] = -1
    with pytest.raises(DataValidationError, match=r"row 5.*different runs"):
        development_holdout(valid, other, "account_id", "scores")
    with pytest.raises(DataValidationError, match="different runs"):
        development_holdout(valid, samples.iloc[1:], "account_id", "s")
    # a sample that is not a part of the validation split
    wrong = samples.assign(sample=pd.Categorical(["test"] * len(samples)))
    with pytest.raises(DataValidationError, match="'test' is not a part of split 'validation'"):
        development_holdout(valid, wrong, "account_id", "scores")

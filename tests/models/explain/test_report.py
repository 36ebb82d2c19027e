"""The explain stage end to end on the tiny book: output contracts, plots, a self-contained report."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from features.errors import ConfigError, DataValidationError
from pipelines.explain import ExplainConfig, ExplainPaths, run_explain

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_shap_table_contract(book, explain_run):
    root, summary = explain_run
    shap = pd.read_parquet(root / "data/explanations/shap_values.parquet")
    feats = book.catalogue.model_columns
    assert list(shap.columns) == ["account_id", "observation_date", "split", *feats, "base_value"]
    assert all(shap[f].dtype == np.float32 for f in feats)
    assert set(shap["split"]) == {"test", "score"}
    assert len(shap) == summary["rows"] == summary["population"]["explained"]
    assert not shap.duplicated(["account_id", "observation_date", "split"]).any()
    # additivity against the train stage's raw scores, row by row
    scores = pd.read_parquet(root / "data/scores/scores.parquet")
    merged = shap.merge(scores, on=["account_id", "observation_date", "split"], validate="1:1")
    total = merged[feats].to_numpy(np.float64).sum(axis=1) + merged["base_value"]
    np.testing.assert_allclose(total, merged["raw_score"], rtol=0, atol=1e-5)
    assert summary["check_max_abs_diff"] < 1e-6
    assert summary["additivity_max_abs_err"] < 1e-9


def test_reasons_table_contract(book, explain_run):
    root, _ = explain_run
    reasons = pd.read_parquet(root / "data/explanations/reasons.parquet")
    assert list(reasons.columns) == [
        "account_id",
        "observation_date",
        "rank",
        "feature",
        "value",
        "contribution",
        "text",
    ]
    assert reasons["rank"].between(1, 4).all()
    assert (reasons["contribution"] > 0).all()
    assert not reasons.duplicated(["account_id", "observation_date", "rank"]).any()
    assert set(reasons["feature"]) <= set(book.catalogue.model_columns)
    assert not reasons["text"].str.contains("gender|protected", case=False).any()
    # the contribution recorded is the SHAP value of that feature for that account
    shap = pd.read_parquet(root / "data/explanations/shap_values.parquet")
    r = reasons.iloc[0]
    row = shap[
        (shap["account_id"] == r["account_id"])
        & (shap["observation_date"] == r["observation_date"])
    ]
    assert row[r["feature"]].iloc[0] == pytest.approx(r["contribution"], rel=1e-6)


def test_plots_and_summary_written(explain_run):
    root, summary = explain_run
    rep = root / "reports/explain"
    for name in ["importance", "beeswarm", "shap_by_grade", "reason_distribution"]:
        assert (rep / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
    assert len(list(rep.glob("dependence_*.png"))) == 3
    doc = json.loads((root / "reports/explain.json").read_text())
    assert doc["top_features"][:2] == summary["top_features"][:2]
    assert set(doc["top_features"][:3]) >= {"max_dpd_6m", "utilisation_current"}


def test_report_is_self_contained(explain_run):
    root, _ = explain_run
    html = (root / "reports/explain/report.html").read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I)
    assert "url(" not in html
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert len(srcs) >= 8
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    for section in [
        "Model summary",
        "Global importance",
        "Reason-code distribution",
        "Sample accounts",
    ]:
        assert section in html
    assert "0.81" in html  # the test AUC from reports/metrics.json
    assert "highest PD" in html and "grade boundary" in html


@pytest.mark.slow
def test_table_mode_explains_test_split(book, explain_config, tmp_path, helpers):
    """No current book (table source): the test split is explained."""
    write_book = helpers.write_book
    df = book.df[book.df["split"] != "score"].reset_index(drop=True)
    write_book(tmp_path, df, book.catalogue, book.booster)
    paths = _paths(tmp_path)
    cfg = ExplainConfig(**{**explain_config.__dict__, "dependence_features": 1, "report_top_pd": 1})
    summary = run_explain(paths, cfg, progress=False)
    shap = pd.read_parquet(paths.out_dir / "shap_values.parquet")
    assert set(shap["split"]) == {"test"}
    n_test = int((df["split"] == "test").sum())
    # the sample plus the drill-down accounts picked on the whole test split
    extra = summary["population"].get("drilldown_extra", 0)
    assert summary["rows"] == min(n_test, cfg.test_sample_rows) + extra == len(shap)
    assert summary["population"]["explained"] == len(shap)
    assert "score" not in summary["population"]


def test_scores_from_another_model_are_rejected(book, explain_config, tmp_path, helpers):
    helpers.write_book(tmp_path, book.df, book.catalogue, book.booster)
    scores = pd.read_parquet(tmp_path / "data/scores/scores.parquet")
    scores["raw_score"] += 0.05
    scores.to_parquet(tmp_path / "data/scores/scores.parquet", index=False)
    with pytest.raises(DataValidationError, match="raw_score differs"):
        run_explain(_paths(tmp_path), explain_config, progress=False)
    assert not (tmp_path / "data/explanations").exists()  # nothing half-written


def test_actionable_population_is_what_the_stage_explains(book, explain_run):
    """Default mode: a 200-row test sample plus every overdue or PD >= 0.1 current account (and
    the report's drill-down accounts); a current, low-PD account gets nothing stored."""
    root, summary = explain_run
    shap = pd.read_parquet(root / "data/explanations/shap_values.parquet")
    scores = pd.read_parquet(root / "data/scores/scores.parquet")
    book_rows = book.df[book.df["split"] == "score"].merge(
        scores[["account_id", "pd"]], on="account_id"
    )
    actionable = set(
        book_rows.loc[
            (book_rows["policy__days_past_due"] > 0) | (book_rows["pd"] >= 0.10), "account_id"
        ]
    )
    explained = set(shap.loc[shap["split"] == "score", "account_id"])
    assert actionable <= explained
    extra = explained - actionable
    assert len(extra) == summary["population"]["drilldown_extra"] <= 2 * 5 + 3  # boundaries
    assert len(explained) < len(book_rows)  # the quiet majority is skipped
    pop = summary["population"]
    assert pop["mode"] == "actionable"
    assert pop["score"]["rows"] == len(book_rows)
    assert pop["score"]["explained"] == len(explained)
    assert pop["score"]["skipped"] == len(book_rows) - len(explained)
    assert pop["score"]["overdue"] == int((book_rows["policy__days_past_due"] > 0).sum())
    assert pop["test"]["explained"] == 200 == int((shap["split"] == "test").sum())
    assert pop["test"]["rows"] == int((book.df["split"] == "test").sum())
    # global views come from the test sample only
    assert summary["global_views_rows"] == 200 and summary["global_views_split"] == "test"
    by_grade = pd.read_parquet(root / "data/explanations/shap_by_grade.parquet")
    assert by_grade.groupby("grade")["n"].first().sum() == 200
    # every drill-down account in the report was explained and has its waterfall
    html = (root / "reports/explain/report.html").read_text()
    assert html.count('alt="waterfall') >= 3 + 1


@pytest.mark.slow
def test_population_all_explains_every_row(book, explain_config, tmp_path, helpers):
    helpers.write_book(tmp_path, book.df, book.catalogue, book.booster)
    cfg = ExplainConfig(
        **{
            **explain_config.__dict__,
            "population": "all",
            "test_sample_rows": None,
            "dependence_features": 1,
            "report_top_pd": 1,
        }
    )
    summary = run_explain(_paths(tmp_path), cfg, progress=False)
    shap = pd.read_parquet(tmp_path / "data/explanations/shap_values.parquet")
    expected = book.df[book.df["split"].isin(["test", "score"])]
    assert len(shap) == len(expected) == summary["rows"]
    assert summary["population"]["score"]["skipped"] == 0
    assert summary["population"]["test"]["rule"] == "every row"
    assert set(summary["explained_by_reason"]) == {"all", "test_all"}


def test_missing_feature_column_names_file_and_column(book, explain_config, tmp_path, helpers):
    helpers.write_book(tmp_path, book.df, book.catalogue, book.booster)
    book.df.drop(columns=["months_on_book"]).to_parquet(tmp_path / "data/features/features.parquet")
    with pytest.raises(DataValidationError, match="months_on_book"):
        run_explain(_paths(tmp_path), explain_config, progress=False)


def test_config_validation():
    assert ExplainConfig.from_mapping({"top_k": 4, "batch_rows": 10}).top_k == 4
    with pytest.raises(ConfigError, match="explain.top_k"):
        ExplainConfig.from_mapping({"top_k": 0})
    with pytest.raises(ConfigError, match="unknown key"):
        ExplainConfig.from_mapping({"topk": 4})
    with pytest.raises(ConfigError, match="check_tolerance"):
        ExplainConfig.from_mapping({"check_tolerance": "tight"})
    cfg = ExplainConfig.from_mapping(
        {"population": "all", "actionable_min_pd": 0.2, "test_sample_rows": None}
    )
    assert (cfg.population, cfg.actionable_min_pd, cfg.test_sample_rows) == ("all", 0.2, None)
    assert ExplainConfig().population == "actionable" and ExplainConfig().test_sample_rows == 20000
    for bad in [
        {"population": "everyone"},
        {"actionable_min_pd": 1.5},
        {"test_sample_rows": 10},
        {"test_sample_rows": True},
        {"mlflow_max_shap_mb": -1},
    ]:
        with pytest.raises(ConfigError, match=f"explain.{next(iter(bad))}"):
            ExplainConfig.from_mapping(bad)


@pytest.mark.slow
def test_cli_runs_end_to_end(book, tmp_path, helpers):
    """`python -m pipelines.explain ...` as DVC calls it, with params from a params.yaml."""
    import subprocess
    import sys

    from tests.helpers import subprocess_env

    REASONS_YAML = helpers.REASONS_YAML

    shutil.copytree(
        book.root / "data", tmp_path / "data", ignore=shutil.ignore_patterns("explanations")
    )
    (tmp_path / "reports").mkdir()
    shutil.copy(book.root / "reports/metrics.json", tmp_path / "reports/metrics.json")
    (tmp_path / "params.yaml").write_text(
        "seed: 1\nexplain:\n  top_k: 2\n  sample_check_rows: 50\n  batch_rows: 500\n"
        f"  dependence_features: 1\n  report_top_pd: 1\n  reasons: {REASONS_YAML}\n"
        "mlflow:\n  tracking_uri: null\n"
    )
    env = subprocess_env(MPLBACKEND="Agg")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.explain",
            "--model-dir",
            "data/model",
            "--features-dir",
            "data/features",
            "--scores",
            "data/scores/scores.parquet",
            "--metrics",
            "reports/metrics.json",
            "--out-dir",
            "data/explanations",
            "--report-dir",
            "reports/explain",
            "--summary",
            "reports/explain.json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reasons = pd.read_parquet(tmp_path / "data/explanations/reasons.parquet")
    assert reasons["rank"].max() == 2
    assert (tmp_path / "reports/explain/report.html").exists()
    assert "skipping MLflow logging" in proc.stderr
    # a bad parameter is one clear line, not a traceback
    (tmp_path / "params.yaml").write_text("explain:\n  top_k: -1\n")
    bad = subprocess.run(
        [sys.executable, "-m", "pipelines.explain"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "explain.top_k" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize("limit_mb", [50.0, 0.0])
def test_logs_to_the_train_run_in_mlflow(book, explain_config, tmp_path, helpers, limit_mb):
    import mlflow

    helpers.write_book(tmp_path, book.df, book.catalogue, book.booster)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run() as run:
        mlflow.log_param("stage", "train")
    meta = json.loads((tmp_path / "data/model/model_meta.json").read_text())
    meta["mlflow_run_id"] = run.info.run_id
    (tmp_path / "data/model/model_meta.json").write_text(json.dumps(meta))
    cfg = ExplainConfig(
        **{
            **explain_config.__dict__,
            "dependence_features": 1,
            "report_top_pd": 1,
            "mlflow_max_shap_mb": limit_mb,
        }
    )
    summary = run_explain(_paths(tmp_path), cfg, tracking_uri=uri, progress=False)
    client = mlflow.MlflowClient(tracking_uri=uri)
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "explain/report")}
    assert {"explain/report/report.html", "explain/report/beeswarm.png"} <= arts
    tables = {a.path for a in client.list_artifacts(run.info.run_id, "explain/tables")}
    assert "explain/tables/reasons.parquet" in tables
    assert "explain/tables/importance.parquet" in tables
    got = client.get_run(run.info.run_id)
    assert got.data.metrics["explain_check_max_abs_diff"] < 1e-6
    assert got.info.status == "FINISHED"  # the train run's status is left alone
    note = got.data.tags["explain.shap_values"]
    assert summary["mlflow"]["logged"] is True
    if limit_mb > 0:
        assert "explain/tables/shap_values.parquet" in tables and note == "logged"
    else:
        assert "explain/tables/shap_values.parquet" not in tables
        assert note.startswith("not logged") and "mlflow_max_shap_mb" in note


def _paths(root) -> ExplainPaths:
    return ExplainPaths(
        model_dir=root / "data/model",
        features_dir=root / "data/features",
        scores=root / "data/scores/scores.parquet",
        metrics=root / "reports/metrics.json",
        out_dir=root / "data/explanations",
        report_dir=root / "reports/explain",
        summary=root / "reports/explain.json",
    )

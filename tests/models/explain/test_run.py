"""explain_book through the explain stage on the tiny book: output contracts, plots, a
self-contained report, the summary and headline files."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from core.errors import DataValidationError, PipelineError
from pipelines.explain import run as run_explain

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


def test_tracked_reports_hold_no_timings_or_run_ids(explain_run):
    """explain.json and the report are tracked outs: rerunning on the same inputs changes nothing."""
    root, summary = explain_run
    text = (root / "reports/explain.json").read_text()
    for word in ("seconds", "timings", "rows_per_s", "run_id", str(root)):
        assert word not in text
    assert "mlflow" not in summary  # MLflow is the register stage's job
    html = (root / "reports/explain/report.html").read_text()
    assert "rows/s" not in html and "TreeSHAP speed" not in html


def test_headline_holds_the_checks(explain_run):
    root, summary = explain_run
    head = json.loads((root / "reports/headline/explain.json").read_text())
    assert head == {
        "rows_explained": summary["rows"],
        "accounts_with_reasons": summary["accounts_with_reasons"],
        "check_max_abs_diff": summary["check_max_abs_diff"],
        "additivity_max_abs_err": summary["additivity_max_abs_err"],
        "raw_score_max_abs_diff": summary["raw_score_max_abs_diff"],
    }
    assert head["raw_score_max_abs_diff"] < 1e-6 and head["accounts_with_reasons"] > 0


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
    paths = helpers.stage_paths(tmp_path)
    cfg = dataclasses.replace(explain_config, dependence_features=1, report_top_pd=1)
    summary = run_explain(paths, cfg, progress=False)
    shap = pd.read_parquet(paths.explanations_dir / "shap_values.parquet")
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
        run_explain(helpers.stage_paths(tmp_path), explain_config, progress=False)
    assert not (tmp_path / "data/explanations").exists()  # nothing half-written


def test_scores_without_raw_score_are_rejected_not_skipped(book, explain_config, tmp_path, helpers):
    """The raw-score cross-check can never be skipped: SCORES requires the column."""
    helpers.write_book(tmp_path, book.df, book.catalogue, book.booster)
    path = tmp_path / "data/scores/scores.parquet"
    pd.read_parquet(path).drop(columns="raw_score").to_parquet(path, index=False)
    with pytest.raises(DataValidationError, match="column 'raw_score'.*missing"):
        run_explain(helpers.stage_paths(tmp_path), explain_config, progress=False)


def test_train_outputs_are_required_metrics_only_when_named(
    book, explain_config, tmp_path, helpers
):
    from core.errors import PipelineError

    helpers.write_book(tmp_path, book.df, book.catalogue, book.booster)
    paths = helpers.stage_paths(tmp_path)
    (tmp_path / "reports/metrics.json").unlink()
    with pytest.raises(PipelineError, match="metrics.json' not found; run the train stage first"):
        run_explain(paths, explain_config, progress=False)
    (tmp_path / "data/model/model_meta.json").unlink()
    no_metrics = paths.replace(metrics=None)
    with pytest.raises(PipelineError, match="model_meta.json' not found; run the train stage"):
        run_explain(no_metrics, explain_config, progress=False)
    assert not paths.explanations_dir.exists() and not paths.report_dir.exists()


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
    cfg = dataclasses.replace(
        explain_config,
        population="all",
        test_sample_rows=None,
        dependence_features=1,
        report_top_pd=1,
    )
    summary = run_explain(helpers.stage_paths(tmp_path), cfg, progress=False)
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
        run_explain(helpers.stage_paths(tmp_path), explain_config, progress=False)


@pytest.mark.slow
def test_cli_runs_end_to_end(book, tmp_path, helpers):
    """`python -m pipelines.explain ...` as DVC calls it, with params from a params.yaml."""
    import subprocess
    import sys

    from tests.helpers import set_params, subprocess_env

    shutil.copytree(
        book.root / "data", tmp_path / "data", ignore=shutil.ignore_patterns("explanations")
    )
    (tmp_path / "reports").mkdir()
    shutil.copy(book.root / "reports/metrics.json", tmp_path / "reports/metrics.json")
    shutil.copy(helpers.REPO / "params.yaml", tmp_path / "params.yaml")
    small = {
        "seed": 1,
        "explain.top_k": 2,
        "explain.sample_check_rows": 50,
        "explain.batch_rows": 500,
        "explain.dependence_features": 1,
        "explain.report_top_pd": 1,
        "explain.reasons": str(helpers.REASONS_YAML),
        "tiers.policy": str(helpers.REPO / "configs/collection_policy.yaml"),
    }
    set_params(tmp_path, small)
    env = subprocess_env(MPLBACKEND="Agg")
    argv = [
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
            "--data-quality",
            "",  # the tiny book has no features-stage report
            "--explanations-dir",
            "data/explanations",
            "--report-dir",
            "reports/explain",
            "--summary",
            "reports/explain.json",
            "--headline",
            "reports/headline/explain.json",
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reasons = pd.read_parquet(tmp_path / "data/explanations/reasons.parquet")
    assert reasons["rank"].max() == 2
    assert (tmp_path / "reports/explain/report.html").exists()
    assert (tmp_path / "reports/headline/explain.json").exists()
    assert "explain timings (s)" in proc.stderr  # timings go to the log
    # a bad parameter is one clear line, not a traceback
    set_params(tmp_path, {"explain.top_k": -1})
    bad = subprocess.run(
        argv,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "explain.top_k" in bad.stderr and "Traceback" not in bad.stderr


def test_leak_suspects_of_the_data_quality_report_reach_the_explanation_report(
    book, explain_config, tmp_path, helpers
):
    import json

    helpers.write_book(tmp_path, book.df, book.catalogue, book.booster)
    quality = tmp_path / "reports/data_quality.json"
    feature = book.catalogue.features[0].name
    quality.write_text(
        json.dumps(
            {
                "features": [
                    {"feature": feature, "leak_suspect": True, "leak_reason": "IV 0.8 > 0.5"},
                    {"feature": "other", "leak_suspect": False},
                ]
            }
        )
    )
    paths = helpers.stage_paths(tmp_path)
    paths = paths.replace(data_quality=quality)
    cfg = dataclasses.replace(explain_config, dependence_features=1, report_top_pd=1)
    run_explain(paths, cfg, progress=False)
    page = (tmp_path / "reports/explain/report.html").read_text()
    assert "Leak suspects" in page and "IV 0.8 &gt; 0.5" in page and feature in page
    # a named report that is missing is an error, not a silently empty section
    quality.unlink()
    with pytest.raises(PipelineError, match="data_quality.json' not found; run the features"):
        run_explain(paths, cfg, progress=False)


def test_feature_rows_reads_the_chosen_rows_block_by_block(book):
    """Explain reads the model columns of the chosen rows only; in any order, across blocks, the
    rows equal the whole table's test and current-book rows at those positions."""
    from models.explain.inputs import EXPLAIN_SPLITS, FeatureRows

    path = book.root / "data/features/features.parquet"
    columns = tuple(book.catalogue.model_columns)
    explained = book.df[book.df["split"].isin(EXPLAIN_SPLITS)].reset_index(drop=True)
    n = len(explained)
    rows = FeatureRows(path, columns, block_rows=max(10, len(book.df) // 7))
    positions = np.array([n - 1, 0, n // 2, 3, n // 2 + 1, n - 2])
    got = rows(positions)
    expected = explained.loc[positions, list(columns)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_categorical=False)
    assert len(rows(np.array([], dtype=np.int64))) == 0
    with pytest.raises(DataValidationError, match=rf"row {n} of the test and current-book rows"):
        rows(np.array([1, n]))

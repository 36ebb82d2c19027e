"""PD model: training quality, monotone constraints, save/load, serving casts, the stage outputs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from core.catalogue import Catalogue
from core.dpd import in_default
from core.errors import DataValidationError
from models.metrics import auc
from models.pd_estimator import check_monotone
from models.pd_model import PDModel
from models.scaling import DEFAULT_GRADE
from tests.models.train_helpers import FAST, production_train_config, train_and_register


def _split(df, name):
    return df[df["split"] == name]


def test_discrimination_and_calibration_near_truth(trained, feature_table):
    model, report = trained
    test = _split(feature_table, "test")
    y = test["default"].astype(int).to_numpy()
    p = model.predict_pd(test)
    oracle = auc(y, feature_table.attrs["true_pd"][test.index])
    assert auc(y, p) > oracle - 0.05
    assert abs(p.mean() - y.mean()) < 0.015  # calibrated on held-out data: mean PD ~ bad rate
    assert report.best_iteration >= 1 and not report.monotone_violations
    assert p.min() >= model.pd_floor


def test_monotone_constraint_honoured(trained, feature_table, catalogue):
    model, _ = trained
    assert check_monotone(model.booster, feature_table, catalogue, n_rows=300) == {}
    # Direct sweep of utilisation (+1) and months_on_book (-1) on a few rows.
    rows = _split(feature_table, "test").head(50)
    for feat, sign in (("utilisation", 1), ("months_on_book", -1)):
        grid = np.linspace(feature_table[feat].min(), feature_table[feat].max(), 30)
        raws = []
        for v in grid:
            r = rows.copy()
            r[feat] = v
            raws.append(model.predict_raw(r))
        steps = np.diff(np.vstack(raws), axis=0) * sign
        assert steps.min() >= -1e-9


def test_save_load_round_trip_plain_files(trained, feature_table, tmp_path):
    model, _ = trained
    model.save(tmp_path / "m")
    files = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert files == ["booster.txt", "calibrator.json", "model_meta.json"]
    assert (tmp_path / "m" / "booster.txt").read_text().startswith("tree")
    meta = json.loads((tmp_path / "m" / "model_meta.json").read_text())
    assert meta["catalogue"]["features"][0]["name"] == "utilisation"
    assert meta["pd_floor"] == model.pd_floor
    back = PDModel.load(tmp_path / "m")
    a, b = model.predict_frame(feature_table), back.predict_frame(feature_table)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["grade"]) <= set(model.grade_order)


def test_string_categoricals_and_unseen_levels(trained, feature_table):
    model, _ = trained
    rows = _split(feature_table, "test").head(200)
    as_text = rows.copy()
    for c in ("income_band", "channel"):
        as_text[c] = rows[c].astype(str)
    assert np.allclose(model.predict_raw(rows), model.predict_raw(as_text))
    as_text["channel"] = "carrier-pigeon"  # unseen -> missing, not an error
    assert np.isfinite(model.predict_pd(as_text)).all()


def test_missing_column_is_data_error(trained, feature_table):
    model, _ = trained
    with pytest.raises(DataValidationError, match="utilisation"):
        model.predict_pd(feature_table.drop(columns=["utilisation"]))


def test_tests_train_what_production_trains(fast_config):
    """The model tests use params.yaml's config; only the declared speedups differ."""
    production = production_train_config()
    assert production.calibration == "platt" and fast_config.calibration == "platt"
    assert production.grades.names[0] == "1" and production.grades.upper_bounds[-1] == 1.0
    assert DEFAULT_GRADE not in production.grades.names
    assert production.scaling.base_points == 600
    assert replace(fast_config, **{k: getattr(production, k) for k in FAST}) == production


def test_stage_writes_contract_outputs(
    tmp_path, feature_table, catalogue, fast_config, write_features
):
    fdir, truth = write_features(tmp_path, feature_table, catalogue)
    run = train_and_register(tmp_path, fdir, truth, fast_config)
    paths = run.paths.train
    doc = json.loads(paths.metrics.read_text())
    block = {"auc", "gini", "ks", "brier", "log_loss", "ece", "n", "bad_rate"}
    assert set(doc) == {
        "test",
        "validation",
        "calibration_sample",
        "samples",
        "baseline_test",
        "oracle_test",
        "pd_vs_true_mae",
        "score_psi_train_test",
        "segments",
        "oot_periods",
        "customer_disjoint_test",
    }
    for k in ("test", "validation", "calibration_sample", "baseline_test"):
        assert set(doc[k]) == block
    # early stopping and calibration do not share rows; together they are the validation split
    n_valid = int((feature_table["split"] == "validation").sum())
    assert doc["validation"]["n"] + doc["calibration_sample"]["n"] == n_valid
    assert doc["samples"]["calibration_sample"]["n"] == doc["calibration_sample"]["n"] > 0
    assert set(doc["oracle_test"]) == {"auc", "brier"}
    assert doc["test"]["n"] == int((feature_table["split"] == "test").sum())
    assert 0 <= doc["pd_vs_true_mae"] < 0.05
    scores = pd.read_parquet(paths.scores)
    assert list(scores.columns) == [
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
    assert len(scores) == len(feature_table)
    # what training used each row for, recorded once: the two validation parts as the metrics
    # count them, every train row learned on (no max_train_rows), test and score as their split
    parts = scores.groupby(["split", "sample"], observed=True).size().to_dict()
    assert parts[("validation", "early_stopping")] == doc["validation"]["n"]
    assert parts[("validation", "calibration")] == doc["calibration_sample"]["n"]
    assert parts[("train", "train")] == int((feature_table["split"] == "train").sum())
    assert {k for k in parts if k[0] in ("test", "score")} == {("test", "test"), ("score", "score")}
    assert isinstance(scores["sample"].dtype, pd.CategoricalDtype)  # 1 byte a row
    assert scores.loc[scores["split"] == "score", "default"].isna().all()
    assert str(scores["default"].dtype) == "Int8"
    assert str(scores["observation_date"].dtype) == "datetime64[ns]"
    assert scores["pd"].between(fast_config.pd_floor, 1).all()
    for name in ("roc", "precision_recall", "calibration", "ks", "bad_rate_by_grade"):
        rows = json.loads((paths.plots_dir / f"{name}.json").read_text())
        assert isinstance(rows, list) and rows
    assert json.loads(paths.deciles.read_text())[0]["decile"] == 1
    # train leaves the registry to the register stage: no promotion record, no registration
    assert run.registration is None and not run.paths.register.promotion.exists()
    headline = json.loads(paths.headline.read_text())
    assert headline["test_auc"] == doc["test"]["auc"]
    assert headline["oracle_test_auc"] == doc["oracle_test"]["auc"]
    segments = doc["segments"]
    assert list(segments) == ["not_past_due", "dpd_1_30", "dpd_31_60", "dpd_61_89"]
    assert sum(s["n"] for s in segments.values()) == doc["test"]["n"]
    assert headline["not_past_due_auc"] == segments["not_past_due"]["auc"]
    assert headline["oracle_not_past_due_auc"] == segments["not_past_due"]["oracle_auc"]
    assert [p["period"] for p in doc["oot_periods"]] == ["2024-10", "2025-01", "2025-04"]
    assert sum(p["n"] for p in doc["oot_periods"]) == doc["test"]["n"]
    # the fixture's splits are random: few test accounts are absent from train
    assert 0 < doc["customer_disjoint_test"]["n"] <= doc["test"]["n"]
    assert run.train.metrics == doc
    loaded = PDModel.load(paths.model_dir)
    assert loaded.meta["metrics"]["test"]["auc"] == pytest.approx(doc["test"]["auc"])


def test_stage_rejects_bad_split(tmp_path, feature_table, catalogue, write_features):
    from models.training import read_features

    bad = feature_table.copy()
    bad["split"] = bad["split"].replace({"validation": "valid"})
    fdir, _ = write_features(tmp_path, bad, catalogue)
    with pytest.raises(DataValidationError, match="split"):
        read_features(fdir)
    assert isinstance(
        Catalogue.from_dict(json.loads((fdir / "catalogue.json").read_text())), Catalogue
    )


def test_accounts_in_default_get_pd_one_grade_d_and_no_score(trained, feature_table):
    model, _ = trained
    rows = _split(feature_table, "score").head(6)
    dpd = np.array([0, 89, 90, 120, np.nan, 30])
    out = model.predict_frame(rows, days_past_due=dpd)
    plain = model.predict_frame(rows)
    defaulted = np.array([False, False, True, True, False, False])
    assert (out.loc[defaulted, "pd"] == 1.0).all()
    assert (out.loc[defaulted, "grade"] == DEFAULT_GRADE).all()
    assert out.loc[defaulted, ["score", "raw_score"]].isna().all().all()
    pd.testing.assert_frame_equal(out[~defaulted], plain[~defaulted])
    assert list(in_default([89, 90, None, "x", 91.5])) == [False, True, False, False, True]
    with pytest.raises(DataValidationError, match="days_past_due has 2 values for 6 rows"):
        model.predict_frame(rows, days_past_due=[0, 0])


def test_scoring_in_blocks_gives_the_same_scores_and_names_the_whole_frames_row(
    monkeypatch, trained, feature_table
) -> None:
    """predict_raw scores in blocks to bound memory: the scores equal one block's, and a bad value
    in a later block is reported at its row in the whole frame."""
    import models.pd_model as pd_model

    model, _ = trained
    frame = _split(feature_table, "test").head(50)
    whole = model.predict_raw(frame)
    monkeypatch.setattr(pd_model, "PREDICT_BLOCK_ROWS", 7)
    np.testing.assert_array_equal(model.predict_raw(frame), whole)
    broken = frame.reset_index(drop=True)
    broken["utilisation"] = broken["utilisation"].astype(object)
    broken.loc[30, "utilisation"] = "not a number"
    with pytest.raises(DataValidationError, match="utilisation.*row 30"):
        model.predict_raw(broken)


def test_the_served_models_calls_give_predict_frames_numbers(trained, feature_table) -> None:
    """A small request's path (its model matrix, one thread, PD columns from the raw scores and
    days past due) equals `predict_frame` to the bit, in-default rule included."""
    from core.catalogue import direct_model_matrix

    model, _ = trained
    rows = _split(feature_table, "score").head(40).reset_index(drop=True)
    dpd = np.resize(np.array([0, 89, 90, 120, np.nan, 30]), len(rows))
    want = model.predict_frame(rows, days_past_due=dpd)
    for threads in (1, None):
        raw = model.raw_from_matrix(direct_model_matrix(rows, model.catalogue), threads)
        assert raw.dtype == np.float64 and raw.tobytes() == model.predict_raw(rows).tobytes()
        got = model.outcome_columns(raw, dpd)
        assert list(got) == list(want.columns) and got["grade"].dtype == object
        for c in ("raw_score", "pd", "score"):
            assert got[c].tobytes() == want[c].to_numpy().tobytes(), c
        assert got["grade"].tolist() == want["grade"].tolist()
    assert (got["grade"][in_default(dpd)] == DEFAULT_GRADE).all()
    plain = model.outcome_columns(raw)
    assert plain["raw_score"].tobytes() == raw.tobytes() and not np.isnan(plain["score"]).any()
    with pytest.raises(
        DataValidationError, match="'request': days_past_due has 2 values for 40 rows"
    ):
        model.outcome_columns(raw, [0, 0], "request")

"""The PD model's estimator: fit returns the estimator, the fitted model and the cut it made."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from models.pd_estimator import PDEstimator, check_monotone, split_validation, train_booster
from models.pd_model import PDModel


def _split(df, name):
    return df[df["split"] == name]


def test_check_monotone_detects_violation(feature_table, catalogue, fast_config):
    # Unconstrained model, catalogue claiming utilisation *lowers* risk: the checker must object.
    cfg = replace(fast_config, monotone_constraints=False)
    booster = train_booster(
        _split(feature_table, "train"), _split(feature_table, "validation"), catalogue, cfg
    )
    feats = [
        replace(f, direction=-1) if f.name == "utilisation" else replace(f, direction=0)
        for f in catalogue.features
    ]
    flipped = replace(catalogue, features=feats)
    assert "utilisation" in check_monotone(booster, feature_table, flipped)


def test_validation_is_cut_by_customer_and_seeded():

    valid = pd.DataFrame({"account_id": np.repeat(np.arange(100), 3), "x": np.arange(300)})
    stop, cal = split_validation(valid, "account_id", 0.4, seed=7)
    assert not set(stop["account_id"]) & set(cal["account_id"])
    assert len(stop) + len(cal) == 300 and cal["account_id"].nunique() == 40
    again, _ = split_validation(valid, "account_id", 0.4, seed=7)
    other, _ = split_validation(valid, "account_id", 0.4, seed=8)
    assert again.index.equals(stop.index) and not other.index.equals(stop.index)


def test_fit_follows_the_challengers_conventions(feature_table, catalogue, fast_config):
    """sklearn-style: settings kept as given, `fit` returns the estimator, what it learned ends
    in `_`; the validation rows are cut as `split_validation` cuts them, and the model keeps
    the settings as configured (the register stage logs them from model_meta.json)."""
    train, valid = _split(feature_table, "train"), _split(feature_table, "validation")
    estimator = PDEstimator(fast_config, catalogue)
    assert estimator.config is fast_config and not hasattr(estimator, "model_")
    with pytest.raises(RuntimeError, match="not fitted"):
        estimator.predict_pd(valid)
    assert estimator.fit(train, valid) is estimator
    assert isinstance(estimator.model_, PDModel) and not hasattr(estimator.model_, "fit")
    stop, calibration = split_validation(
        valid, catalogue.id_column, fast_config.calibration_fraction, fast_config.seed
    )
    assert estimator.early_stopping_index_.equals(stop.index)
    assert estimator.calibration_index_.equals(calibration.index)
    assert estimator.report_.n_validation == len(stop)
    assert estimator.report_.n_calibration == len(calibration)
    assert estimator.model_.meta["train_config"] == fast_config.to_flat_dict()
    test = _split(feature_table, "test")
    np.testing.assert_array_equal(estimator.predict_pd(test), estimator.model_.predict_pd(test))


def test_sample_weights_reach_the_booster(feature_table, catalogue, fast_config):
    """Weights change what the booster learns (the same rows, unweighted, give another model)."""
    train, valid = _split(feature_table, "train"), _split(feature_table, "validation")
    plain = PDEstimator(fast_config, catalogue).fit(train, valid).model_
    weights = np.where(train["default"].to_numpy() == 1, 5.0, 1.0)
    weighted = PDEstimator(fast_config, catalogue).fit(train, valid, sample_weight=weights).model_
    assert plain.booster.model_to_string() != weighted.booster.model_to_string()

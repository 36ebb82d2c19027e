"""Calibrators fix a miscalibrated score, keep the ranking and survive a JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.calibration import (
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_dict,
    make_calibrator,
)
from models.metrics import auc, ece, log_loss


def _miscalibrated(n: int, seed: int):
    """True log-odds z; the model reports 2.5*z + 2 (overconfident and too pessimistic)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(-3.0, 1.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return 2.5 * z + 2.0, y


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_improves_log_loss_and_ece(method):
    raw_fit, y_fit = _miscalibrated(20000, 1)
    raw_test, y_test = _miscalibrated(20000, 2)
    naive = 1 / (1 + np.exp(-raw_test))
    cal = make_calibrator(method, pd_floor=0.0003).fit(raw_fit, y_fit)
    p = cal.transform(raw_test)
    assert log_loss(y_test, p) < log_loss(y_test, naive) - 0.05
    assert ece(y_test, p) < 0.01 < ece(y_test, naive)
    assert auc(y_test, p) == pytest.approx(auc(y_test, naive), abs=0.005)


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_round_trip_floor_and_monotone(method):
    raw, y = _miscalibrated(5000, 3)
    cal = make_calibrator(method, pd_floor=0.001).fit(raw, y)
    doc = json.loads(json.dumps(cal.to_dict()))
    back = calibrator_from_dict(doc)
    grid = np.linspace(-30, 30, 400)
    assert np.array_equal(back.transform(grid), cal.transform(grid))
    out = cal.transform(grid)
    assert out.min() >= 0.001 and out.max() < 1.0
    assert np.all(np.diff(out) >= 0)


def test_isotonic_matches_sklearn_predict():
    from sklearn.isotonic import IsotonicRegression

    raw, y = _miscalibrated(3000, 4)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(raw, y)
    cal = IsotonicCalibrator(pd_floor=1e-9).fit(raw, y)
    grid = np.linspace(raw.min() - 1, raw.max() + 1, 500)
    assert np.allclose(cal.transform(grid), np.clip(iso.predict(grid), 1e-9, 1 - 1e-6))


def test_errors():
    with pytest.raises(ValueError, match="both defaults"):
        IsotonicCalibrator().fit([0.1, 0.2], [0, 0])
    with pytest.raises(RuntimeError):
        PlattCalibrator().transform([0.0])
    with pytest.raises(ValueError):
        make_calibrator("beta", 0.001)

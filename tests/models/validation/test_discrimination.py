from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.metrics import ks
from models.validation.discrimination import (
    AucInterval,
    delong_auc,
    delong_paired,
    ks_bootstrap_ci,
    non_inferiority,
)


def _data(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(-2.0 + 1.2 * signal)))).astype(int)
    weak = signal + rng.normal(scale=2.0, size=n)
    return y, signal, weak


def test_delong_auc_matches_sklearn_and_bootstrap_se() -> None:
    y, p, _ = _data()
    p = np.round(p, 1)  # ties: midranks must match sklearn's half credit
    res = delong_auc(y, p)
    assert res.auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    rng = np.random.default_rng(1)
    boots = []
    for _ in range(300):
        idx = rng.integers(0, y.size, y.size)
        boots.append(roc_auc_score(y[idx], p[idx]))
    assert res.se == pytest.approx(np.std(boots), rel=0.15)
    assert res.low < res.auc < res.high
    assert res.high - res.low == pytest.approx(2 * 1.959964 * res.se, rel=1e-5)


def test_auc_interval_gini_and_dict() -> None:
    res = AucInterval(auc=0.75, se=0.01, low=0.73, high=0.77, level=0.95)
    assert res.gini_interval() == pytest.approx((0.5, 0.46, 0.54))
    assert res.as_dict() == {"auc": 0.75, "se": 0.01, "low": 0.73, "high": 0.77, "level": 0.95}


def test_delong_auc_clips_and_rejects_one_class() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    res = delong_auc(y, np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]))
    assert res.auc == 1.0 and res.high == 1.0
    with pytest.raises(ValueError, match="only class 0"):
        delong_auc(np.zeros(5), np.arange(5.0))


def test_delong_paired_separates_better_score_from_identical() -> None:
    y, strong, weak = _data()
    better = delong_paired(y, strong, weak)
    assert better.diff == pytest.approx(roc_auc_score(y, strong) - roc_auc_score(y, weak))
    assert better.p_value < 1e-6 and better.low > 0
    same = delong_paired(y, strong, strong)
    assert same.diff == 0.0 and same.p_value == 1.0
    rng = np.random.default_rng(5)
    near = delong_paired(y, strong, strong + rng.normal(scale=1e-3, size=y.size))
    assert near.p_value > 0.2
    assert set(near.as_dict()) == {
        "auc_a", "auc_b", "diff", "se", "low", "high", "p_value", "level"
    }  # fmt: skip


def test_non_inferiority_refuses_worse_and_passes_equal() -> None:
    y, strong, weak = _data()
    worse = non_inferiority(y, weak, strong, margin=0.01)
    assert not worse["passed"] and worse["p"] > 0.5 and worse["low"] < -0.01
    equal = non_inferiority(y, strong, strong, margin=0.01)
    assert equal["passed"] and equal["p"] == 0.0
    rng = np.random.default_rng(2)
    close = non_inferiority(y, strong + rng.normal(scale=0.05, size=y.size), strong, margin=0.02)
    assert close["passed"] and close["low"] > -0.02 and close["p"] < 0.05
    assert close["low"] < close["diff"] < close["high"]


def test_ks_bootstrap_ci_brackets_ks_and_is_seeded() -> None:
    y, p, _ = _data(n=3000)
    point, low, high = ks_bootstrap_ci(y, p, n_boot=200, seed=4)
    assert point == pytest.approx(ks(y, p))
    assert low < point < high and high - low < 0.2
    assert ks_bootstrap_ci(y, p, n_boot=200, seed=4) == (point, low, high)
    assert ks_bootstrap_ci(y, p, n_boot=200, seed=5) != (point, low, high)

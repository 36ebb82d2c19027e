from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from models.validation.calibration_tests import (
    GRADE_COLUMNS,
    binomial_p,
    calibration_by_grade,
    hosmer_lemeshow,
    jeffreys_p,
    oe_ratio,
    traffic_light,
)


@pytest.mark.parametrize(("d", "n", "pd"), [(0, 50, 0.01), (3, 100, 0.01), (12, 400, 0.02)])
def test_binomial_p_matches_scipy_binomtest(d: int, n: int, pd: float) -> None:
    expected = stats.binomtest(d, n, pd, alternative="greater").pvalue
    assert binomial_p(d, n, pd) == pytest.approx(expected, rel=1e-9)


def test_binomial_p_is_nan_for_an_empty_grade_and_rejects_bad_counts() -> None:
    assert math.isnan(binomial_p(0, 0, 0.01))
    with pytest.raises(ValueError, match="defaults"):
        binomial_p(5, 3, 0.1)


def test_jeffreys_p_falls_as_defaults_rise() -> None:
    ps = [jeffreys_p(d, 500, 0.02) for d in range(0, 30, 3)]
    assert all(b < a for a, b in zip(ps, ps[1:], strict=False))
    assert ps[0] > 0.95 and ps[-1] < 0.01


def test_jeffreys_p_is_the_beta_posterior_cdf() -> None:
    assert jeffreys_p(4, 200, 0.01) == pytest.approx(stats.beta(4.5, 196.5).cdf(0.01))


@pytest.mark.parametrize(
    ("p", "light"),
    [(0.5, "green"), (0.05, "green"), (0.0499, "amber"), (0.01, "amber"), (0.0099, "red")],
)
def test_traffic_light_thresholds(p: float, light: str) -> None:
    assert traffic_light(p) == light


def test_traffic_light_nan_and_custom_thresholds() -> None:
    assert traffic_light(float("nan")) == "n/a"
    assert traffic_light(0.08, amber=0.1, red=0.02) == "amber"
    with pytest.raises(ValueError):
        traffic_light(0.5, amber=0.01, red=0.05)


def test_oe_ratio_garwood_interval() -> None:
    ratio, low, high = oe_ratio(10, 8.0)
    assert ratio == pytest.approx(1.25)
    # Garwood exact 95% limits for 10 events: 4.7954 and 18.3904.
    assert low == pytest.approx(4.7954 / 8.0, rel=1e-4)
    assert high == pytest.approx(18.3904 / 8.0, rel=1e-4)
    assert oe_ratio(0, 2.0)[1] == 0.0
    assert all(math.isnan(v) for v in oe_ratio(3, 0.0))


def _simulated(n: int = 20000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pd_true = 1.0 / (1.0 + np.exp(-(-3.0 + rng.normal(size=n))))
    y = (rng.random(n) < pd_true).astype(int)
    return y, pd_true


def test_hosmer_lemeshow_accepts_true_pd_and_rejects_halved_pd() -> None:
    y, p = _simulated()
    good = hosmer_lemeshow(y, p)
    bad = hosmer_lemeshow(y, p / 2.0)
    assert good["df"] == 8 and len(good["groups"]) == 10
    assert good["p"] > 0.05 and good["statistic"] < 20
    assert bad["p"] < 1e-6
    assert sum(g["n"] for g in good["groups"]) == y.size
    assert sum(g["defaults"] for g in good["groups"]) == int(y.sum())


def test_hosmer_lemeshow_keeps_ties_together() -> None:
    y, _ = _simulated(n=3000)
    p = np.repeat([0.01, 0.03, 0.05, 0.1], 750)  # four distinct PDs: at most four groups
    out = hosmer_lemeshow(y, p, n_groups=10)
    assert len(out["groups"]) == 4 and out["df"] == 2
    assert [g["mean_pd"] for g in out["groups"]] == pytest.approx([0.01, 0.03, 0.05, 0.1])


def test_calibration_by_grade_columns_order_and_lights() -> None:
    rng = np.random.default_rng(0)
    n = 6000
    grade = rng.choice(["A", "B", "C"], n)
    pd_grade = {"A": 0.01, "B": 0.05, "C": 0.2}
    p = np.array([pd_grade[g] for g in grade])
    true = p.copy()
    true[grade == "C"] = 0.35  # C's PD is far too low
    y = (rng.random(n) < true).astype(int)
    table = calibration_by_grade(y, p, grade, grades=["A", "B", "C", "E"])
    assert list(table.columns) == GRADE_COLUMNS
    assert list(table["grade"]) == ["A", "B", "C"]  # E has no rows
    assert table["n"].sum() == n
    row_c = table.set_index("grade").loc["C"]
    assert row_c["light"] == "red" and row_c["oe_low"] > 1.0
    assert table.set_index("grade").loc["A", "light"] in {"green", "amber"}
    default_order = calibration_by_grade(y, p, grade)
    assert list(default_order["grade"]) == ["A", "B", "C"]

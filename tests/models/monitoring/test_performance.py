from __future__ import annotations

import numpy as np
import pytest

from models.monitoring.performance import grade_performance, oe_light, period_performance
from models.monitoring.thresholds import MonitorConfig


def book(defaults_by_period: dict[str, int | None], n: int = 4000, pd_value: float = 0.05):
    """Rows per period with one PD; a risk score that ranks the defaulters first but keeps the
    PD fixed; `None` defaults = unlabelled period."""
    ys, ps, periods = [], [], []
    for period, d in defaults_by_period.items():
        y = np.full(n, np.nan) if d is None else (np.arange(n) < d).astype(float)
        ys.append(y)
        ps.append(np.full(n, pd_value))
        periods.append(np.full(n, period, dtype=object))
    return np.concatenate(ys), np.concatenate(ps), np.concatenate(periods)


def test_doubled_defaults_turn_the_period_red_and_matched_ones_stay_green() -> None:
    y, p, periods = book({"2025-01": 200, "2025-02": 400, "2025-03": None})
    rows = {r["period"]: r for r in period_performance(y, p, periods, MonitorConfig())}
    ok, doubled, unlabelled = rows["2025-01"], rows["2025-02"], rows["2025-03"]
    assert ok["oe_ratio"] == pytest.approx(1.0)
    assert ok["oe_low"] < 1.0 < ok["oe_high"]
    assert ok["oe_rag"] == "green"
    assert doubled["oe_ratio"] == pytest.approx(2.0)
    assert doubled["oe_low"] > 1.0
    assert doubled["jeffreys_p"] < 0.01
    assert doubled["oe_rag"] == "red"
    assert doubled["observed_rate"] == pytest.approx(0.10)
    for key in ("auc", "auc_low", "observed_rate", "oe_ratio", "oe_rag"):
        assert unlabelled[key] is None
    assert unlabelled["n"] == 4000 and unlabelled["mean_pd"] == pytest.approx(0.05)


def test_overstated_pd_is_amber_not_red() -> None:
    """Half the expected defaults: the interval lies below the material floor (0.8) but the
    one-sided Jeffreys test (PD too low?) does not reject, so the light is amber."""
    y, p, periods = book({"2025-01": 100})
    (row,) = period_performance(y, p, periods, MonitorConfig())
    assert row["oe_high"] < 1.0
    assert row["oe_rag"] == "amber"


def test_auc_interval_brackets_the_auc() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.01, 0.3, 3000)
    y = (rng.random(3000) < p).astype(float)
    (row,) = period_performance(y, p, np.full(3000, "2025-01", dtype=object), MonitorConfig())
    assert 0.5 < row["auc_low"] < row["auc"] < row["auc_high"] < 1.0
    assert row["gini"] == pytest.approx(2 * row["auc"] - 1)


def test_single_class_period_has_no_auc_but_has_calibration() -> None:
    y, p, periods = book({"2025-01": 0}, n=500)
    (row,) = period_performance(y, p, periods, MonitorConfig())
    assert row["auc"] is None
    assert row["oe_ratio"] == 0.0 and row["oe_rag"] == "amber"


def test_grade_rows_flag_the_underestimated_grade() -> None:
    n = 2000
    grade = np.array(["1"] * n + ["2"] * n, dtype=object)
    p = np.r_[np.full(n, 0.02), np.full(n, 0.05)]
    y = np.r_[(np.arange(n) < 40), (np.arange(n) < 200)].astype(float)  # grade 2: doubled
    periods = np.full(2 * n, "2025-01", dtype=object)
    rows = grade_performance(y, p, grade, periods, MonitorConfig(), ["1", "2"])
    overall = {r["grade"]: r for r in rows if r["period"] == "all"}
    assert overall["1"]["light"] == "green"
    assert overall["2"]["light"] == "red"
    assert {r["period"] for r in rows} == {"all", "2025-01"}


def test_oe_light_rules() -> None:
    assert oe_light(0.9, 1.1, 0.001, 0.05, 0.01) == "green"
    assert oe_light(1.1, 1.3, 0.03, 0.05, 0.01) == "amber"
    assert oe_light(1.1, 1.3, 0.001, 0.05, 0.01) == "red"
    assert oe_light(None, None, None, 0.05, 0.01) is None
    # PD overstated: conservative; amber only when the whole interval is below the floor
    assert oe_light(0.85, 0.95, 0.99, 0.05, 0.01) == "green"
    assert oe_light(0.5, 0.7, 0.99, 0.05, 0.01) == "amber"
    assert oe_light(0.85, 0.95, 0.99, 0.05, 0.01, oe_floor=1.0) == "amber"

"""Performance as labels mature: discrimination and calibration per observation period and grade.

Only labelled rows count (the current book has no outcome yet, so its AUC and observed rate are
null). The statistics are the validation library's (`models.validation`): DeLong intervals for the
AUC, the exact Poisson interval of observed/expected defaults and the one-sided Jeffreys test, so
the monitoring dashboard and the validation report never disagree on a number.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.monitoring.thresholds import AMBER, GREEN, RED, MonitorConfig, PeriodIndex
from models.validation.calibration_tests import (
    calibration_by_grade,
    jeffreys_p,
    oe_ratio,
    traffic_light,
)
from models.validation.discrimination import delong_auc

log = logging.getLogger(__name__)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def oe_light(
    ratio_low: float | None,
    ratio_high: float | None,
    p: float | None,
    amber: float,
    red: float,
    oe_floor: float = 0.8,
) -> str | None:
    """Calibration light of a period or group.

    Green while the O/E interval holds 1. PD too low (interval above 1): amber, red when the
    one-sided Jeffreys test rejects at `red`. PD too high (interval below 1) is conservative, as
    the one-sided tests of IRB validation treat it: amber only when material, the whole interval
    below `oe_floor` (PD overstated by more than 1/oe_floor); a benign month's few percent stay
    green.
    """
    if ratio_low is None or ratio_high is None:
        return None
    if ratio_low <= 1.0 <= ratio_high:
        return GREEN
    if ratio_high < 1.0:
        return AMBER if ratio_high < oe_floor else GREEN
    light = traffic_light(p if p is not None else float("nan"), amber, red)
    return RED if light == RED else AMBER


def labelled_summary(y: np.ndarray, p: np.ndarray, config: MonitorConfig) -> dict[str, Any]:
    """AUC/Gini with intervals, observed vs expected rate, O/E interval, Jeffreys p and a light
    for one set of rows (`y` float with NaN where unlabelled: those rows are skipped)."""
    known = ~np.isnan(y)
    yk, pk = y[known], p[known]
    n = int(known.sum())
    out: dict[str, Any] = {
        "n_labelled": n,
        "auc": None,
        "auc_low": None,
        "auc_high": None,
        "gini": None,
        "gini_low": None,
        "gini_high": None,
        "defaults": None,
        "observed_rate": None,
        "expected_rate": None,
        "oe_ratio": None,
        "oe_low": None,
        "oe_high": None,
        "jeffreys_p": None,
        "oe_rag": None,
    }
    if n == 0:
        return out
    defaults = int(round(float(yk.sum())))
    expected = float(pk.sum())
    if 0 < defaults < n:
        ci = delong_auc(yk, pk, config.level)
        out.update(
            auc=ci.auc,
            auc_low=ci.low,
            auc_high=ci.high,
            gini=2.0 * ci.auc - 1.0,
            gini_low=2.0 * ci.low - 1.0,
            gini_high=2.0 * ci.high - 1.0,
        )
    ratio, low, high = oe_ratio(defaults, expected, config.level)
    jp = _finite(jeffreys_p(defaults, n, float(np.clip(expected / n, 0.0, 1.0))))
    low_f, high_f = _finite(low), _finite(high)
    out.update(
        defaults=defaults,
        observed_rate=defaults / n,
        expected_rate=expected / n,
        oe_ratio=_finite(ratio),
        oe_low=low_f,
        oe_high=high_f,
        jeffreys_p=jp,
        oe_rag=oe_light(low_f, high_f, jp, config.p_amber, config.p_red, config.oe_floor),
    )
    return out


def period_performance(
    y: np.ndarray, p: np.ndarray, periods: np.ndarray | PeriodIndex, config: MonitorConfig
) -> list[dict[str, Any]]:
    """One row per period, oldest first: n, mean PD and `labelled_summary` of its labelled rows."""
    index = PeriodIndex.of(periods)
    rows = []
    for i, period in enumerate(index.order):
        m = index.codes == i
        row: dict[str, Any] = {"period": period, "n": int(m.sum()), "mean_pd": float(p[m].mean())}
        row.update(labelled_summary(y[m], p[m], config))
        rows.append(row)
    return rows


def grade_performance(
    y: np.ndarray,
    p: np.ndarray,
    grade: np.ndarray,
    periods: np.ndarray | PeriodIndex,
    config: MonitorConfig,
    grade_order: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Per grade (all labelled rows as "all", then per labelled period): counts, observed vs
    expected, O/E interval and the Jeffreys light (`calibration_by_grade` of the validation)."""
    known = ~np.isnan(y)
    order = list(grade_order) if grade_order is not None else None
    index = PeriodIndex.of(periods)
    grade = np.asarray(grade).astype(str)  # once, not per scope
    out: list[dict[str, Any]] = []
    labelled = np.bincount(index.codes[known], minlength=len(index.order))
    scopes = [("all", known)] + [
        (period, known & (index.codes == i)) for i, period in enumerate(index.order) if labelled[i]
    ]
    for scope, m in scopes:
        if not m.any():
            continue
        table = calibration_by_grade(
            y[m],
            p[m],
            grade[m],
            grades=order,
            amber=config.p_amber,
            red=config.p_red,
            level=config.level,
        )
        for rec in table.to_dict(orient="records"):
            out.append({"period": scope, **rec})
    return out


def performance_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The period rows as a frame (for the report's tables and plots)."""
    return pd.DataFrame(rows)

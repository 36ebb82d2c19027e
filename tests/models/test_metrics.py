"""Metric functions against hand-computed values and invariants."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import metrics

Y4 = [0, 0, 1, 1]
P4 = [0.1, 0.4, 0.35, 0.8]


def test_auc_gini_ks_by_hand():
    # Bad/good pairs ranked correctly: (0.35>0.1), (0.8>0.1), (0.8>0.4) of 4 -> 0.75.
    assert metrics.auc(Y4, P4) == pytest.approx(0.75)
    assert metrics.gini(Y4, P4) == pytest.approx(0.5)
    # Riskiest first: cum bad 0.5, 0.5, 1, 1; cum good 0, 0.5, 0.5, 1 -> max gap 0.5.
    assert metrics.ks(Y4, P4) == pytest.approx(0.5)


def test_ks_ties_move_together():
    # All predictions tied: no threshold separates anything, KS must be 0 whatever the row order.
    assert metrics.ks([1, 0, 1, 0], [0.3] * 4) == 0.0
    assert metrics.ks([0, 1, 0, 1], [0.3] * 4) == 0.0


def test_brier_and_log_loss_by_hand():
    y, p = [1, 0], [0.8, 0.4]
    assert metrics.brier(y, p) == pytest.approx((0.04 + 0.16) / 2)
    assert metrics.log_loss(y, p) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)


def test_ece_equal_frequency_by_hand():
    # Two equal-frequency bins: {0.1, 0.2} mean 0.15 observed 0; {0.7, 0.9} mean 0.8 observed 1.
    y, p = [0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9]
    assert metrics.ece(y, p, n_bins=2) == pytest.approx((2 * 0.15 + 2 * 0.2) / 4)


def test_ece_uniform_bins_by_hand():
    # Equal-width bins of 0.5: all four in bin 0 except 0.7/0.9 in bin 1 -> same as above here,
    # but 0.45/0.55 straddle the edge.
    y, p = [0, 1, 0, 1], [0.45, 0.55, 0.05, 0.95]
    # bin0 {0.45, 0.05}: mean 0.25, observed 0 -> 0.25; bin1 {0.55, 0.95}: mean 0.75, obs 1 -> 0.25
    assert metrics.ece(y, p, n_bins=2, strategy="uniform") == pytest.approx(0.25)


def test_psi_by_hand():
    expected = np.arange(100.0)  # median edge at 49.5 with two bins
    actual = np.r_[np.zeros(75), np.full(25, 99.0)]
    # shares 0.75/0.25 against 0.5/0.5: 0.25*ln(1.5) - 0.25*ln(0.5) = 0.25*ln(3)
    assert metrics.psi(expected, actual, n_bins=2) == pytest.approx(0.25 * math.log(3))


def test_decile_lift_and_capture_by_hand():
    y = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    p = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    rows = metrics.decile_table(y, p, n_groups=5)
    assert [r["n"] for r in rows] == [2] * 5
    assert rows[0]["bad_rate"] == 1.0
    assert rows[0]["lift"] == pytest.approx(5.0)  # book bad rate 0.2
    assert rows[0]["cum_bad_capture"] == 1.0
    assert rows[1]["lift"] == 0.0
    assert rows[-1]["cum_population"] == pytest.approx(1.0)


def test_summary_shape_and_single_class():
    s = metrics.summary(Y4, P4)
    assert set(s) == {"auc", "gini", "ks", "brier", "log_loss", "ece", "n", "bad_rate"}
    assert s["n"] == 4 and s["bad_rate"] == 0.5
    assert math.isnan(metrics.auc([0, 0], [0.1, 0.2]))


def test_bad_input_rejected():
    with pytest.raises(ValueError):
        metrics.auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        metrics.auc([0, 1], [0.1])


def test_curves_are_strict_json_and_thinned():
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.1).astype(int)
    p = np.clip(rng.random(5000) * 0.3 + y * 0.2, 0, 1)
    grades = np.where(p > 0.3, "B", "A")
    bundle = metrics.curve_bundle(y, p, grades, ["A", "B"])
    text = json.dumps(bundle, allow_nan=False)  # raises on inf/NaN
    assert "Infinity" not in text
    roc = bundle["roc"]
    assert len(roc) <= metrics.MAX_CURVE_POINTS
    assert roc[0]["fpr"] == 0.0 and roc[-1]["tpr"] == 1.0
    # Trapezoid area of the thinned curve stays close to the exact AUC.
    fpr = np.array([r["fpr"] for r in roc])
    tpr = np.array([r["tpr"] for r in roc])
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(metrics.auc(y, p), abs=0.01)
    ks_rows = bundle["ks"]
    assert max(r["ks"] for r in ks_rows) == pytest.approx(metrics.ks(y, p), abs=0.01)
    assert {r["grade"] for r in bundle["bad_rate_by_grade"]} == {"A", "B"}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.floats(0.0, 1.0)), min_size=2, max_size=60).filter(
        lambda rows: 0 < sum(r[0] for r in rows) < len(rows)
    )
)
def test_ks_matches_sklearn_roc(rows):
    from sklearn.metrics import roc_curve

    y = np.array([int(r[0]) for r in rows])
    p = np.array([r[1] for r in rows])
    fpr, tpr, _ = roc_curve(y, p)
    assert metrics.ks(y, p) == pytest.approx(float(np.max(np.abs(tpr - fpr))))
    assert 0.0 <= metrics.ece(y, p) <= 1.0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=5, max_size=200))
def test_psi_zero_on_itself_and_nonnegative(values):
    x = np.array(values)
    assert metrics.psi(x, x) == pytest.approx(0.0, abs=1e-12)
    assert metrics.psi(x, x[::-1] * 2 + 1) >= 0.0


def test_segment_metrics_by_hand_with_a_one_class_segment_null():
    y = [0, 1, 0, 1, 0, 0, 1]
    p = [0.1, 0.9, 0.3, 0.2, 0.5, 0.4, 0.8]
    dpd = [0, 0, 0, 0, 15, 20, 45]
    truth = [0.2, 0.8, 0.1, 0.6, 0.3, 0.3, 0.9]
    out = metrics.segment_metrics(y, p, dpd, truth)
    assert list(out) == ["not_past_due", "dpd_1_30", "dpd_31_60", "dpd_61_89"]
    current = out["not_past_due"]
    # Bads 0.9, 0.2 vs goods 0.1, 0.3: 3 of 4 pairs ranked right; the truth ranks all 4.
    assert current == {"n": 4, "bad_rate": 0.5, "auc": 0.75, "oracle_auc": 1.0}
    assert out["dpd_1_30"] == {"n": 2, "bad_rate": 0.0, "auc": None, "oracle_auc": None}
    assert out["dpd_31_60"]["auc"] is None and out["dpd_31_60"]["bad_rate"] == 1.0
    assert out["dpd_61_89"] == {"n": 0, "bad_rate": None, "auc": None, "oracle_auc": None}
    assert metrics.segment_metrics(y, p, dpd)["not_past_due"]["oracle_auc"] is None


def test_group_oracle_is_null_when_a_row_lacks_the_truth():
    out = metrics.group_metrics([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], [0.1, np.nan, 0.2, 0.7])
    assert out["auc"] == 1.0 and out["oracle_auc"] is None


def test_period_metrics_one_entry_per_month_oldest_first():
    import pandas as pd

    dates = pd.to_datetime(["2025-07-01"] * 4 + ["2025-04-01"] * 3)
    y = [0, 1, 0, 1, 0, 0, 1]
    p = [0.1, 0.9, 0.3, 0.2, 0.2, 0.4, 0.6]
    out = metrics.period_metrics(y, p, dates, None)
    assert [e["period"] for e in out] == ["2025-04", "2025-07"]
    assert out[0] == {
        "period": "2025-04",
        "n": 3,
        "bad_rate": pytest.approx(1 / 3),
        "auc": 1.0,
        "oracle_auc": None,
        "mean_pd": pytest.approx(0.4),
    }
    assert out[1]["auc"] == 0.75 and out[1]["mean_pd"] == pytest.approx(0.375)

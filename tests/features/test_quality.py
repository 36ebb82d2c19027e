"""IV / AUC / PSI helpers and the leakage guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.catalogue import Catalogue, FeatureSpec
from core.errors import PipelineError
from features.quality import (
    LeakageError,
    check_leakage,
    data_quality_report,
    information_value,
    population_stability,
    single_feature_auc,
)

RNG = np.random.default_rng(7)
N = 4000
Y = (RNG.random(N) < 0.2).astype(int)


def test_auc_is_symmetric_and_matches_known_values():
    assert single_feature_auc(pd.Series(Y.astype(float)), Y) == pytest.approx(1.0)
    assert single_feature_auc(pd.Series(-Y.astype(float)), Y) == pytest.approx(1.0)
    noise = pd.Series(RNG.random(N))
    assert 0.5 <= single_feature_auc(noise, Y) < 0.56
    x = pd.Series(Y + RNG.normal(0, 1.0, N))
    from sklearn.metrics import roc_auc_score

    assert single_feature_auc(x, Y) == pytest.approx(roc_auc_score(Y, x), abs=1e-9)


def test_missingness_that_encodes_the_label_is_caught():
    x = pd.Series(np.where(Y == 1, np.nan, RNG.random(N)))
    assert single_feature_auc(x, Y) > 0.99


def test_id_like_category_does_not_look_predictive():
    ids = pd.Series([f"id{i}" for i in range(N)], dtype="category")
    assert single_feature_auc(ids, Y) < 0.6
    leaky = pd.Series(np.where(Y == 1, "charged_off", "current"))
    assert single_feature_auc(leaky, Y) > 0.99


def test_iv_orders_features_and_psi_detects_shift():
    strong = pd.Series(Y * 2 + RNG.normal(0, 1, N))
    weak = pd.Series(Y * 0.2 + RNG.normal(0, 1, N))
    assert information_value(strong, Y) > information_value(weak, Y) > 0
    zero_inflated = pd.Series(np.where(Y == 1, RNG.integers(1, 90, N), 0).astype(float))
    assert information_value(zero_inflated, Y) > 1.0  # point mass at 0 keeps its own bin
    base = pd.Series(RNG.normal(0, 1, N))
    assert population_stability(base, pd.Series(RNG.normal(0, 1, N))) < 0.02
    assert population_stability(base, pd.Series(RNG.normal(1, 1, N))) > 0.25
    cat = pd.Series(RNG.choice(["a", "b", None], N))
    assert population_stability(cat, cat.sample(frac=1, random_state=1)) < 1e-9


def _frame():
    f = pd.DataFrame(
        {
            "default": pd.array(list(Y), dtype="Int8"),
            "good": Y + RNG.normal(0, 1.5, N),
            "leak": Y + RNG.normal(0, 0.01, N),
            "city": pd.Categorical(RNG.choice(["x", "y"], N)),
        }
    )
    cat = Catalogue(
        [
            FeatureSpec("good", "float", direction=1),
            FeatureSpec("leak", "float"),
            FeatureSpec("city", "category", categories=["x", "y"]),
        ]
    )
    return f, cat


def test_report_columns_and_order():
    f, cat = _frame()
    ref = np.arange(N) < N // 2
    rep = data_quality_report(f, cat, ref, ~ref)
    assert list(rep["feature"]) == ["leak", "good", "city"]
    assert {"missing_rate", "distinct", "iv", "auc", "psi", "observed_direction"} <= set(rep)
    assert rep.set_index("feature").at["good", "observed_direction"] == 1


def test_leakage_guard_names_feature_and_remedies():
    f, cat = _frame()
    rep = data_quality_report(f, cat, np.ones(N, bool), None)
    with pytest.raises(LeakageError) as err:
        check_leakage(rep, 0.95)
    msg = str(err.value)
    assert "'leak'" in msg and "'good'" not in msg
    assert "data.table.drop_columns" in msg and "features.allow_leaky_features" in msg
    assert isinstance(err.value, PipelineError)
    assert check_leakage(rep, 0.95, allowed=["leak"]) == ["leak"]


def test_numeric_psi_is_the_stats_psi():
    """One PSI: without missing values the report's PSI is `stats.psi` (deciles, ten bins)."""
    from core.stats import psi

    ref, cur = pd.Series(RNG.normal(0, 1, N)), pd.Series(RNG.normal(0.3, 1, N // 2))
    assert population_stability(ref, cur) == psi(ref.to_numpy(), cur.to_numpy())
    dpd = pd.Series(np.where(RNG.random(N) < 0.8, 0.0, RNG.integers(1, 90, N)))
    later = pd.Series(np.where(RNG.random(N) < 0.6, 0.0, RNG.integers(1, 90, N)))
    assert population_stability(dpd, later) == psi(dpd.to_numpy(), later.to_numpy())


def test_a_change_in_missingness_is_a_shift():
    ref = pd.Series(RNG.normal(0, 1, N))
    cur = pd.Series(np.where(RNG.random(N) < 0.3, np.nan, RNG.normal(0, 1, N)))
    assert population_stability(ref, cur) > 0.25
    assert population_stability(cur, cur.sample(frac=1, random_state=2)) < 1e-9


def test_single_feature_auc_is_the_stats_auc():
    """Missing placed at either end gives the same AUC as stats.auc on finite stand-ins."""
    from core.stats import auc

    v = np.where(RNG.random(N) < 0.2, np.nan, Y + RNG.normal(0, 1, N))
    low = auc(Y, np.where(np.isnan(v), np.nanmin(v) - 1, v))
    high = auc(Y, np.where(np.isnan(v), np.nanmax(v) + 1, v))
    expected = max(max(low, 1 - low), max(high, 1 - high))
    assert single_feature_auc(pd.Series(v), Y) == pytest.approx(expected, abs=1e-12)

"""Small tables (issue 16): tree size shrinks with the rows, a strong small segment gets split,
LightGBM keeps up with its logistic baseline, and the baseline travels with the model."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from core.catalogue import Catalogue, FeatureSpec
from models.baseline import LogisticBaseline
from models.metrics import auc
from models.pd_estimator import PDEstimator
from models.train_config import SmallTableRule
from tests.models.train_helpers import production_train_config

N, N_FLAG = 1_000, 158


def _table(seed: int = 0) -> tuple[pd.DataFrame, Catalogue]:
    """1,000 loans; the 158 with `flag` = 1 all default, the rest follow a logistic in x1, x2, region.

    Split 600 / 200 / 200 (train / validation / test), as table mode cuts a 1,000-row table.
    """
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=N), rng.normal(size=N)
    region = rng.choice(["north", "south", "east", "west"], N)
    flag = np.zeros(N)
    flag[rng.choice(N, N_FLAG, replace=False)] = 1.0
    logit = -1.8 + 0.8 * x1 - 0.5 * x2 + 0.4 * (region == "north")
    default = np.where(flag == 1, 1, rng.random(N) < 1 / (1 + np.exp(-logit))).astype("int8")
    x1[rng.random(N) < 0.05] = np.nan  # some missing values for the baseline's indicators
    catalogue = Catalogue(
        features=[
            FeatureSpec("x1", "float", direction=1),
            FeatureSpec("x2", "float", direction=-1),
            FeatureSpec("flag", "float", direction=1),
            FeatureSpec("region", "category", categories=["east", "north", "south", "west"]),
        ]
    )
    frame = pd.DataFrame(
        {
            catalogue.id_column: np.arange(N),
            "default": default,
            "x1": x1,
            "x2": x2,
            "flag": flag,
            "region": pd.Categorical(region, categories=["east", "north", "south", "west"]),
            "split": np.repeat(["train", "validation", "test"], [600, 200, 200])[
                rng.permutation(N)
            ],
        }
    )
    return frame, catalogue


@pytest.fixture(scope="module")
def table():
    return _table()


def _parts(frame: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    return tuple(frame[frame["split"] == s] for s in ("train", "validation", "test"))


def _config(**changes):
    return replace(production_train_config(), num_threads=1, **changes)


def test_small_table_splits_the_predictive_flag_and_keeps_up_with_the_baseline(table):
    frame, catalogue = table
    train, valid, test = _parts(frame)
    fitted = PDEstimator(_config(), catalogue).fit(train, valid)
    model, report = fitted.model_, fitted.report_
    assert report.feature_importance["flag"] > 0
    sizes = model.meta["tree_size"]
    assert sizes["n_train"] == 600 and sizes["small_table"] is True
    assert sizes["min_child_samples"] == {"configured": 200, "effective": 15}
    assert sizes["num_leaves"] == {"configured": 15, "effective": 7}
    baseline = LogisticBaseline(catalogue).fit(train, train["default"])
    y = test["default"].to_numpy()
    gbm_auc, base_auc = auc(y, model.predict_pd(test)), auc(y, baseline.predict_pd(test))
    assert gbm_auc >= base_auc - 0.02, (gbm_auc, base_auc)  # 200 test rows: AUC se ~0.03


def test_without_the_rule_the_flag_gets_no_split(table):
    """The issue as reported: 200 rows per leaf on 600 training rows never splits the flag."""
    frame, catalogue = table
    train, valid, test = _parts(frame)
    off = SmallTableRule(
        min_child_share=0.99,
        min_child_floor=1,
        rows_per_leaf=1,
        feature_fraction=1,
        extra_trees=False,
    )
    fitted = PDEstimator(_config(small_table=off), catalogue).fit(train, valid)
    model, report = fitted.model_, fitted.report_
    assert model.meta["tree_size"]["min_child_samples"]["effective"] == 200
    assert report.feature_importance["flag"] == 0
    baseline = LogisticBaseline(catalogue).fit(train, train["default"])
    y = test["default"].to_numpy()
    assert auc(y, model.predict_pd(test)) < auc(y, baseline.predict_pd(test)) - 0.1


def test_baseline_round_trips_through_json(table):
    frame, catalogue = table
    train, _, test = _parts(frame)
    fitted = LogisticBaseline(catalogue).fit(train, train["default"])
    doc = json.loads(json.dumps(fitted.to_dict(), allow_nan=False))
    restored = LogisticBaseline.from_dict(doc, catalogue)
    odd = test.copy()
    odd["x2"] = odd["x2"].where(np.arange(len(odd)) % 7 != 0)  # missing where training had none
    odd["region"] = odd["region"].cat.add_categories(["mars"])
    odd.iloc[:5, odd.columns.get_loc("region")] = "mars"  # a level never seen in training
    np.testing.assert_allclose(restored.predict_pd(odd), fitted.predict_pd(odd), atol=1e-12)
    assert restored.to_dict() == doc
    with pytest.raises(ValueError, match="format"):
        LogisticBaseline.from_dict({**doc, "format": 99}, catalogue)


def test_baseline_pds_in_blocks_equal_one_block(table, monkeypatch):
    """predict_pd works block by block to bound memory on millions of rows: same PDs, fitted or
    restored from JSON."""
    import models.baseline as baseline_module

    frame, catalogue = table
    train, _, test = _parts(frame)
    fitted = LogisticBaseline(catalogue).fit(train, train["default"])
    restored = LogisticBaseline.from_dict(fitted.to_dict(), catalogue)
    whole = (fitted.predict_pd(test), restored.predict_pd(test))
    monkeypatch.setattr(baseline_module, "PREDICT_BLOCK_ROWS", 17)
    assert len(test) > 17
    np.testing.assert_allclose(fitted.predict_pd(test), whole[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(restored.predict_pd(test), whole[1], rtol=0, atol=1e-12)

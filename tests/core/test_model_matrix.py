"""`model_matrix` feeds LightGBM exactly what it would derive from the DataFrame itself."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from core.catalogue import Catalogue, FeatureSpec, model_matrix, to_model_frame


def _catalogue() -> Catalogue:
    return Catalogue(
        features=[
            FeatureSpec("x", "float"),
            FeatureSpec("band", "category", categories=["a", "b", "c"]),
        ]
    )


def test_codes_and_missing():
    x = to_model_frame(
        pd.DataFrame({"x": [1.5, None, 3.0], "band": ["c", "zz", None]}), _catalogue()
    )
    m = model_matrix(x)
    assert m.dtype == np.float64 and m.shape == (3, 2)
    assert m[0, 1] == 2.0  # "c" is the third category
    assert np.isnan(m[1, 1]) and np.isnan(m[2, 1])  # unseen and missing categories
    assert np.isnan(m[1, 0]) and m[2, 0] == 3.0


def test_lightgbm_scores_match_the_dataframe_path():
    rng = np.random.default_rng(0)
    n = 2000
    raw = pd.DataFrame({"x": rng.normal(size=n), "band": rng.choice(["a", "b", "c"], n)})
    y = (raw["x"] + (raw["band"] == "c") * 1.5 + rng.normal(size=n) > 1).astype(int)
    x = to_model_frame(raw, _catalogue())
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(x, y), 30
    )
    probe = to_model_frame(
        raw.assign(band=raw["band"].where(rng.random(n) > 0.1, "new")), _catalogue()
    )
    np.testing.assert_array_equal(
        booster.predict(probe, raw_score=True), booster.predict(model_matrix(probe), raw_score=True)
    )
    np.testing.assert_array_equal(
        booster.predict(probe, pred_contrib=True),
        booster.predict(model_matrix(probe), pred_contrib=True),
    )

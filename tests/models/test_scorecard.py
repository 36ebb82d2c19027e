from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from models.scaling import ScoreScaling
from models.scorecard import BINNING_COLUMNS, WoeScorecard, trend_for


def _frame(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    util = rng.uniform(0.0, 1.0, n)  # riskier as it grows
    tenure = rng.normal(size=n)  # safer as it grows
    channel = rng.choice(["app", "web", "partner"], n, p=[0.5, 0.3, 0.2])
    effect = pd.Series(channel).map({"app": 0.0, "web": 0.3, "partner": 0.9}).to_numpy()
    logit = -3.0 + 2.0 * util - 0.8 * tenure + effect
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    tenure_obs = np.where(rng.random(n) < 0.08, np.nan, tenure)
    frame = pd.DataFrame(
        {
            "utilisation": util,
            "tenure": tenure_obs,
            "channel": pd.Series(channel, dtype="str"),
            "noise": rng.normal(size=n),
        }
    )
    frame.loc[frame.index[:40], "channel"] = None
    return frame, y


@pytest.fixture(scope="module")
def fitted() -> tuple[WoeScorecard, pd.DataFrame, np.ndarray]:
    x, y = _frame()
    model = WoeScorecard(monotonic={"utilisation": "+1", "tenure": -1}).fit(x, y)
    return model, x, y


def test_trend_mapping() -> None:
    assert trend_for(1) == "ascending" and trend_for("-1") == "descending"
    assert trend_for(0) == "auto_asc_desc" and trend_for(None) == "auto_asc_desc"
    assert trend_for("peak") == "peak"


def test_binning_table_respects_monotone_trends(fitted) -> None:
    model, _, _ = fitted
    table = model.binning_table()
    assert list(table.columns) == BINNING_COLUMNS
    regular = ~table["bin"].isin(["Special", "Missing"])
    util = table[(table["variable"] == "utilisation") & regular]
    tenure = table[(table["variable"] == "tenure") & regular]
    assert len(util) >= 3 and len(util) <= 6
    assert np.all(np.diff(util["event_rate"].to_numpy()) > 0)
    assert np.all(np.diff(tenure["event_rate"].to_numpy()) < 0)
    # Higher risk bins earn fewer points.
    assert np.all(np.diff(util["points"].to_numpy()) < 0)
    assert table.groupby("variable")["count_share"].sum().to_numpy() == pytest.approx(1.0)


def test_category_and_missing_values_get_bins(fitted) -> None:
    model, x, _ = fitted
    table = model.binning_table()
    channel = table[table["variable"] == "channel"]
    labels = " | ".join(channel["bin"])
    assert "partner" in labels and "Array" not in labels
    assert channel.loc[channel["bin"] == "Missing", "count"].item() == 40
    tenure_missing = table[(table["variable"] == "tenure") & (table["bin"] == "Missing")]
    assert tenure_missing["count"].item() == int(x["tenure"].isna().sum())
    # A pandas category column scores like the text column it came from.
    as_category = x.assign(channel=x["channel"].astype("category"))
    assert model.predict_pd(as_category) == pytest.approx(model.predict_pd(x))


def test_noise_is_dropped_and_iv_ranks_the_signal(fitted) -> None:
    model, _, _ = fitted
    iv = model.iv()
    assert set(iv.index) == {"utilisation", "tenure", "channel", "noise"}
    assert iv["noise"] < 0.02 < iv["tenure"]
    assert "noise" not in model.selected_
    assert "noise" not in set(model.binning_table()["variable"])


def test_auc_close_to_plain_logistic_regression() -> None:
    x, y = _frame(n=12000, seed=1)
    train, test = slice(0, 8000), slice(8000, None)
    model = WoeScorecard(monotonic={"utilisation": 1, "tenure": -1}).fit(x.iloc[train], y[train])
    design = pd.get_dummies(x.assign(tenure=x["tenure"].fillna(0.0)), columns=["channel"])
    design["tenure_missing"] = x["tenure"].isna().astype(float)
    lr = LogisticRegression(max_iter=1000).fit(design.iloc[train], y[train])
    auc_lr = roc_auc_score(y[test], lr.predict_proba(design.iloc[test])[:, 1])
    auc_card = roc_auc_score(y[test], model.predict_pd(x.iloc[test]))
    assert auc_card > auc_lr - 0.02


def test_points_follow_pdo_convention(fitted) -> None:
    model, x, _ = fitted
    pd_hat = model.predict_pd(x)
    points = model.score(x)
    proba = model.predict_proba(x)
    assert proba.shape == (len(x), 2) and proba.sum(axis=1) == pytest.approx(1.0)
    # points = offset + factor * ln(odds good:bad): higher points, lower PD.
    assert points == pytest.approx(ScoreScaling(600.0, 50.0, 20.0).points(pd_hat), abs=1e-6)
    assert np.corrcoef(points, pd_hat)[0, 1] < -0.8


def test_fit_on_a_sample_when_rows_exceed_max_fit_rows() -> None:
    x, y = _frame(n=3000, seed=2)
    model = WoeScorecard(max_fit_rows=1000).fit(x, y)
    table = model.binning_table()
    assert table.groupby("variable")["count"].sum().eq(1000).all()
    assert model.predict_pd(x).shape == (3000,)


def test_unfitted_and_bad_input() -> None:
    x, y = _frame(n=500)
    with pytest.raises(RuntimeError, match="not fitted"):
        WoeScorecard().predict_pd(x)
    with pytest.raises(ValueError, match="both"):
        WoeScorecard().fit(x, np.zeros(len(x)))
    with pytest.raises(ValueError, match="not in X"):
        WoeScorecard().fit(x, y, categorical=["nope"])


def test_scoring_in_blocks_gives_the_same_numbers(fitted, monkeypatch) -> None:
    import models.scorecard as scorecard_module

    card, X, _ = fitted
    whole = (card.predict_proba(X), card.score(X))
    monkeypatch.setattr(scorecard_module, "PREDICT_BLOCK_ROWS", 250)
    assert len(X) > 250
    # the same numbers up to the last bit of a dot product at a block's edge
    np.testing.assert_allclose(card.predict_proba(X), whole[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(card.score(X), whole[1], rtol=0, atol=1e-9)

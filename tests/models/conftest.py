"""A synthetic feature table shaped like data/features (see docs/data_contracts.md).

Known risk directions, ~5% default rate, categorical columns, missing values, the four splits and
a true PD per row, so tests can check discrimination, calibration and monotonicity against truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.catalogue import Catalogue, FeatureSpec
from core.io import write_json

INCOME = ["low", "mid", "high", "very_high"]
CHANNEL = ["app", "web", "partner"]


def make_catalogue() -> Catalogue:
    return Catalogue(
        features=[
            FeatureSpec("utilisation", "float", "balance / limit", direction=1),
            FeatureSpec("months_on_book", "float", "tenure", direction=-1),
            FeatureSpec("max_dpd_6m", "int", "worst days past due, 6 months", direction=1),
            FeatureSpec("payment_ratio", "float", "paid / due, 3 months", direction=-1),
            FeatureSpec("income_band", "category", "declared income", categories=INCOME),
            FeatureSpec("channel", "category", "acquisition channel", categories=CHANNEL),
            FeatureSpec("noise", "float", "irrelevant", direction=0),
        ],
        protected=[],
        policy_columns=["policy__days_past_due"],
    )


def make_feature_table(n: int = 6000, seed: int = 0, intercept: float = -3.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    util = np.clip(rng.beta(2, 3, n) * 1.2, 0, 1.2)
    mob = rng.integers(1, 121, n).astype("float64")
    dpd = np.where(rng.random(n) < 0.85, 0, rng.integers(1, 90, n)).astype("int64")
    pay = np.clip(rng.beta(4, 2, n), 0, 1)
    pay_obs = np.where(rng.random(n) < 0.05, np.nan, pay)
    income = rng.choice(INCOME, n, p=[0.3, 0.4, 0.2, 0.1])
    channel = rng.choice(CHANNEL, n, p=[0.5, 0.3, 0.2])
    inc_eff = pd.Series(income).map({"low": 0.5, "mid": 0.1, "high": -0.3, "very_high": -0.6})
    ch_eff = pd.Series(channel).map({"app": 0.0, "web": 0.1, "partner": 0.5})
    logit = (
        intercept
        + 2.2 * util
        - 0.012 * mob
        + 0.035 * dpd
        - 1.3 * pay
        + inc_eff.to_numpy()
        + ch_eff.to_numpy()
    )
    true_pd = 1 / (1 + np.exp(-logit))
    default = (rng.random(n) < true_pd).astype("int8")
    split = rng.choice(["train", "validation", "test", "score"], n, p=[0.55, 0.15, 0.15, 0.15])
    dates = pd.to_datetime(rng.choice(["2024-10-01", "2025-01-01", "2025-04-01"], n)).astype(
        "datetime64[ns]"
    )
    df = pd.DataFrame(
        {
            "account_id": np.arange(1, n + 1, dtype="int64"),
            "observation_date": dates,
            "default": pd.array(default, dtype="Int8"),
            "split": split,
            "utilisation": util,
            "months_on_book": mob,
            "max_dpd_6m": dpd,
            "payment_ratio": pay_obs,
            "income_band": pd.Categorical(income, categories=INCOME),
            "channel": pd.Categorical(channel, categories=CHANNEL),
            "noise": rng.normal(size=n),
            "policy__days_past_due": dpd,
        }
    )
    df.loc[df["split"] == "score", "default"] = pd.NA
    df.attrs["true_pd"] = true_pd
    return df


def write_feature_dir(root: Path, df: pd.DataFrame, catalogue: Catalogue) -> tuple[Path, Path]:
    """Write features.parquet + catalogue.json and truth/true_pd.parquet; return both dirs."""
    fdir = root / "features"
    fdir.mkdir(parents=True, exist_ok=True)
    true_pd = df.attrs.get("true_pd")
    table = df.copy()
    table.attrs = {}
    table.to_parquet(fdir / "features.parquet", index=False)
    write_json(catalogue.to_dict(), fdir / "catalogue.json")
    truth = root / "truth" / "true_pd.parquet"
    truth.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "account_id": df["account_id"],
            "observation_date": df["observation_date"],
            "true_pd": true_pd,
        }
    ).to_parquet(truth, index=False)
    return fdir, truth.parent


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return make_catalogue()


@pytest.fixture(scope="session")
def feature_table() -> pd.DataFrame:
    return make_feature_table()


@pytest.fixture(scope="session")
def fast_config():
    """params.yaml's `train:` (what production uses) with small-data speedups."""
    from tests.models.train_helpers import fast_train_config

    return fast_train_config()


@pytest.fixture(scope="session")
def trained(feature_table, catalogue, fast_config):
    from models.pd_estimator import PDEstimator

    tr = feature_table[feature_table["split"] == "train"]
    va = feature_table[feature_table["split"] == "validation"]
    fitted = PDEstimator(fast_config, catalogue).fit(tr, va)
    return fitted.model_, fitted.report_


@pytest.fixture(scope="session")
def write_features():
    """The writer as a fixture (importlib import mode cannot import conftest by name)."""
    return write_feature_dir

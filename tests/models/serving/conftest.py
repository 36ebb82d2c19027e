"""A feature table with policy inputs, a PD model trained through the real train stage into a temp
SQLite registry, and the pipeline's own outputs for the same rows (the reference for serving)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.catalogue import Catalogue, FeatureSpec
from core.contracts import POLICY_INPUT_NAMES, POLICY_INPUTS
from tests.models.conftest import make_catalogue, make_feature_table, write_feature_dir

REPO = Path(__file__).resolve().parents[3]
POLICY = REPO / "configs" / "collection_policy.yaml"
REASONS = REPO / "configs" / "reasons.yaml"
MODEL_NAME = "credit-pd"
TOP_K = 4
ZONES = ["Asia/Shanghai", "Europe/London", "America/New_York", "Not/AZone", None]


def serving_catalogue() -> Catalogue:
    """The models fixture's catalogue plus `first_time_delinquency` as a *feature*, so the policy
    flag of the same plain name must travel as `policy__first_time_delinquency`."""
    base = make_catalogue()
    feats = [
        *base.features,
        FeatureSpec("first_time_delinquency", "float", "first episode (history)", direction=1),
    ]
    policy_cols = [f"policy__{c}" for c in POLICY_FIELDS]
    return Catalogue(features=feats, protected=[], policy_columns=policy_cols)


POLICY_FIELDS = POLICY_INPUT_NAMES


def serving_config(**changes: object):
    """The serving config the register stage builds from the real params.yaml (tiers.mode,
    explain.top_k, explain.batch_rows), with a test's changes; the dataclass has no defaults."""
    from dataclasses import replace

    from pipelines.params import load_params
    from pipelines.params.register import read_serving

    return replace(read_serving(load_params(REPO / "params.yaml")).config, **changes)


def serving_table(n: int = 5000, seed: int = 3) -> pd.DataFrame:
    df = make_feature_table(n=n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    dpd = df["policy__days_past_due"].to_numpy()
    first = (dpd > 0) & (rng.random(n) < 0.4)
    df["first_time_delinquency"] = np.where(rng.random(n) < 0.1, np.nan, first.astype(float))
    overdue = np.where(dpd > 0, np.round(rng.gamma(2.0, 300.0, n), 2), 0.0)
    df["policy__overdue_amount"] = overdue
    df["policy__outstanding_balance"] = np.round(overdue + rng.gamma(2.0, 2000.0, n), 2)
    df["policy__first_time_delinquency"] = first
    for flag, p in (("dispute", 0.03), ("hardship", 0.03), ("opt_out", 0.03), ("deceased", 0.01)):
        df[f"policy__{flag}"] = rng.random(n) < p
    df["policy__timezone"] = pd.Series(rng.choice(np.array(ZONES, dtype=object), n), dtype=object)
    for p in POLICY_INPUTS:  # inputs declared later (issue 17: episodes, broken promises, ...)
        if p.feature_column in df.columns:
            continue
        if p.dtype == "bool":
            df[p.feature_column] = rng.random(n) < 0.03
        elif p.dtype == "int":
            df[p.feature_column] = np.where(dpd > 0, rng.integers(1, 4, n), 0)
        else:
            df[p.feature_column] = 0.0 if p.dtype == "float" else None
    return df


@dataclass
class Trained:
    root: Path
    tracking_uri: str
    model_dir: Path
    features: pd.DataFrame  # the feature table (all splits)
    catalogue: Catalogue
    scores: pd.DataFrame  # scores.parquet written by the train stage

    @property
    def uri(self) -> str:
        return f"models:/{MODEL_NAME}@champion"


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory) -> Trained:
    """The real train and register stages: fit, save, log, register, gate -> champion."""
    from models.serving.pyfunc import ServingConfig, ServingSpec
    from tests.models.train_helpers import fast_train_config, mlflow_config, train_and_register

    root = tmp_path_factory.mktemp("serving")
    df = serving_table()
    catalogue = serving_catalogue()
    fdir, truth = write_feature_dir(root, df, catalogue)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    ml = mlflow_config(uri, "serving", MODEL_NAME, max_psi=0.5)
    serving = ServingConfig(tier_mode="rules", top_k=TOP_K, shap_batch_rows=20_000)
    spec = ServingSpec(POLICY, REASONS, serving)
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        run = train_and_register(
            root, fdir, truth, fast_train_config(num_boost_round=200), ml, spec
        )
    finally:
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    assert run.promotion["promote"] is True, run.promotion["reasons"]
    table = pd.read_parquet(fdir / "features.parquet")
    scores = pd.read_parquet(run.paths.train.scores)
    return Trained(root, uri, run.paths.train.model_dir, table, catalogue, scores)


@pytest.fixture(scope="session")
def pipeline_reference():
    """The pipeline's outputs for some rows, from the stages' own library calls."""
    return reference_outputs


def reference_outputs(trained: Trained, rows: pd.DataFrame) -> pd.DataFrame:
    """pd/score/grade from the train stage's scores.parquet, tiers as the tiers stage computes them
    (collection_policy.population.tier_population), reasons as the explain stage does (native
    TreeSHAP on the whole table, then reason_codes + reasons_wide)."""
    from collection_policy.loader import load_policy
    from collection_policy.population import tier_population
    from core.catalogue import to_model_frame
    from models.explain.reason_dictionary import load_reason_dictionary
    from models.explain.reasons import reason_codes, reasons_wide
    from models.explain.treeshap import load_booster, shap_values

    keys = ["account_id", "observation_date"]
    scores = trained.scores.set_index(keys).loc[pd.MultiIndex.from_frame(rows[keys])]
    policy_inputs = rows[[c for c in rows.columns if c.startswith("policy__")]]
    population = pd.concat(
        [
            policy_inputs.reset_index(drop=True),
            scores[["pd", "score", "grade"]].reset_index(drop=True),
        ],
        axis=1,
    )
    _, tiers = tier_population(population, load_policy(POLICY), "rules", "reference")
    table = trained.features
    model_frame = to_model_frame(table, trained.catalogue)
    booster = load_booster(str(trained.model_dir / "booster.txt"))
    shap = shap_values(booster, model_frame, progress=False)
    long = reason_codes(
        shap.values, model_frame, trained.catalogue, load_reason_dictionary(REASONS), top_k=TOP_K
    )
    wide = reasons_wide(long, TOP_K, index=model_frame.index)
    pos = pd.Index(pd.MultiIndex.from_frame(table[keys])).get_indexer(
        pd.MultiIndex.from_frame(rows[keys])
    )
    out = population[["pd", "score", "grade"]].copy()
    for c in ("tier", "tier_name", "channels", "offer", "rule", "guardrails"):
        out[c] = tiers[c].to_numpy()
    out = pd.concat([out, wide.iloc[pos].reset_index(drop=True)], axis=1)
    return out


def assert_same_outputs(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """PD to 1e-9; score, grade, tiers and reason texts identical."""
    got = got.reset_index(drop=True)
    want = want.reset_index(drop=True)
    assert len(got) == len(want)
    np.testing.assert_allclose(got["pd"].to_numpy(float), want["pd"].to_numpy(float), atol=1e-9)
    np.testing.assert_allclose(
        got["score"].to_numpy(float), want["score"].to_numpy(float), atol=1e-9
    )
    for c in want.columns:
        if c in ("pd", "score"):
            continue
        # CSV round trips read an empty text as missing: compare both as ""
        a = ["" if pd.isna(v) else str(v) for v in got[c].tolist()]
        b = ["" if pd.isna(v) else str(v) for v in want[c].tolist()]
        assert a == b, f"column {c} differs"


@pytest.fixture(scope="session")
def same_outputs():
    return assert_same_outputs

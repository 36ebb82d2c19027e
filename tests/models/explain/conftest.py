"""A tiny credit book in the stage contracts' format, a LightGBM model trained on it, and one run
of the explain stage, shared by the explanation tests (session scope: trained and run once)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from core.catalogue import Catalogue, FeatureSpec, to_model_frame  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
REASONS_YAML = REPO / "configs" / "reasons.yaml"
GRADE_BOUNDS = [0.0, 0.02, 0.05, 0.1, 0.2, 1.0]
GRADES = ["A", "B", "C", "D", "E"]


def tiny_catalogue() -> Catalogue:
    return Catalogue(
        features=[
            FeatureSpec("max_dpd_6m", "float", "Max days past due, 6 months.", [], 1),
            FeatureSpec("utilisation_current", "float", "Balance / limit.", [], 1),
            FeatureSpec("payment_ratio_min_mean_3m", "float", "Paid / min due.", [], -1),
            FeatureSpec("months_on_book", "float", "Tenure.", [], -1),
            FeatureSpec("mystery_score_x", "float", "Not in the reason dictionary.", [], 1),
            FeatureSpec(
                "channel", "category", "Acquisition channel.", [], 0, ["app", "web", "partner"]
            ),
        ],
        protected=["protected__gender"],
        policy_columns=["policy__days_past_due"],
    )


def make_book(n: int = 2400, seed: int = 7) -> pd.DataFrame:
    """Accounts whose default odds rise with delinquency, utilisation and the partner channel."""
    rng = np.random.default_rng(seed)
    dpd = np.where(rng.random(n) < 0.75, 0.0, rng.choice([5, 15, 30, 45, 60, 90], n)).astype(float)
    util = rng.uniform(0, 1.2, n)
    util[rng.random(n) < 0.05] = np.nan  # missing values must be explained too
    pay = rng.gamma(2.0, 0.6, n)
    mob = rng.integers(1, 60, n).astype(float)
    mystery = rng.normal(0, 1, n)
    channel = rng.choice(["app", "web", "partner"], n, p=[0.5, 0.3, 0.2])
    gender = rng.choice(["f", "m"], n)
    logit = (
        -3.2
        + 0.035 * dpd
        + 2.0 * np.nan_to_num(util, nan=0.6)
        - 0.6 * np.minimum(pay, 2.0)
        - 0.015 * mob
        + 0.4 * mystery
        + np.where(channel == "partner", 1.0, 0.0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
    split = rng.choice(["train", "test", "score"], n, p=[0.6, 0.2, 0.2])
    obs = np.where(split == "score", np.datetime64("2025-01-01"), np.datetime64("2024-07-01"))
    return pd.DataFrame(
        {
            "account_id": np.arange(100_000, 100_000 + n, dtype=np.int64),
            "observation_date": pd.to_datetime(obs),
            "default": pd.array(np.where(split == "score", None, y), dtype="Int8"),
            "split": pd.array(split, dtype="str"),
            "max_dpd_6m": dpd.astype(np.float32),
            "utilisation_current": util,
            "payment_ratio_min_mean_3m": pay,
            "months_on_book": mob,
            "mystery_score_x": mystery,
            "channel": pd.Categorical(channel, categories=["app", "web", "partner"]),
            "protected__gender": pd.array(gender, dtype="str"),
            "policy__days_past_due": dpd.astype(np.int16),
        }
    )


def train_booster(X: pd.DataFrame, y: np.ndarray, rounds: int = 40):
    import lightgbm as lgb

    params = {
        "objective": "binary",
        "learning_rate": 0.1,
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "verbose": -1,
        "num_threads": 1,
        "seed": 1,
        "deterministic": True,
    }
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=rounds)


@dataclass(frozen=True)
class Book:
    root: Path
    df: pd.DataFrame
    catalogue: Catalogue
    X: pd.DataFrame
    booster: object

    @property
    def paths(self):
        return stage_paths(self.root)


def stage_paths(root: Path):
    """The explain stage's paths under a book written by `write_book`."""
    from pipelines.explain import STAGE

    return STAGE.paths(
        model_dir=root / "data/model",
        features_dir=root / "data/features",
        scores=root / "data/scores/scores.parquet",
        metrics=root / "reports/metrics.json",
        explanations_dir=root / "data/explanations",
        report_dir=root / "reports/explain",
        summary=root / "reports/explain.json",
        headline=root / "reports/headline/explain.json",
    )


def write_book(root: Path, df: pd.DataFrame, catalogue: Catalogue, booster) -> None:
    """Write features, catalogue, model and scores in the contracts' layout under `root`."""
    from core.io import write_json, write_parquet

    X = to_model_frame(df, catalogue)
    write_parquet(df, root / "data/features/features.parquet")
    write_json(catalogue.to_dict(), root / "data/features/catalogue.json")
    (root / "data/model").mkdir(parents=True, exist_ok=True)
    booster.save_model(str(root / "data/model/booster.txt"))
    write_json(
        {"best_iteration": booster.num_trees(), "training_window": "2024-07-01"},
        root / "data/model/model_meta.json",
    )
    raw = booster.predict(X, raw_score=True)
    pd_ = 1 / (1 + np.exp(-raw))
    grade = pd.cut(pd_, GRADE_BOUNDS, labels=GRADES, include_lowest=True).astype(str)
    scores = pd.DataFrame(
        {
            "account_id": df["account_id"],
            "observation_date": df["observation_date"],
            "split": df["split"].astype(str),
            "sample": df["split"].astype(str).replace({"validation": "early_stopping"}),
            "default": df["default"],
            "raw_score": raw,
            "pd": pd_,
            "score": np.round(600 - 20 / np.log(2) * (raw + np.log(50))),
            "grade": grade,
        }
    )
    write_parquet(scores, root / "data/scores/scores.parquet")
    (root / "reports").mkdir(parents=True, exist_ok=True)
    (root / "reports/metrics.json").write_text(json.dumps({"test": {"auc": 0.81, "ece": 0.012}}))


@pytest.fixture(scope="session")
def book(tmp_path_factory) -> Book:
    root = tmp_path_factory.mktemp("book")
    df = make_book()
    catalogue = tiny_catalogue()
    X = to_model_frame(df, catalogue)
    train = (df["split"] == "train").to_numpy()
    booster = train_booster(X[train], df.loc[train, "default"].astype(int).to_numpy())
    write_book(root, df, catalogue, booster)
    return Book(root, df, catalogue, X, booster)


@pytest.fixture(scope="session")
def explain_config():
    """A small, explicit configuration (the library carries no defaults)."""
    from models.explain.explainer import ExplainConfig

    return ExplainConfig(
        top_k=4,
        sample_check_rows=100,
        check_tolerance=1e-6,
        raw_score_tolerance=1e-6,
        batch_rows=300,
        reasons=REASONS_YAML,
        dependence_features=3,
        plot_rows=500,
        report_top_pd=3,
        population="actionable",
        actionable_min_pd=0.10,
        test_sample_rows=200,
        seed=42,
    )


@pytest.fixture(scope="session")
def explain_run(book, explain_config):
    """One run of the stage on the tiny book; returns (root, summary)."""
    from pipelines.explain import run as run_explain

    summary = run_explain(book.paths, explain_config, progress=False)
    return book.root, summary


@pytest.fixture(scope="session")
def helpers():
    """Module-level helpers for test files (conftest is not importable by name under importlib)."""
    import types

    return types.SimpleNamespace(
        write_book=write_book,
        make_book=make_book,
        train_booster=train_booster,
        tiny_catalogue=tiny_catalogue,
        REPO=REPO,
        REASONS_YAML=REASONS_YAML,
        Book=Book,
        stage_paths=stage_paths,
    )


@pytest.fixture(scope="session")
def reason_dictionary():
    from models.explain.reason_dictionary import load_reason_dictionary

    return load_reason_dictionary(REASONS_YAML)

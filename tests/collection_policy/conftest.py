"""Fixtures for the tier engine: the shipped policy, its raw mapping, and an account factory;
books of past-due accounts with their hidden cure effect, and histories simulated from them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from collection_policy.loader import load_policy, policy_from_dict
from collection_policy.policy import CollectionPolicy

REPO = Path(__file__).resolve().parents[2]
POLICY_PATH = REPO / "configs" / "collection_policy.yaml"

#: A current, low-risk, ordinary account; tests override what they need.
BASE_ACCOUNT: dict[str, Any] = {
    "pd": 0.02,
    "score": 640.0,
    "grade": "B",
    "days_past_due": 0,
    "overdue_amount": 0.0,
    "first_time_delinquency": False,
    "dispute": False,
    "hardship": False,
    "opt_out": False,
    "deceased": False,
    "timezone": "Asia/Shanghai",
    "outstanding_balance": 3000.0,
    "delinquency_episodes": 0,
    "broken_promises": 0,
    "never_paid": False,
}


@pytest.fixture(scope="session")
def policy() -> CollectionPolicy:
    return load_policy(POLICY_PATH)


@pytest.fixture(scope="session")
def _raw_policy() -> dict[str, Any]:
    return yaml.safe_load(POLICY_PATH.read_text())


@pytest.fixture
def raw_policy(_raw_policy: dict[str, Any]) -> dict[str, Any]:
    """A fresh deep copy of the shipped policy mapping, safe to mutate."""
    return copy.deepcopy(_raw_policy)


@pytest.fixture(scope="session")
def visits_policy(_raw_policy: dict[str, Any]) -> CollectionPolicy:
    """The shipped policy with home visits enabled (still subject to the guardrail)."""
    raw = copy.deepcopy(_raw_policy)
    raw["guardrails"]["field_visits"]["enabled"] = True
    return policy_from_dict(raw, source="visits-enabled")


@pytest.fixture
def accounts() -> Callable[..., pd.DataFrame]:
    """accounts(dict(...), dict(...)) -> frame of BASE_ACCOUNT rows with overrides."""

    def make(*overrides: dict[str, Any], **common: Any) -> pd.DataFrame:
        rows = [{**BASE_ACCOUNT, **common, **o} for o in (overrides or ({},))]
        return pd.DataFrame(rows)

    return make


def book_tables(n: int = 400, with_score_split: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and feature tables of a small book, as the train and features stages write them:
    half current book ('score', or 'validation' without one), half labelled 'test'; the feature
    table is shuffled (joins must go by key)."""
    rng = np.random.default_rng(11)
    split = np.where(np.arange(n) < n // 2, "score" if with_score_split else "validation", "test")
    dates = np.where(split == "test", np.datetime64("2025-01-01"), np.datetime64("2026-01-01"))
    dpd = rng.choice([0, 0, 0, 3, 12, 40, 75, 100, 150], n)
    pd_ = np.clip(0.02 + dpd / 200 + rng.normal(0, 0.05, n), 0.001, 0.999)
    default = (rng.random(n) < pd_).astype(int)
    scores = pd.DataFrame(
        {
            "account_id": np.arange(n, dtype=np.int64),
            "observation_date": pd.to_datetime(dates),
            "split": split,
            "default": pd.array(np.where(split == "score", pd.NA, default), dtype="Int8"),
            "raw_score": np.log(pd_ / (1 - pd_)),
            "pd": pd_,
            "score": 600 - 20 * np.log2(pd_ / (1 - pd_) * 50),
            "grade": rng.choice(list("ABCDEFG"), n),
        }
    )
    overdue = np.where(dpd > 0, rng.choice([40.0, 300.0, 900.0, 3000.0], n), 0.0)
    first_time = rng.random(n) < 0.4
    # spells in the history: the current one counts; a first-time delinquent has exactly one
    episodes = np.where(first_time & (dpd > 0), 1, rng.choice([0, 1, 2, 3, 5], n) + (dpd > 0))
    features = pd.DataFrame(
        {
            "account_id": scores["account_id"],
            "observation_date": scores["observation_date"],
            "default": scores["default"],
            "split": split,
            "some_feature": rng.normal(size=n),
            "policy__days_past_due": dpd.astype(np.int16),
            "policy__overdue_amount": overdue,
            "policy__first_time_delinquency": first_time,
            "policy__dispute": rng.random(n) < 0.02,
            "policy__hardship": rng.random(n) < 0.02,
            "policy__opt_out": rng.random(n) < 0.02,
            "policy__deceased": rng.random(n) < 0.005,
            "policy__timezone": rng.choice(["Asia/Shanghai", "Asia/Urumqi"], n),
            "policy__outstanding_balance": overdue + rng.choice([0.0, 500.0, 8000.0], n),
            "policy__delinquency_episodes": episodes.astype(np.int32),
            "policy__broken_promises": rng.choice([0, 0, 0, 1, 2], n).astype(np.int32),
            "policy__never_paid": (rng.random(n) < 0.05) & (dpd > 0),
        }
    ).sample(frac=1.0, random_state=1)  # order must not matter
    return scores, features


def tiers_config(**overrides: Any) -> Any:
    """The shipped params' tiers settings as a TiersConfig, with overrides."""
    from collection_policy.tiering import TiersConfig

    values: dict[str, Any] = {
        "policy": POLICY_PATH,
        "mode": "rules",
        "score_file": None,
        "backtest_split": "test",
    }
    return TiersConfig(**{**values, **overrides})


def past_due_book(n: int, seed: int) -> pd.DataFrame:
    """A past-due book like the built-in one: DPD buckets, amounts, PD rising with DPD and the
    hidden cure effect slow_cure ~ N(0, 0.5); plus champion (rules-like) and challenger tiers."""
    from core.dpd import collection_bucket

    rng = np.random.default_rng(seed)
    dpd = rng.choice([5, 20, 45, 75, 100, 130], n, p=[0.35, 0.25, 0.15, 0.1, 0.1, 0.05])
    overdue = rng.lognormal(5.5, 0.8, n)
    pd_ = 1.0 / (1.0 + np.exp(-(rng.normal(-1.5, 1.0, n) + dpd / 40)))
    b = collection_bucket(dpd)
    champion = np.select(
        [b == 1, b == 2, b == 3, b == 4],
        [np.where(pd_ < 0.3, 1, 2), np.where(pd_ < 0.3, 2, 3), 3, np.where(overdue >= 300, 4, 3)],
        5,
    )
    # an EV-like challenger: more intensive where the amount pays for it, lighter where not
    challenger = np.where(
        overdue * pd_ > 150, np.minimum(champion + 1, 4), np.maximum(champion - 1, 1)
    )
    return pd.DataFrame(
        {
            "account_id": np.arange(n, dtype=np.int64) + 10_000_000,
            "days_past_due": dpd,
            "overdue_amount": overdue,
            "pd": pd_,
            "slow_cure": rng.normal(0.0, 0.5, n),
            "champion": champion,
            "challenger": challenger,
        }
    )


def history_of(
    n: int, seed: int, rule: np.ndarray | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """A simulated outcome history of a `past_due_book` (rules' tier T4 unless given) and the
    true uplift it holds."""
    from collection_policy.simulated.history import simulate_history
    from collection_policy.simulated.response import ResponseModel

    book = past_due_book(n, seed)
    rules = np.full(n, 4) if rule is None else rule
    macro = np.zeros(n)
    return simulate_history(book, rules, book["slow_cure"], macro, ResponseModel(), 1, seed)

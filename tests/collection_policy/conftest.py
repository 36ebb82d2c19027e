"""Fixtures for the tier engine: the shipped policy, its raw mapping, and an account factory."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from collection_policy.loader import load_policy, policy_from_dict
from collection_policy.schema import CollectionPolicy

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

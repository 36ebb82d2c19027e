"""`tier_book` and `book_experiment`: the calls behind the tiers stage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from collection_policy.experiment import ExperimentConfig
from collection_policy.tiering import book_experiment, reasons_text, tier_book
from core.contracts import TIERS
from core.errors import DataValidationError

from .conftest import book_tables, tiers_config


def test_tier_book_returns_the_table_summary_and_headline(policy):
    scores, features = book_tables()
    book = tier_book(scores, features, None, policy, tiers_config(), "features.parquet")
    TIERS.check(book.table, "tiers table")
    assert book.origin == "score" and len(book.table) == 200
    assert (book.table["reasons"] == "").all() and book.summary["reasons_available"] is False
    assert book.summary["policy"]["fingerprint"] == policy.fingerprint()
    assert book.summary["backtest"]["split"] == "test"
    assert book.headline["accounts"] == 200
    assert sum(book.headline["tier_share"].values()) == pytest.approx(1.0)


def test_expected_value_mode_uses_ev_tiers(policy):
    scores, features = book_tables()
    book = tier_book(
        scores, features, None, policy, tiers_config(mode="expected_value"), "features.parquet"
    )
    assert (book.table["tier"] == book.table["ev_tier"]).all()


def test_reasons_text_joins_in_rank_order():
    keys = {"account_id": [1, 1, 2], "observation_date": pd.to_datetime(["2026-01-01"] * 3)}
    reasons = pd.DataFrame({**keys, "rank": [2, 1, 1], "text": ["second", "first", "only"]})
    text = reasons_text(reasons).set_index("account_id")["reasons"]
    assert text[1] == "first; second" and text[2] == "only"


def _tiers_table(n: int = 20_000, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A tiers table as the stage writes it, and the truth's cure effects (str vs int ids)."""
    rng = np.random.default_rng(seed)
    dpd = np.where(rng.random(n) < 0.3, rng.integers(1, 120, n), 0)
    rule = np.where(dpd == 0, 0, np.minimum(1 + dpd // 30, 4))
    table = pd.DataFrame(
        {
            "account_id": (np.arange(n) + 10_000_000).astype(str),
            "days_past_due": dpd,
            "overdue_amount": np.where(dpd > 0, rng.uniform(50, 3000, n), 0.0),
            "pd": rng.uniform(0.01, 0.9, n),
            "rule_tier": rule,
            "ev_tier": np.where(dpd == 0, 0, np.minimum(rule + 1, 4)),
        }
    )
    effects = pd.DataFrame(
        {"account_id": np.arange(n) + 10_000_000, "slow_cure": rng.normal(0, 0.5, n)}
    )
    return table, effects


def test_book_experiment_reports_arms_with_truth_and_without():
    table, effects = _tiers_table()
    config = ExperimentConfig()
    arms, tiers, report = book_experiment(table, config, effects, macro=0.1)
    assert set(report["arms"]) == {"champion", "challenger", "holdout"}
    holdout = arms == "holdout"
    past_due = table["days_past_due"].to_numpy() > 0
    assert (tiers[holdout & past_due] <= config.holdout_tier).all()
    assert (tiers[arms == "champion"] == table["rule_tier"].to_numpy()[arms == "champion"]).all()
    for arm in ("champion", "challenger"):
        entry = report["arms"][arm]
        assert {"n", "cure_rate", "roll_rate", "recovered", "contact_cost"} <= set(entry)
        assert "interval" in entry["uplift"]["cure_rate"] and "true" in entry["uplift"]["cure_rate"]
    json.dumps(report, allow_nan=False)
    # a lender's own book has no truth: the same arms, sizes only
    arms2, tiers2, plain = book_experiment(table, config)
    assert (arms2 == arms).all() and (tiers2 == tiers).all()
    assert "not simulated" in plain["outcomes"]


def test_book_experiment_refuses_an_account_missing_from_the_truth():
    table, effects = _tiers_table(n=200)
    with pytest.raises(DataValidationError, match="no cure effect"):
        book_experiment(table, ExperimentConfig(), effects.iloc[1:])

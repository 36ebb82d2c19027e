"""`tier_book`: the one call behind the tiers stage."""

from __future__ import annotations

import pandas as pd
import pytest

from collection_policy.tiering import reasons_text, tier_book
from core.contracts import TIERS

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

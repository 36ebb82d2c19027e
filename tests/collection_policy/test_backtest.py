"""The back-test tiers the labelled split and reads the observed bad rate per tier."""

from __future__ import annotations

from collection_policy.backtest import backtest

from .conftest import book_tables


def test_backtest_on_the_labelled_split(policy):
    scores, features = book_tables()
    result = backtest(scores, features, policy, "rules", "test", "score", "features.parquet")
    assert result is not None and result["split"] == "test"
    assert result["accounts"] == result["labelled"] == 200
    assert "bad_rate" in result["tiers"]["T0"]
    assert result["bad_rate_rises_with_rules_tier"] in (True, False, None)


def test_no_backtest_of_the_population_itself_or_without_labels(policy):
    scores, features = book_tables()
    assert backtest(scores, features, policy, "rules", "test", "test", "f") is None
    unlabelled = scores.assign(default=scores["default"].where(scores["split"] != "test"))
    assert backtest(unlabelled, features, policy, "rules", "test", "score", "f") is None

"""Choosing the accounts to tier and joining their scores and policy inputs by key."""

from __future__ import annotations

import pandas as pd
import pytest

from collection_policy.population import (
    join_policy_inputs,
    read_score_file,
    select_population,
    tier_population,
)
from core.errors import DataValidationError

from .conftest import book_tables


def test_current_book_joined_by_key():
    scores, features = book_tables()
    population = select_population(scores, features, None, "features.parquet")
    assert population.origin == "score" and len(population.frame) == 200
    by_id = features.set_index("account_id")
    got = population.frame.set_index("account_id")["policy__dispute"]
    assert (got == by_id.loc[got.index, "policy__dispute"]).all()


def test_test_split_when_no_current_book_and_no_score_file():
    scores, features = book_tables(with_score_split=False)
    population = select_population(scores, features, None, "features.parquet")
    assert population.origin == "test" and set(population.frame["split"]) == {"test"}


def test_duplicate_keys_are_an_error_naming_the_file():
    scores, features = book_tables()
    doubled = pd.concat([features, features.head(1)])
    with pytest.raises(DataValidationError, match="features.parquet.*not unique"):
        join_policy_inputs(scores, doubled, "features.parquet")


def test_a_missing_policy_input_is_an_error_naming_it():
    scores, features = book_tables()
    with pytest.raises(DataValidationError, match="policy__hardship"):
        join_policy_inputs(scores, features.drop(columns="policy__hardship"), "features.parquet")


def test_no_rows_to_tier():
    scores, features = book_tables(with_score_split=False)
    scores = scores[scores["split"] != "test"]
    with pytest.raises(DataValidationError, match="no 'score' or 'test' rows"):
        select_population(scores, features, None, "features.parquet")


def test_score_file_needs_its_columns(tmp_path):
    scores, _ = book_tables()
    scores.drop(columns="grade").to_parquet(tmp_path / "book.parquet")
    with pytest.raises(DataValidationError, match="missing required column"):
        read_score_file(tmp_path / "book.parquet")
    with pytest.raises(DataValidationError, match="file not found"):
        read_score_file(tmp_path / "absent.parquet")


def test_tier_population_keeps_rows(policy):
    scores, features = book_tables()
    population = select_population(scores, features, None, "features.parquet").frame
    accounts, result = tier_population(population, policy, "rules", "test")
    assert len(accounts) == len(result) == len(population)
    assert "dispute" in accounts and "policy__dispute" not in accounts


@pytest.mark.parametrize("mode", ["rules", "expected_value"])
def test_the_engine_block_by_block_gives_one_call_s_answer(policy, monkeypatch, mode):
    """Each account's tier depends on its own inputs: blocks of 7 give the whole population's
    assignment, text columns included (their categories are the union, as one call makes)."""
    import collection_policy.population as population_module

    scores, features = book_tables(n=400)
    frame = select_population(scores, features, None, "features.parquet").frame
    _, whole = tier_population(frame, policy, mode, "test")
    monkeypatch.setattr(population_module, "ENGINE_BLOCK_ROWS", 7)
    _, blocks = tier_population(frame, policy, mode, "test")
    pd.testing.assert_frame_equal(blocks, whole, check_exact=True)
    assert any(isinstance(t, pd.CategoricalDtype) for t in blocks.dtypes)
    bad = frame.copy()
    bad.loc[bad.index[30], "policy__overdue_amount"] = float("inf")  # row 30, block 5
    with pytest.raises(DataValidationError, match=r"row 30: must be a finite number"):
        tier_population(bad, policy, mode, "test")


def test_the_stages_read_only_the_current_book_test_and_backtest_rows(tmp_path):
    """Train and validation rows (most of a snapshot book) stay on disk; the population and
    the back-test are the same as from the whole tables."""
    from collection_policy.population import read_tier_inputs, tier_splits

    scores, features = book_tables(n=400, with_score_split=False)  # 'validation' + 'test'
    for frame in (scores, features):  # by account: the feature table is shuffled
        frame.loc[frame["account_id"] < 100, "split"] = "score"
        frame.loc[frame["account_id"] < 50, "split"] = "train"
    scores.to_parquet(tmp_path / "scores.parquet", index=False)
    features.to_parquet(tmp_path / "features.parquet", index=False)
    assert tier_splits("test") == ["score", "test"]
    assert tier_splits("validation") == ["score", "test", "validation"]
    read_scores, read_features = read_tier_inputs(
        tmp_path / "scores.parquet", tmp_path / "features.parquet", "test"
    )
    kept = scores["split"].isin(["score", "test"])
    assert set(read_scores["split"]) == set(read_features["split"]) == {"score", "test"}
    assert len(read_scores) == len(read_features) == int(kept.sum())
    whole = select_population(scores, features, None, "features.parquet")
    part = select_population(read_scores, read_features, None, "features.parquet")
    assert part.origin == whole.origin == "score"
    pd.testing.assert_frame_equal(part.frame, whole.frame[part.frame.columns], check_dtype=False)

"""Which accounts the tiers stage tiers, with their scores and policy inputs joined on keys.

The scores and the policy inputs come from different stages (train, features); joining them
one-to-one on (account_id, observation_date), never by position, and failing when a scored
account has no inputs is what keeps a tier from being computed on another account's flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from collection_policy.engine import accounts_from_features, assign_tiers
from collection_policy.ev_rates import EVRates
from collection_policy.policy import CollectionPolicy
from core.contracts import FEATURE_TO_POLICY, FEATURES, POLICY_FEATURE_COLUMNS, SCORES
from core.errors import DataValidationError

KEYS = ["account_id", "observation_date"]
#: Columns of the scores table the tiers stage reads.
SCORE_COLUMNS = ["account_id", "observation_date", "split", "default", "pd", "score", "grade"]
#: Columns of the feature table the tiers stage reads.
FEATURE_COLUMNS = [*KEYS, "split", *POLICY_FEATURE_COLUMNS]


def tier_splits(backtest_split: str) -> list[str]:
    """The splits the tiers and collection_rates stages read: the current book, the test split
    (the population when there is no current book) and the back-test split. A Parquet filter on
    them leaves the train and validation rows (most of a snapshot book) on disk."""
    return list(dict.fromkeys(["score", "test", backtest_split]))


def read_tier_inputs(
    scores_path: str | Path, features_path: str | Path, backtest_split: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores, policy inputs) of the rows `tier_splits` names, checked by their contracts."""
    filters = [("split", "in", tier_splits(backtest_split))]
    scores = SCORES.read(scores_path, columns=SCORE_COLUMNS, stage="train", filters=filters)
    features = FEATURES.read(
        features_path, columns=FEATURE_COLUMNS, stage="features", filters=filters
    )
    return scores, features


#: Columns a score file (`tiers.score_file`) must hold; policy inputs may be plain or prefixed.
SCORE_FILE_REQUIRED = ["account_id", "pd", "score", "grade"]


@dataclass(frozen=True)
class Population:
    """The accounts to tier (scores + policy inputs, one row each) and where they came from."""

    frame: pd.DataFrame
    origin: str  # "score", "test" or "score_file:<path>"


def join_policy_inputs(scores: pd.DataFrame, features: pd.DataFrame, source: str) -> pd.DataFrame:
    """One-to-one join of scores and policy inputs; every scored account needs its inputs.
    Only the keys and the policy inputs are taken from `features`."""
    missing = [c for c in (*KEYS, *POLICY_FEATURE_COLUMNS) if c not in features.columns]
    if missing:
        raise DataValidationError(
            source, f"missing required column(s) {missing}", column=missing[0]
        )
    feats = features[[*KEYS, *POLICY_FEATURE_COLUMNS]]
    try:
        joined = scores.merge(feats, on=KEYS, how="left", validate="one_to_one", indicator=True)
    except pd.errors.MergeError as exc:
        raise DataValidationError(
            source, f"account keys are not unique: {exc}", column="account_id"
        ) from None
    lost = (joined["_merge"] != "both").to_numpy()
    if lost.any():
        raise DataValidationError(
            source,
            "a scored account has no row in the feature table",
            column="account_id",
            row=int(np.argmax(lost)),
        )
    return joined.drop(columns="_merge").reset_index(drop=True)


def read_score_file(path: Path) -> pd.DataFrame:
    """A user's scored book (scores and policy inputs in one table): only the columns the stage
    needs, failing clearly on an absent file or a missing required column."""
    if not path.exists():
        raise DataValidationError(str(path), "file not found")
    names = set(pq.read_schema(path).names)
    missing = [c for c in SCORE_FILE_REQUIRED if c not in names]
    if missing:
        raise DataValidationError(
            str(path), f"missing required column(s) {missing}", column=missing[0]
        )
    wanted = [*SCORE_COLUMNS, *FEATURE_TO_POLICY, *FEATURE_TO_POLICY.values()]
    frame = pd.read_parquet(path, columns=[c for c in wanted if c in names])
    if "observation_date" not in frame:
        frame["observation_date"] = pd.NaT
    if "split" not in frame:
        frame["split"] = "score_file"
    return frame.reset_index(drop=True)


def select_population(
    scores: pd.DataFrame, features: pd.DataFrame, score_file: Path | None, source: str
) -> Population:
    """The current book (split == 'score') when the scores hold one; otherwise the `score_file`
    (scores and policy inputs in one table), else the test split. `source` names the feature
    table in errors."""
    if (scores["split"] == "score").any():
        book = scores[scores["split"] == "score"]
        return Population(
            join_policy_inputs(book, features[features["split"] == "score"], source), "score"
        )
    if score_file is not None:
        return Population(read_score_file(score_file), f"score_file:{score_file}")
    test = scores[scores["split"] == "test"]
    if test.empty:
        raise DataValidationError(source, "no 'score' or 'test' rows to tier", column="split")
    return Population(
        join_policy_inputs(test, features[features["split"] == "test"], source), "test"
    )


def tier_population(
    population: pd.DataFrame,
    policy: CollectionPolicy,
    mode: str,
    source: str,
    ev_rates: EVRates | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The engine's input (policy inputs under engine names) and its assignment, row for row.

    The engine runs on `ENGINE_BLOCK_ROWS` accounts at a time: it builds a dozen per-account
    arrays (rules, guardrails, channels, contact windows), so a book of millions is tiered in
    bounded memory; each account's tier depends on its own inputs only, so the result is the
    same. An error names the account's row in the whole population.
    """
    accounts = accounts_from_features(population)
    parts = []
    for start in range(0, max(len(accounts), 1), ENGINE_BLOCK_ROWS):
        block = accounts.iloc[start : start + ENGINE_BLOCK_ROWS]
        try:
            parts.append(assign_tiers(block, policy, mode, source=source, ev_rates=ev_rates))
        except DataValidationError as exc:
            raise exc.shifted(start) from None
    return accounts, concat_assignments(parts)


def concat_assignments(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Engine outputs of consecutive blocks as one, each text column keeping the engine's
    categorical form: its categories are the sorted union of the blocks' (as one call gives)."""
    if len(parts) == 1:
        return parts[0]
    for column in parts[0].columns:
        if isinstance(parts[0][column].dtype, pd.CategoricalDtype):
            labels = [part[column].cat.categories.to_numpy(dtype=object) for part in parts]
            union = np.unique(np.concatenate(labels))
            for part in parts:
                part[column] = part[column].cat.set_categories(union)
    return pd.concat(parts)


#: Accounts per call of the tier engine (`tier_population`).
ENGINE_BLOCK_ROWS = 250_000

"""The explain stage's inputs, read through the table contracts: features, catalogue, scores,
model and reason dictionary.

Only the rows worth explaining are read (the test split and the current book): the feature file
also holds the train and validation rows, and the model columns are most of its width.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq

from features.catalogue import Catalogue, read_catalogue, read_feature_dir
from features.contracts import FEATURES, POLICY_INPUT_BY_NAME, SCORES
from features.errors import DataValidationError
from models.explain.reasons import ReasonDictionary, load_reason_dictionary, validate_dictionary
from models.explain.treeshap import check_model_columns, load_booster

if TYPE_CHECKING:
    import lightgbm as lgb

log = logging.getLogger(__name__)

#: The splits explained: the out-of-time test split and the current book.
EXPLAIN_SPLITS = ("test", "score")
DPD_COLUMN = POLICY_INPUT_BY_NAME["days_past_due"].feature_column
_SPLIT_FILTER = [("split", "in", list(EXPLAIN_SPLITS))]


@dataclass(frozen=True)
class ExplainInputs:
    """Everything `explain_book` reads, checked; sources name the files in later errors."""

    features: pd.DataFrame  # test + score rows: account_id, observation_date, split, model columns
    catalogue: Catalogue
    scores: pd.DataFrame  # the same splits of scores.parquet (not yet joined)
    booster: lgb.Booster
    dictionary: ReasonDictionary
    features_source: str
    scores_source: str
    model_source: str


def read_features(features_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, Catalogue]:
    """Test and current-book rows of the feature table (only the columns explain uses)."""
    feat_path = Path(features_dir) / FEATURES.file
    catalogue = read_catalogue(features_dir)
    id_col = catalogue.id_column
    wanted = [id_col, "observation_date", "split", *catalogue.model_columns]
    present = set(pq.read_schema(feat_path).names)
    # the label stratifies the test sample; days past due marks the actionable book
    extra = [c for c in ("default", DPD_COLUMN) if c in present and c not in wanted]
    df, _ = read_feature_dir(features_dir, columns=wanted + extra, splits=EXPLAIN_SPLITS)
    df = df.rename(columns={id_col: "account_id"}).reset_index(drop=True)
    df["split"] = df["split"].astype(str)
    df["observation_date"] = pd.to_datetime(df["observation_date"])
    if df.empty:
        raise DataValidationError(
            str(feat_path), "no rows in the 'test' or 'score' split", column="split"
        )
    if not (df["split"] == "score").any():
        log.info("no current-book rows (split 'score'): explaining the test split only")
    return df, catalogue


def read_scores(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Test and current-book rows of scores.parquet, every column of its contract (raw_score
    is what the model's own prediction is checked against)."""
    scores = SCORES.read(path, columns=SCORES.columns, stage="train", filters=_SPLIT_FILTER)
    scores["split"] = scores["split"].astype(str)
    scores["observation_date"] = pd.to_datetime(scores["observation_date"])
    return scores


def read_inputs(
    features_dir: str | os.PathLike[str],
    scores: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    reasons: str | os.PathLike[str],
) -> ExplainInputs:
    """Read and cross-check the stage's inputs: the dictionary renders for the catalogue's
    features, the model was trained on the catalogue's columns."""
    dictionary = load_reason_dictionary(reasons)
    features, catalogue = read_features(features_dir)
    validate_dictionary(dictionary, catalogue)
    score_frame = read_scores(scores)
    model_path = str(Path(model_dir) / "booster.txt")
    booster = load_booster(model_path)
    check_model_columns(booster, catalogue.model_columns, model_path)
    return ExplainInputs(
        features=features,
        catalogue=catalogue,
        scores=score_frame,
        booster=booster,
        dictionary=dictionary,
        features_source=str(Path(features_dir) / FEATURES.file),
        scores_source=str(scores),
        model_source=model_path,
    )

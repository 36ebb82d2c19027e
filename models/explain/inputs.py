"""The explain stage's inputs, read through the table contracts: features, catalogue, scores,
model and reason dictionary.

The rows worth explaining are chosen before the model columns are read: the keys, label and days
past due of the test split and the current book come first (a few columns), then only the chosen
rows' model columns, block by block from the file (`FeatureRows`). The model columns are most of
the table's width and the chosen rows a small share of its length, so memory follows the rows
explained, not the book.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, read_catalogue, require_model_columns
from core.contracts import DPD_FEATURE_COLUMN, FEATURES, SCORES
from core.errors import DataValidationError
from models.explain.reason_dictionary import (
    ReasonDictionary,
    load_reason_dictionary,
    validate_dictionary,
)
from models.explain.treeshap import check_model_columns, load_booster

if TYPE_CHECKING:
    import lightgbm as lgb

log = logging.getLogger(__name__)

#: The splits explained: the out-of-time test split and the current book.
EXPLAIN_SPLITS = ("test", "score")
_SPLIT_FILTER = [("split", "in", list(EXPLAIN_SPLITS))]


@dataclass(frozen=True)
class ExplainInputs:
    """Everything `explain_book` reads, checked; sources name the files in later errors."""

    features: pd.DataFrame  # test + score rows: account_id, observation_date, split, default, dpd
    model_rows: FeatureRows  # the model columns of chosen rows of `features` (by position)
    catalogue: Catalogue
    scores: pd.DataFrame  # the same splits of scores.parquet (not yet joined)
    booster: lgb.Booster
    dictionary: ReasonDictionary
    features_source: str
    scores_source: str
    model_source: str


def read_features(features_dir: str | os.PathLike[str]) -> tuple[pd.DataFrame, Catalogue]:
    """Keys, split, label and days past due of the test and current-book rows (no model columns:
    `FeatureRows` reads those for the rows chosen)."""
    feat_path = Path(features_dir) / FEATURES.file
    catalogue = read_catalogue(features_dir)
    id_col = catalogue.id_column
    wanted = [id_col, "observation_date", "split"]
    present = FEATURES.read_schema(feat_path, stage="features")
    require_model_columns(catalogue, present, feat_path)
    # the label stratifies the test sample; days past due marks the actionable book
    extra = [c for c in ("default", DPD_FEATURE_COLUMN) if c in present and c not in wanted]
    df = FEATURES.read(feat_path, columns=wanted + extra, stage="features", filters=_SPLIT_FILTER)
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


@dataclass(frozen=True)
class FeatureRows:
    """The model columns of some test and current-book rows, read block by block from the file.

    Positions count the table's test and current-book rows in file order: the rows of the frame
    `read_features` returns. Only the blocks' chosen rows are kept.
    """

    path: Path
    columns: tuple[str, ...]
    block_rows: int = 250_000  # rows of the whole table per block read (most are skipped)

    def __call__(self, positions: np.ndarray) -> pd.DataFrame:
        """The model columns of the rows at `positions` (any order), in that order, indexed 0..n-1."""
        wanted = np.asarray(positions, dtype=np.int64)
        order = np.argsort(wanted, kind="stable")
        ascending = wanted[order]
        pieces: list[pd.DataFrame] = []
        seen = 0  # explained-split rows before this block
        blocks = FEATURES.read_blocks(
            self.path, ["split", *self.columns], "features", self.block_rows
        )
        for block in blocks:
            if seen > (ascending[-1] if len(ascending) else -1):
                break
            rows = block[block["split"].isin(EXPLAIN_SPLITS).to_numpy()]
            lo, hi = np.searchsorted(ascending, [seen, seen + len(rows)])
            if hi > lo:
                pieces.append(rows.iloc[ascending[lo:hi] - seen][list(self.columns)])
            seen += len(rows)
        if len(ascending) and ascending[-1] >= seen:
            raise DataValidationError(
                str(self.path),
                f"row {int(ascending[-1])} of the test and current-book rows asked for; the "
                f"table has {seen}",
                column="split",
            )
        chosen = (
            pd.concat(pieces, ignore_index=True)
            if pieces
            else pd.DataFrame({c: [] for c in self.columns})
        )
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return chosen.iloc[back].reset_index(drop=True)


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
        model_rows=FeatureRows(Path(features_dir) / FEATURES.file, tuple(catalogue.model_columns)),
        catalogue=catalogue,
        scores=score_frame,
        booster=booster,
        dictionary=dictionary,
        features_source=str(Path(features_dir) / FEATURES.file),
        scores_source=str(scores),
        model_source=model_path,
    )

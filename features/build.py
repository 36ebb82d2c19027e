"""The features stage's library: raw book or loan table -> feature table, catalogue, data quality.

`build_features` builds the table (behavioural features for the built-in book, typed columns for
a loan table), assigns the splits, and measures every feature alone (missing rate, IV, AUC, PSI).
It returns a `FeaturesResult`; the report is written even when the table must not be (a leak),
so `FeaturesResult.raise_if_unusable` is a separate step the stage calls after writing it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from features.behavioural import behavioural_catalogue, build_behavioural_features
from features.catalogue import Catalogue
from features.contracts import (
    FEATURES,
    RAW_ATTRIBUTES,
    RAW_CUSTOMERS,
    RAW_LOANS,
    RAW_OBSERVATIONS,
    RAW_STATEMENTS,
)
from features.errors import ConfigError, DataValidationError
from features.partitions import map_partitions
from features.quality import check_leakage, data_quality_report, flag_leak_suspects
from features.raw import RawData, read_partition
from features.split import SplitConfig, random_split, snapshot_split, time_fraction_split
from features.tabular import TableFeatureConfig, build_table_features

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeaturesConfig:
    """How features are built and guarded; no defaults (params.yaml states every value)."""

    windows: tuple[int, ...]  # month windows of the behavioural aggregates
    leakage_auc_threshold: float  # a feature alone above this AUC stops the stage
    allow_leaky_features: tuple[str, ...]  # exempt from that guard
    date_parts: bool  # table mode: expand date columns into year/month/dayofweek
    max_categories: int  # table mode: most frequent training values kept per text column
    split: SplitConfig

    @property
    def table_features(self) -> TableFeatureConfig:
        return TableFeatureConfig(date_parts=self.date_parts, max_categories=self.max_categories)


@dataclass
class FeaturesResult:
    """The feature table and catalogue, the per-feature quality report and its summary."""

    frame: pd.DataFrame
    catalogue: Catalogue
    quality: pd.DataFrame  # one row per model feature, strongest (AUC) first
    summary: dict[str, Any]  # reports/data_quality.json
    config: FeaturesConfig
    source: str  # where the raw data came from, for messages

    @property
    def headline(self) -> dict[str, Any]:
        """The numbers a reviewer compares across runs (`reports/headline/features.json`)."""
        return {
            "rows": self.summary["rows"],
            "n_features": self.summary["n_features"],
            "max_single_feature_auc": self.summary["max_auc"],
            "max_psi": self.summary["max_psi"],
        }

    def raise_if_unusable(self) -> None:
        """Stop on a typo in the leak allow-list, a suspected leak, a table with no labelled
        training rows or off contract."""
        unknown = sorted(set(self.config.allow_leaky_features) - set(self.catalogue.model_columns))
        if unknown:  # a typo would silently exempt nothing (or a later feature of that name)
            raise ConfigError(
                "features.allow_leaky_features",
                f"names no feature of this table: {unknown}",
            )
        check_leakage(
            self.quality, self.config.leakage_auc_threshold, self.config.allow_leaky_features
        )
        train = self.frame["split"].to_numpy() == "train"
        if self.frame["default"][train].notna().sum() == 0:
            raise DataValidationError(self.source, "no labelled training rows")
        FEATURES.check(self.frame, FEATURES.file)


def build_features(raw: RawData, cfg: FeaturesConfig) -> FeaturesResult:
    """Build the feature table of `raw`'s source, its splits and its data-quality report."""
    if raw.source == "synthetic":
        frame, catalogue = _build_synthetic(raw, cfg)
        comparison_split = "score"  # the current book against training: drift at scoring time
    else:
        frame, catalogue = _build_table(raw, cfg)
        comparison_split = "test"
    split = frame["split"].to_numpy()
    quality = data_quality_report(
        frame,
        catalogue,
        reference=split == "train",
        comparison=split == comparison_split,
        seed=cfg.split.seed,
    )
    quality = flag_leak_suspects(
        quality,
        cfg.leakage_auc_threshold,
        cfg.allow_leaky_features,
        by_name_and_iv=raw.source == "table",
    )
    counts = pd.Series(split).value_counts().to_dict()
    train_labelled = (split == "train") & frame["default"].notna().to_numpy()
    summary = {
        "source": raw.source,
        "rows": int(len(frame)),
        "rows_by_split": {k: int(v) for k, v in counts.items()},
        "train_default_rate": float(frame.loc[train_labelled, "default"].astype(float).mean()),
        "n_features": len(catalogue.features),
        "reference_split": "train",
        "comparison_split": comparison_split,
        "leakage_auc_threshold": cfg.leakage_auc_threshold,
        "allowed_leaky_features": list(cfg.allow_leaky_features),
        "max_auc": float(quality["auc"].max()),
        "max_psi": float(quality["psi"].max()) if quality["psi"].notna().any() else None,
        "features": quality.to_dict(orient="records"),
    }
    log.info(
        "strongest single features (AUC, IV):\n%s",
        quality.head(10)[["feature", "auc", "iv", "psi"]].to_string(index=False),
    )
    return FeaturesResult(frame, catalogue, quality, summary, cfg, str(raw.directory))


def behavioural_frame(tables: dict[str, pd.DataFrame], windows: tuple[int, ...]) -> pd.DataFrame:
    """The behavioural features of one bucket of the book (or of the whole book in memory)."""
    frame, _ = build_behavioural_features(
        tables[RAW_CUSTOMERS.file],
        tables[RAW_STATEMENTS.file],
        tables[RAW_OBSERVATIONS.file],
        windows=windows,
        attributes=tables[RAW_ATTRIBUTES.file],
    )
    return frame


def partition_features(
    raw_dir: str, source: str, windows: tuple[int, ...], partition: int
) -> pd.DataFrame:
    """Read one bucket of a partitioned book and build its features (here or on a worker)."""
    return behavioural_frame(read_partition(raw_dir, source, partition), windows)


def combine_partitions(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One feature table from per-bucket ones, in the order of the whole book's observations
    (observation date, then account), so any partitioning gives the same table."""
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True, copy=False)
    frames.clear()  # the parts are no longer needed once combined
    dates = frame["observation_date"].to_numpy()
    ids = frame["account_id"].to_numpy()
    order = np.lexsort((ids, dates))
    if np.array_equal(order, np.arange(len(order))):
        return frame.reset_index(drop=True)
    return frame.take(order).reset_index(drop=True)


def _build_synthetic(raw: RawData, cfg: FeaturesConfig) -> tuple[pd.DataFrame, Catalogue]:
    if raw.partitions:
        directory = str(raw.directory.resolve())  # workers do not share this cwd
        task = partial(partition_features, directory, raw.source, tuple(cfg.windows))
        frames = map_partitions(task, raw.partitions)
        log.info("built features of %d partitions", raw.partitions)
    else:
        frames = [behavioural_frame(raw.tables, tuple(cfg.windows))]
    frame = combine_partitions(frames)
    catalogue = behavioural_catalogue(cfg.windows)
    split = snapshot_split(frame, cfg.split)
    frame = frame.drop(columns=["is_current"])
    frame.insert(3, "split", split.to_numpy())
    return frame, catalogue


def _build_table(raw: RawData, cfg: FeaturesConfig) -> tuple[pd.DataFrame, Catalogue]:
    loans = raw.tables[RAW_LOANS.file]
    has_dates = "observation_date" in loans and loans["observation_date"].notna().any()
    split = (time_fraction_split if has_dates else random_split)(loans, cfg.split)
    return build_table_features(
        loans,
        split,
        protected=raw.protected_columns,
        cfg=cfg.table_features,
        source=str(raw.directory / RAW_LOANS.file),
    )

"""The features stage's library: raw book or loan table -> feature table, catalogue, data quality.

`run_features` builds the table (behavioural features for the built-in book, typed columns for
a loan table), assigns the splits, and measures every feature alone (missing rate, IV, AUC, PSI).
It returns a `FeaturesResult`; the report is written even when the table must not be (a leak),
so `FeaturesResult.raise_if_unusable` is a separate step the stage calls after writing it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.catalogue import Catalogue
from core.contracts import (
    FEATURES,
    RAW_ATTRIBUTES,
    RAW_CUSTOMERS,
    RAW_LOANS,
    RAW_OBSERVATIONS,
    RAW_STATEMENTS,
)
from core.errors import ConfigError, DataValidationError, InvalidConfig
from core.partitions import map_partitions, release_free_memory
from features.behavioural import BehaviouralFeatures, build_behavioural_features
from features.loan_table_features import TableFeatureConfig, build_table_features
from features.quality import check_leakage, data_quality_report, flag_leak_suspects
from features.raw import RawData, read_partition
from features.split import SplitConfig, random_split, snapshot_split, time_fraction_split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeaturesConfig:
    """How features are built and guarded; no defaults (params.yaml states every value)."""

    windows: tuple[int, ...]  # month windows of the behavioural aggregates
    max_lookback_months: int  # the most history any behavioural feature reads (>= windows)
    leakage_auc_threshold: float  # a feature alone above this AUC stops the stage
    allow_leaky_features: tuple[str, ...]  # exempt from that guard
    date_parts: bool  # table mode: expand date columns into year/month/dayofweek
    max_categories: int  # table mode: most frequent training values kept per text column
    split: SplitConfig

    def __post_init__(self) -> None:
        if self.windows and self.max_lookback_months < max(self.windows):
            raise InvalidConfig(
                "max_lookback_months",
                f"must be at least the longest window ({max(self.windows)} months)",
                self.max_lookback_months,
            )

    @property
    def table_features(self) -> TableFeatureConfig:
        return TableFeatureConfig(date_parts=self.date_parts, max_categories=self.max_categories)


class ColumnView:
    """Columns of an Arrow table as pandas Series, converted one at a time.

    The quality report and the checks read a column or a few; converting the whole table to
    pandas would hold a second copy of it (at 5M customers, 12M rows x 56 columns)."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    def __getitem__(self, name: str) -> pd.Series:
        # through select().to_pandas() so the table's pandas metadata sets the dtype, as a read does
        return self.table.select([name]).to_pandas()[name]

    def __contains__(self, name: object) -> bool:
        return name in self.table.column_names

    def __len__(self) -> int:
        return self.table.num_rows

    def frame(self, columns: list[str]) -> pd.DataFrame:
        return self.table.select(columns).to_pandas()


@dataclass
class FeaturesResult:
    """The feature table (Arrow, as the stage writes it) and catalogue, the per-feature quality
    report and its summary."""

    table: pa.Table
    catalogue: Catalogue
    quality: pd.DataFrame  # one row per model feature, strongest (AUC) first
    summary: dict[str, Any]  # reports/data_quality.json
    config: FeaturesConfig
    source: str  # where the raw data came from, for messages

    @property
    def frame(self) -> pd.DataFrame:
        """The whole table as pandas (a copy: for tests and notebooks on small books)."""
        return self.table.to_pandas()

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
        keys = ColumnView(self.table).frame(FEATURES.columns)
        train = keys["split"].to_numpy() == "train"
        if keys["default"][train].notna().sum() == 0:
            raise DataValidationError(self.source, "no labelled training rows")
        FEATURES.check(keys, FEATURES.file)


def run_features(raw: RawData, cfg: FeaturesConfig) -> FeaturesResult:
    """Build the feature table of `raw`'s source, its splits and its data-quality report."""
    skipped: list[dict[str, object]] = []  # features the data lacks the input columns of
    if raw.source == "synthetic":
        table, catalogue, skipped = _build_synthetic(raw, cfg)
        comparison_split = "score"  # the current book against training: drift at scoring time
    else:
        frame, catalogue = _build_table(raw, cfg)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        del frame
        comparison_split = "test"
    columns = ColumnView(table)
    split = columns["split"].to_numpy(dtype=object)
    quality = data_quality_report(
        columns,
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
    default = columns["default"]
    train_labelled = (split == "train") & default.notna().to_numpy()
    summary = {
        "source": raw.source,
        "rows": int(table.num_rows),
        "rows_by_split": {k: int(v) for k, v in counts.items()},
        "train_default_rate": float(default[train_labelled].astype(float).mean()),
        "n_features": len(catalogue.features),
        "skipped_features": skipped,
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
    return FeaturesResult(table, catalogue, quality, summary, cfg, str(raw.directory))


def behavioural_frame(
    tables: dict[str, pd.DataFrame], windows: tuple[int, ...], max_lookback_months: int
) -> BehaviouralFeatures:
    """The behavioural features of one bucket of the book (or of the whole book in memory)."""
    return build_behavioural_features(
        tables[RAW_CUSTOMERS.file],
        tables[RAW_STATEMENTS.file],
        tables[RAW_OBSERVATIONS.file],
        windows=windows,
        max_lookback_months=max_lookback_months,
        attributes=tables.get(RAW_ATTRIBUTES.file),
    )


def partition_features(
    raw_dir: str, source: str, windows: tuple[int, ...], max_lookback_months: int, partition: int
) -> BehaviouralFeatures:
    """Read one bucket of a partitioned book and build its features (here or on a worker)."""
    return behavioural_frame(
        read_partition(raw_dir, source, partition), windows, max_lookback_months
    )


#: Columns the snapshot split reads (`features.split.snapshot_split`).
SPLIT_INPUTS = ["observation_date", "default", "is_current"]


def combine_partitions(
    frames: list[pd.DataFrame], split_of: Callable[[pd.DataFrame], pd.Series]
) -> pa.Table:
    """One feature table from per-bucket ones, in the order of the whole book's observations
    (observation date, then account), so any partitioning gives the same table.

    `split_of` assigns the splits on the whole book's keys (`SPLIT_INPUTS`, in that order); the
    split column replaces `is_current`. Each bucket becomes an Arrow table as it is taken off
    `frames` (emptied here), each column in a buffer of its own (`_own_buffers`), and the
    whole-book order is taken column by column, each bucket column freed once taken: the table
    is held about once, never as concat + reordered copies.
    """
    sizes = [len(f) for f in frames]
    keys = pd.concat([f[SPLIT_INPUTS] for f in frames], ignore_index=True)
    ids = np.concatenate([f["account_id"].to_numpy() for f in frames])
    order = np.lexsort((ids, keys["observation_date"].to_numpy()))
    del ids
    split_sorted = split_of(keys.take(order).reset_index(drop=True)).to_numpy(dtype=object)
    del keys
    split = np.empty(len(order), dtype=object)  # back in bucket order, to go with each bucket
    split[order] = split_sorted
    del split_sorted
    tables: list[pa.Table] = []
    start = 0
    for size in sizes:
        frame = frames.pop(0).drop(columns=["is_current"])
        frame.insert(3, "split", split[start : start + size])
        tables.append(_own_buffers(pa.Table.from_pandas(frame, preserve_index=False)))
        start += size
        del frame
        release_free_memory()  # the bucket's pandas blocks, now copied into Arrow
    del split
    schema = tables[0].schema
    chunks = {name: [t.column(name) for t in tables] for name in schema.names}
    del tables
    taken = pa.array(order)
    arrays = []
    for name in schema.names:
        arrays.append(_take_column(chunks.pop(name), taken))
        pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed buffers
    return pa.Table.from_arrays(arrays, schema=_unified(schema, arrays))


def _own_buffers(table: pa.Table) -> pa.Table:
    """`table` with every column copied into Arrow buffers of its own.

    `pa.Table.from_pandas` does not copy numeric columns: they point into the pandas block that
    holds all float32 columns of the bucket together, which is freed only with its last column.
    Copied, each column's memory goes as soon as that column has been taken into book order.
    """
    columns = [
        pa.chunked_array([pa.concat_arrays(column.chunks)], type=column.type)
        if column.num_chunks
        else column
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, schema=table.schema)


def _take_column(parts: list[pa.ChunkedArray], order: pa.Array) -> pa.ChunkedArray:
    """One column of every bucket, in whole-book row order (`order` indexes their concatenation)."""
    types = {part.type for part in parts if part.type != pa.null()}
    if len(types) > 1:  # e.g. a text column that is all-null in one bucket: Arrow unifies it
        return pa.chunked_array(
            pa.concat_tables([pa.table({"c": p}) for p in parts], promote_options="default").column(
                "c"
            )
        ).take(order)
    target = types.pop() if types else pa.null()
    return pa.chunked_array(
        [chunk for part in parts for chunk in part.cast(target).chunks], type=target
    ).take(order)


def _unified(schema: pa.Schema, arrays: list[pa.ChunkedArray]) -> pa.Schema:
    """The first bucket's schema (its pandas metadata: the dtypes a read restores) with each
    column's type as combined across buckets."""
    fields = [schema.field(i).with_type(a.type) for i, a in enumerate(arrays)]
    return pa.schema(fields, metadata=schema.metadata)


def _build_synthetic(
    raw: RawData, cfg: FeaturesConfig
) -> tuple[pa.Table, Catalogue, list[dict[str, object]]]:
    windows, lookback = tuple(cfg.windows), cfg.max_lookback_months
    if raw.partitions:
        directory = str(raw.directory.resolve())  # workers do not share this cwd
        task = partial(partition_features, directory, raw.source, windows, lookback)
        built = map_partitions(task, raw.partitions)
        log.info("built features of %d partitions", raw.partitions)
    else:
        built = [behavioural_frame(raw.tables, windows, lookback)]
    catalogue, skipped = built[0].catalogue, built[0].skipped
    for p, part in enumerate(built):
        if part.catalogue != catalogue:  # buckets of one book share its columns
            raise DataValidationError(
                str(raw.directory), f"bucket {p} has other columns than bucket 0"
            )
    frames = [part.frame for part in built]
    del built
    table = combine_partitions(frames, partial(snapshot_split, cfg=cfg.split))
    return table, catalogue, skipped


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

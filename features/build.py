"""The features stage's library: raw book or loan table -> feature table, catalogue, data quality.

`run_features` builds the table (behavioural features for the built-in book, typed columns for
a loan table), assigns the splits, and measures every feature alone (missing rate, IV, AUC, PSI).
It returns a `FeaturesResult`; the report is written even when the table must not be (a leak),
so `FeaturesResult.raise_if_unusable` is a separate step the stage calls after writing it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.catalogue import Catalogue, to_model_frame
from core.contracts import (
    FEATURES,
    POLICY_PREFIX,
    RAW_ATTRIBUTES,
    RAW_CUSTOMERS,
    RAW_LOANS,
    RAW_OBSERVATIONS,
    RAW_STATEMENTS,
)
from core.errors import ConfigError, DataValidationError, InvalidConfig
from core.partitions import map_partitions, release_free_memory
from features.behavioural import BehaviouralFeatures, build_behavioural_features
from features.loan_table_features import TableFeatureConfig, build_table_features, type_columns
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
    notes: dict[str, Any] = {}
    if raw.source in ("synthetic", "history"):
        table, catalogue, skipped, notes = _build_book(raw, cfg)
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
        **notes,
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
    raw_dir: str,
    source: str,
    windows: tuple[int, ...],
    max_lookback_months: int,
    partition: int,
    carried: tuple[str, ...] = (),
) -> BehaviouralFeatures:
    """Read one bucket of a partitioned book and build its features (here or on a worker).

    `carried` are customers columns that are not behavioural inputs (a lender's static account
    columns, its protected columns): they are kept out of the behavioural engine and joined onto
    the rows as read, to be typed once the splits are known (`type_static_columns`)."""
    tables = read_partition(raw_dir, source, partition)
    return book_features(tables, windows, max_lookback_months, carried)


def book_features(
    tables: dict[str, pd.DataFrame],
    windows: tuple[int, ...],
    max_lookback_months: int,
    carried: tuple[str, ...] = (),
) -> BehaviouralFeatures:
    """The behavioural features of a book's tables (a bucket or the whole book in memory), with
    the `carried` customers columns joined onto the rows as they are (see `partition_features`)."""
    if not carried:
        return behavioural_frame(tables, windows, max_lookback_months)
    tables = dict(tables)
    customers = tables[RAW_CUSTOMERS.file]
    tables[RAW_CUSTOMERS.file] = customers.drop(columns=list(carried))
    built = behavioural_frame(tables, windows, max_lookback_months)
    values = customers.set_index("account_id")[list(carried)]
    joined = values.reindex(built.frame["account_id"].to_numpy())
    frame = built.frame
    for column in carried:
        frame[column] = joined[column].to_numpy()
    # the contract's order: model features, then protected__*, then policy__* inputs
    policy = [c for c in frame.columns if c.startswith(POLICY_PREFIX)]
    rest = [c for c in frame.columns if c not in policy]
    return built._replace(frame=frame[rest + policy])


#: Columns the snapshot split reads (`features.split.snapshot_split`).
SPLIT_INPUTS = ["account_id", "observation_date", "default", "is_current"]


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
    order = np.lexsort((keys["account_id"].to_numpy(), keys["observation_date"].to_numpy()))
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


def _behavioural_table(
    raw: RawData,
    cfg: FeaturesConfig,
    carried: tuple[str, ...],
    split_of: Callable[[pd.DataFrame], pd.Series],
) -> tuple[pa.Table, Catalogue, list[dict[str, object]]]:
    windows, lookback = tuple(cfg.windows), cfg.max_lookback_months
    if raw.partitions:
        directory = str(raw.directory.resolve())  # workers do not share this cwd
        task = partial(
            partition_features, directory, raw.source, windows, lookback, carried=carried
        )
        built = map_partitions(task, raw.partitions)
        log.info("built features of %d partitions", raw.partitions)
    else:
        built = [book_features(raw.tables, windows, lookback, carried)]
    catalogue, skipped = built[0].catalogue, built[0].skipped
    for p, part in enumerate(built):
        if part.catalogue != catalogue:  # buckets of one book share its columns
            raise DataValidationError(
                str(raw.directory), f"bucket {p} has other columns than bucket 0"
            )
    frames = [part.frame for part in built]
    del built
    table = combine_partitions(frames, split_of)
    return table, catalogue, skipped


#: The built-in book's currency (its amounts are CNY, the built-in policy's).
BUILT_IN_CURRENCY = "CNY"
#: The built-in book's account columns that are static features (typed like a lender's).
BUILT_IN_STATIC = ("city_tier", "channel")


def _build_book(
    raw: RawData, cfg: FeaturesConfig
) -> tuple[pa.Table, Catalogue, list[dict[str, object]], dict[str, Any]]:
    """A book with a statement history (built-in or a lender's): the behavioural features of
    whatever its statements hold, per bucket; its static account columns typed like a loan
    table's on the training rows; its protected columns; categories learned on the training
    rows; the splits (out of time with several labelled dates, by account with one)."""
    meta = raw.meta
    static = tuple(meta.get("static_columns") or ()) if raw.source == "history" else BUILT_IN_STATIC
    protected = tuple(meta.get("protected_columns") or ()) if raw.source == "history" else ()
    table, catalogue, skipped = _behavioural_table(
        raw, cfg, static + protected, partial(history_split, cfg=cfg.split)
    )
    split = table.column("split").to_numpy(zero_copy_only=False)
    train = split == "train"
    table, catalogue = learn_categories(table, catalogue, train, cfg.max_categories)
    taken = set(table.column_names) - set(static)
    typed = type_columns(
        pd.DataFrame({c: table.column(c).to_pandas() for c in static}),
        list(static),
        train,
        cfg.table_features,
        str(raw.directory / RAW_CUSTOMERS.file),
        taken,
    )
    for column in static:  # the raw values give way to their typed features (if any)
        table = table.drop_columns([column])
    position = table.column_names.index(catalogue.model_columns[-1]) + 1
    specs = list(catalogue.features)
    for spec, values in typed:
        typed_values = to_model_frame(values.to_frame(spec.name), Catalogue([spec]), "accounts")
        column = typed_values[spec.name]
        if spec.dtype == "float":
            column = column.astype(np.float32)
        table = table.add_column(position, spec.name, pa.array(column, from_pandas=True))
        position += 1
        specs.append(spec)
    catalogue = dataclasses.replace(
        catalogue,
        features=specs,
        protected=[*catalogue.protected, *protected],
        currency=meta.get("currency", BUILT_IN_CURRENCY),
        fx_to_policy=meta.get("fx_to_policy"),
    )
    notes: dict[str, Any] = {
        "static_features": [spec.name for spec, _ in typed],
        "static_columns_left_out": sorted(set(static) - {s.sources[0] for s, _ in typed}),
    }
    table, proxy = overdue_proxy(table, meta.get("overdue_when_missing", "refuse"))
    if proxy:
        notes["overdue_amount_policy_input"] = proxy
    return with_pandas_metadata(table), catalogue, skipped, notes


def with_pandas_metadata(table: pa.Table) -> pa.Table:
    """`table` with the pandas metadata of what it holds now (columns replaced above would
    otherwise be restored to their old pandas dtype by `to_pandas`)."""
    empty = table.slice(0, 0).to_pandas(ignore_metadata=True)
    schema = pa.Schema.from_pandas(empty, preserve_index=False)
    return table.replace_schema_metadata(schema.metadata)


def learn_categories(
    table: pa.Table, catalogue: Catalogue, train: np.ndarray, max_categories: int
) -> tuple[pa.Table, Catalogue]:
    """Category features written as text (no declared list) get the categories of the training
    rows (the most frequent `max_categories`, sorted), as a loan table's text columns do: values
    outside them become missing, so validation, test and scoring see what the model saw."""
    specs = []
    for spec in catalogue.features:
        if spec.dtype != "category" or spec.categories is not None:
            specs.append(spec)
            continue
        text = table.column(spec.name).to_pandas().astype("string")
        cats = sorted(text[train].dropna().value_counts().index[:max_categories].tolist())
        coded = pd.Categorical(text.astype(object).where(text.notna(), None), categories=cats)
        table = table.set_column(
            table.column_names.index(spec.name), spec.name, pa.array(coded, from_pandas=True)
        )
        specs.append(dataclasses.replace(spec, categories=cats))
    return table, dataclasses.replace(catalogue, features=specs)


def history_split(frame: pd.DataFrame, cfg: SplitConfig) -> pd.Series:
    """Out of time over the labelled dates when there are several; one labelled date: a random
    split by account (a borrower never in two splits), stratified by default."""
    labelled = frame["default"].notna() & ~frame["is_current"].astype(bool)
    dates = pd.unique(frame.loc[labelled, "observation_date"])
    if len(dates) >= 2:
        return snapshot_split(frame, cfg)
    return random_split(frame.assign(group_id=frame["account_id"].astype(str)), cfg)


#: What the policy's overdue amount is when a history has no overdue-amount column and
#: `data.history.overdue_when_missing` allows a stand-in.
OVERDUE_PROXY = (
    "outstanding balance of accounts past due (0 when current): the lender's statements have no "
    "overdue amount (data.history.overdue_when_missing: outstanding_balance)"
)


def overdue_proxy(table: pa.Table, rule: str) -> tuple[pa.Table, str | None]:
    """The policy's overdue amount where the statements had none: left missing (train then
    refuses it, naming it) unless the lender chose the stated stand-in, which is recorded."""
    column = "policy__overdue_amount"
    if column not in table.column_names or rule != "outstanding_balance":
        return table, None
    overdue = table.column(column).to_numpy(zero_copy_only=False).astype("float64")
    if not np.isnan(overdue).all():
        return table, None  # the statements have it
    dpd = table.column("policy__days_past_due").to_numpy(zero_copy_only=False).astype("float64")
    balance = table.column("policy__outstanding_balance").to_numpy(zero_copy_only=False)
    stand_in = np.where(dpd > 0, np.maximum(np.nan_to_num(balance.astype("float64")), 0.0), 0.0)
    index = table.column_names.index(column)
    table = table.set_column(
        index, column, pa.array(stand_in, type=table.schema.field(column).type)
    )
    return table, OVERDUE_PROXY


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

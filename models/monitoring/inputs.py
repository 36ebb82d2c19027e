"""What the monitor reads beyond the pipeline's tables: a newer scored book a user brings, joined
with its feature rows, and the statement history bucket by bucket.

Readers only: `book_monitor.monitor` takes frames, so a book scored after training is monitored
without retraining or re-scoring.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from core.contracts import RAW_CUSTOMERS, RAW_STATEMENTS
from core.errors import DataValidationError
from core.io import read_user_table
from core.partitions import part_files
from models.monitoring.book_monitor import KEYS
from models.monitoring.portfolio import HistorySlice

log = logging.getLogger(__name__)

TIER_COLUMNS = ["account_id", "observation_date", "tier", "tier_name", "channels"]
STATEMENT_COLUMNS = ["account_id", "statement_date", "days_past_due"]
CUSTOMER_COLUMNS = ["account_id", "signup_date"]


def read_scored_table(path: Path) -> pd.DataFrame:
    """A scored or feature file a user brings (Parquet or CSV) with its keys, dates parsed."""
    frame = read_user_table(path)
    for key in KEYS:
        if key not in frame.columns:
            raise DataValidationError(str(path), f"needs the key column '{key}'", column=key)
    frame["observation_date"] = pd.to_datetime(frame["observation_date"])
    return frame


def current_rows(scored: pd.DataFrame, features: pd.DataFrame | None, source: str) -> pd.DataFrame:
    """A newer scored file joined with its feature rows (each scored row must find its own)."""
    if features is None:
        return scored
    extra = [c for c in features.columns if c not in scored.columns or c in KEYS]
    joined = scored.merge(
        features[extra], on=KEYS, how="left", validate="one_to_one", indicator=True
    )
    missing = joined["_merge"] != "both"
    if missing.any():
        row = int(missing.to_numpy().argmax())
        raise DataValidationError(
            source, "scored row has no feature row with the same keys", column="account_id", row=row
        )
    return joined.drop(columns="_merge")


def has_open_dates(raw: Path | None) -> bool:
    """Whether the book's accounts carry an open date (vintages need one)."""
    if raw is None or not (raw / RAW_CUSTOMERS.file).exists():
        return False
    customers = raw / RAW_CUSTOMERS.file
    first = part_files(customers)[0] if customers.is_dir() else customers
    return "signup_date" in RAW_CUSTOMERS.read_schema(first, stage="ingest")


def read_history(raw: Path | None) -> list[HistorySlice] | Iterator[HistorySlice] | None:
    """The statement history for vintages and roll rates, bucket by bucket as the ingest stage
    wrote it (each read only when the monitor reaches it), or None without one. Accounts without
    open dates come as None (the monitor then skips the vintages)."""
    if raw is None or not (raw / RAW_STATEMENTS.file).exists():  # a file or bucket directory
        log.info("no statement history under %s: vintages and roll rates skipped", raw)
        return None
    if not has_open_dates(raw):
        statements = raw / RAW_STATEMENTS.file
        files = part_files(statements) if statements.is_dir() else [statements]
        return ((pd.read_parquet(s, columns=STATEMENT_COLUMNS), None) for s in files)
    statements, customers = raw / RAW_STATEMENTS.file, raw / RAW_CUSTOMERS.file
    if statements.is_dir() and customers.is_dir():
        buckets, customer_buckets = part_files(statements), part_files(customers)
        if [p.name for p in buckets] != [p.name for p in customer_buckets]:
            raise DataValidationError(
                str(customers), f"its buckets do not match those of {statements}"
            )
        pairs = list(zip(buckets, customer_buckets, strict=True))
        return (
            (
                pd.read_parquet(s, columns=STATEMENT_COLUMNS),
                pd.read_parquet(c, columns=CUSTOMER_COLUMNS),
            )
            for s, c in pairs
        )
    return [
        (
            pd.read_parquet(statements, columns=STATEMENT_COLUMNS),
            pd.read_parquet(customers, columns=CUSTOMER_COLUMNS),
        )
    ]

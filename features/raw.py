"""The raw data directory between ingest and features: its files, and reading them back.

`meta.json` says which source wrote the directory; each source's tables are read through their
contracts (`core.contracts.RAW_*`), so a missing column or a wrong dtype stops the reader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from core.contracts import (
    RAW_ATTRIBUTES,
    RAW_CUSTOMERS,
    RAW_LOANS,
    RAW_OBSERVATIONS,
    RAW_STATEMENTS,
    TableContract,
)
from core.errors import DataValidationError
from core.io import read_json
from core.partitions import part_path

META_FILE = "meta.json"
REJECTS_FILE = "rejects.parquet"
PARTITIONS_KEY = "partitions"  # meta.json: buckets by account id of a partitioned book
#: The raw tables of each source, in the order they are written and read.
SOURCE_TABLES: dict[str, tuple[TableContract, ...]] = {
    "synthetic": (RAW_CUSTOMERS, RAW_STATEMENTS, RAW_OBSERVATIONS, RAW_ATTRIBUTES),
    "table": (RAW_LOANS,),
    "history": (RAW_CUSTOMERS, RAW_STATEMENTS, RAW_OBSERVATIONS, RAW_ATTRIBUTES),
}


@dataclass
class RawData:
    """The ingested book as the features stage reads it back.

    A partitioned book (`partitions` > 0, the built-in book) is not loaded: `tables` is empty
    and each bucket is read with `read_partition` where it is processed. Otherwise `tables`
    holds every table (a loan table, or a book built in memory).
    """

    source: str
    tables: dict[str, pd.DataFrame]  # by contract file name
    protected_columns: list[str]
    directory: Path
    partitions: int = 0  # buckets by account id under `directory`; 0 = `tables` in memory
    meta: dict[str, Any] = field(default_factory=dict)  # meta.json as the ingest stage wrote it


def read_raw(raw_dir: str | os.PathLike[str]) -> RawData:
    """Read `meta.json` and the raw tables of its source, each checked by its contract.

    The tables of a partitioned book are only checked to be there (every bucket file, with the
    contract's columns); their rows are read bucket by bucket (`read_partition`).
    """
    directory = Path(raw_dir)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise DataValidationError(str(meta_path), "file not found; run the ingest stage first")
    meta = read_json(meta_path)
    source = meta.get("source")
    if source not in SOURCE_TABLES:
        raise DataValidationError(str(meta_path), f"unknown source {source!r}", column="source")
    protected = list(meta.get("protected_columns") or [])
    partitions = meta.get(PARTITIONS_KEY)
    if partitions:
        if not isinstance(partitions, int) or partitions < 1:
            raise DataValidationError(
                str(meta_path), f"expected a partition count >= 1, got {partitions!r}"
            )
        for contract in SOURCE_TABLES[source]:
            for p in range(partitions):
                contract.read_schema(part_path(directory, contract.file, p), stage="ingest")
        return RawData(source, {}, protected, directory, partitions, meta)
    tables = {
        contract.file: contract.read(directory / contract.file, stage="ingest")
        for contract in SOURCE_TABLES[source]
    }
    return RawData(source, tables, protected, directory, meta=meta)


def read_partition(
    raw_dir: str | os.PathLike[str], source: str, partition: int
) -> dict[str, pd.DataFrame]:
    """One bucket of every table of a partitioned book, each checked by its contract."""
    return {
        contract.file: contract.read(part_path(raw_dir, contract.file, partition), stage="ingest")
        for contract in SOURCE_TABLES[source]
    }

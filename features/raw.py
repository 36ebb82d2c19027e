"""The raw data directory between ingest and features: its files, and reading them back.

`meta.json` says which source wrote the directory; each source's tables are read through their
contracts (`features.contracts.RAW_*`), so a missing column or a wrong dtype stops the reader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.contracts import (
    RAW_ATTRIBUTES,
    RAW_CUSTOMERS,
    RAW_LOANS,
    RAW_OBSERVATIONS,
    RAW_STATEMENTS,
    TableContract,
)
from features.errors import DataValidationError
from features.io import read_json

META_FILE = "meta.json"
REJECTS_FILE = "rejects.parquet"
#: The raw tables of each source, in the order they are written and read.
SOURCE_TABLES: dict[str, tuple[TableContract, ...]] = {
    "synthetic": (RAW_CUSTOMERS, RAW_STATEMENTS, RAW_OBSERVATIONS, RAW_ATTRIBUTES),
    "table": (RAW_LOANS,),
}


@dataclass
class RawData:
    """The ingested book as the features stage reads it back."""

    source: str
    tables: dict[str, pd.DataFrame]  # by contract file name
    protected_columns: list[str]
    directory: Path


def read_raw(raw_dir: str | os.PathLike[str]) -> RawData:
    """Read `meta.json` and the raw tables of its source, each checked by its contract."""
    directory = Path(raw_dir)
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise DataValidationError(str(meta_path), "file not found; run the ingest stage first")
    meta = read_json(meta_path)
    source = meta.get("source")
    if source not in SOURCE_TABLES:
        raise DataValidationError(str(meta_path), f"unknown source {source!r}", column="source")
    tables = {
        contract.file: contract.read(directory / contract.file, stage="ingest")
        for contract in SOURCE_TABLES[source]
    }
    return RawData(source, tables, list(meta.get("protected_columns") or []), directory)

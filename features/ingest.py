"""Ingest: generate the built-in book or read a user's loan table, validate it row by row.

Rows that break a rule are never dropped silently: they go to the rejects table with the file,
row, column and rule, and the run stops when more than `max_reject_fraction` of a table is
rejected. `ingest` returns everything the stage writes (`IngestResult`); `features.raw` says
where it goes and reads it back for the features stage.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from features.contracts import (
    RAW_ATTRIBUTES,
    RAW_CUSTOMERS,
    RAW_LOANS,
    RAW_OBSERVATIONS,
    RAW_STATEMENTS,
)
from features.errors import DataValidationError
from features.raw import SOURCE_TABLES
from features.schema import REJECT_COLUMNS, validate_table
from features.synthetic import MACRO_FILE, SyntheticConfig, generate_book
from features.table import TableConfig, read_table, standardise_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestConfig:
    """Which book to ingest and how many rejected rows a table may have before the run stops."""

    source: SyntheticConfig | TableConfig
    max_reject_fraction: float

    @property
    def source_name(self) -> str:
        return "synthetic" if isinstance(self.source, SyntheticConfig) else "table"


@dataclass
class IngestResult:
    """The validated raw tables (by contract file name), rejects, truth, metadata and summary."""

    tables: dict[str, pd.DataFrame]
    rejects: pd.DataFrame
    true_pd: pd.DataFrame
    truth: dict[str, pd.DataFrame]  # other truth tables by file name (the macro factor)
    meta: dict[str, Any]
    summary: dict[str, Any]

    @property
    def headline(self) -> dict[str, Any]:
        """The numbers a reviewer compares across runs (`reports/headline/ingest.json`)."""
        keys = ("rows_in", "rows_kept", "rows_rejected", "default_rate")
        return {key: self.summary[key] for key in keys}


def ingest(cfg: IngestConfig) -> IngestResult:
    """Generate or read the book named by `cfg.source` and validate it."""
    if isinstance(cfg.source, SyntheticConfig):
        return ingest_synthetic(cfg.source, cfg.max_reject_fraction)
    return ingest_table(cfg.source, cfg.max_reject_fraction)


def _check_reject_share(path: str, rows_in: int, rejected: int, limit: float) -> None:
    if rows_in and rejected / rows_in > limit:
        raise DataValidationError(
            path,
            f"{rejected} of {rows_in} rows failed validation, more than ingest.max_reject_fraction={limit}",
            hint="See the rejected rows and their rules in the log; fix the data or raise the limit.",
        )


def _summarise(tables: dict[str, tuple[int, pd.DataFrame, pd.DataFrame]]) -> dict[str, Any]:
    """Rows in/kept/rejected per table and in total, and rejected rows by (table, column, rule)."""
    by_rule: dict[str, int] = {}
    out: dict[str, Any] = {"tables": {}}
    for name, (rows_in, kept, rejects) in tables.items():
        rules = rejects["_rule"].value_counts().to_dict() if len(rejects) else {}
        for rule, count in rules.items():
            key = f"{name}: {rejects.loc[rejects['_rule'] == rule, '_column'].iloc[0]}: {rule}"
            by_rule[key] = by_rule.get(key, 0) + int(count)
        out["tables"][name] = {
            "rows_in": rows_in,
            "rows_kept": len(kept),
            "rows_rejected": len(rejects),
        }
    out["rows_in"] = sum(t["rows_in"] for t in out["tables"].values())
    out["rows_kept"] = sum(t["rows_kept"] for t in out["tables"].values())
    out["rows_rejected"] = sum(t["rows_rejected"] for t in out["tables"].values())
    out["rejected_by_rule"] = by_rule
    return out


def _as_rejects(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One text table of rejected rows (typed, with the reject columns, even when empty)."""
    found = [f for f in frames if len(f)]
    return (pd.concat(found) if found else pd.DataFrame(columns=REJECT_COLUMNS)).astype("string")


def ingest_synthetic(cfg: SyntheticConfig, max_reject_fraction: float) -> IngestResult:
    """Generate the built-in book and validate its four tables against their contracts."""
    book = generate_book(cfg)
    source = "synthetic"
    customers, rej_c = validate_table(book.customers, RAW_CUSTOMERS.schema, f"{source}:customers")
    keys = {"customers": pd.Index(customers["account_id"])}
    statements, rej_s = validate_table(
        book.statements, RAW_STATEMENTS.schema, f"{source}:statements", keys
    )
    n_statements = len(book.statements)
    book.statements = statements  # drop the unvalidated copy: the book is the biggest object here
    observations, rej_o = validate_table(
        book.observations, RAW_OBSERVATIONS.schema, f"{source}:observations", keys
    )
    observations["default"] = observations["default"].astype("Int8")
    attributes, rej_a = validate_table(
        book.attributes, RAW_ATTRIBUTES.schema, f"{source}:attributes", keys
    )
    tables = {
        "customers": (len(book.customers), customers, rej_c),
        "statements": (n_statements, statements, rej_s),
        "observations": (len(book.observations), observations, rej_o),
        "attributes": (len(book.attributes), attributes, rej_a),
    }
    for name, (rows_in, _, rejected) in tables.items():
        _check_reject_share(f"{source}:{name}", rows_in, len(rejected), max_reject_fraction)
    summary = _summarise(tables)
    summary.update(source=source, default_rate=book.stats["default_rate"])
    meta = {
        "source": source,
        "files": [contract.file for contract in SOURCE_TABLES[source]],
        "id_column": "account_id",
        "protected_columns": [],
        "synthetic": asdict(cfg),
        "generator_stats": book.stats,
    }
    return IngestResult(
        tables={
            RAW_CUSTOMERS.file: customers,
            RAW_STATEMENTS.file: statements,
            RAW_OBSERVATIONS.file: observations,
            RAW_ATTRIBUTES.file: attributes,
        },
        rejects=_as_rejects([rej_c, rej_s, rej_o, rej_a]),
        true_pd=book.true_pd,
        truth={MACRO_FILE: book.macro},
        meta=meta,
        summary=summary,
    )


def ingest_table(cfg: TableConfig, max_reject_fraction: float) -> IngestResult:
    """Read the user's loan table, map its target/id/date and keep the usable rows."""
    raw = read_table(cfg.path)
    kept, rejects = standardise_table(raw, cfg, cfg.path)
    _check_reject_share(cfg.path, len(raw), len(rejects), max_reject_fraction)
    summary = _summarise({"loans": (len(raw), kept, rejects)})
    summary.update(source="table", default_rate=float(kept["default"].mean()))
    meta = {
        "source": "table",
        "files": [RAW_LOANS.file],
        "id_column": "account_id",
        "input_path": cfg.path,
        "target_column": cfg.target_column,
        "has_dates": cfg.date_column is not None,
        "protected_columns": list(cfg.protected_columns),
        "dropped_columns": [c for c in cfg.drop_columns if c in raw.columns],
    }
    no_truth = pd.DataFrame(  # no truth for a user's table: an empty, typed file
        {
            "account_id": pd.Series(dtype=str),
            "observation_date": pd.Series(dtype="datetime64[ns]"),
            "true_pd": pd.Series(dtype=float),
        }
    )
    return IngestResult(
        tables={RAW_LOANS.file: kept},
        rejects=_as_rejects([rejects]),
        true_pd=no_truth,
        truth={},
        meta=meta,
        summary=summary,
    )

"""Ingest: generate the built-in book or read a user's loan table, validate it row by row.

Rows that break a rule are never dropped silently: they go to the rejects table with the file,
row, column and rule, and the run stops when more than `max_reject_fraction` of a table is
rejected. `run_ingest` returns everything the stage writes (`IngestResult`); `features.raw` says
where it goes and reads it back for the features stage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.contracts import (
    CUSTOMER_EFFECTS,
    MACRO,
    RAW_ATTRIBUTES,
    RAW_CUSTOMERS,
    RAW_LOANS,
    RAW_OBSERVATIONS,
    RAW_STATEMENTS,
)
from core.dpd import DEFAULT_DPD
from core.errors import DataValidationError
from core.schema import (
    ATTRIBUTES,
    CUSTOMERS,
    OBSERVATIONS,
    REJECT_COLUMNS,
    STATEMENTS,
    validate_table,
)
from features.history import HistoryConfig, ingest_history
from features.labels import DefaultDefinition, Labels, derive_labels, month_number
from features.loan_table import TableConfig, load_table, standardise
from features.raw import SOURCE_TABLES
from features.synthetic import (
    SyntheticBook,
    SyntheticConfig,
    iter_book,
    merge_stats,
    public_stats,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestConfig:
    """Which book to ingest and how many rejected rows a table may have before the run stops."""

    source: SyntheticConfig | TableConfig | HistoryConfig
    max_reject_fraction: float
    #: the built-in book's default definition (`data.synthetic.default_definition`): its labels
    #: come from the same deriver as a lender's (a history source states its own)
    definition: DefaultDefinition | None = None

    @property
    def source_name(self) -> str:
        if isinstance(self.source, SyntheticConfig):
            return "synthetic"
        return "history" if isinstance(self.source, HistoryConfig) else "table"


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


def run_ingest(
    cfg: IngestConfig,
    write: Callable[[str, pd.DataFrame], None] | None = None,
    scratch: Path | None = None,
    partitions: int = 1,
) -> IngestResult:
    """Generate or read the book named by `cfg.source` and validate it.

    `write` receives the built-in book's tables block by block (see `ingest_synthetic`) and a
    history's tables bucket by bucket (`features.history.ingest_history`, which also needs an
    empty `scratch` directory and the number of `partitions` `write` buckets into); a loan table
    is always returned whole in `IngestResult.tables`.
    """
    if isinstance(cfg.source, SyntheticConfig):
        return ingest_synthetic(cfg.source, cfg.max_reject_fraction, write, cfg.definition)
    if isinstance(cfg.source, HistoryConfig):
        if write is None or scratch is None:
            raise ValueError("a history source is written bucket by bucket: give write and scratch")
        history = ingest_history(cfg.source, cfg.max_reject_fraction, write, scratch, partitions)
        return IngestResult(
            tables={},
            rejects=history.rejects,
            true_pd=NO_TRUTH.copy(),
            truth={},
            meta=history.meta,
            summary=history.summary,
        )
    return ingest_table(cfg.source, cfg.max_reject_fraction)


#: A lender's book has no truth: an empty, typed true-PD file.
NO_TRUTH = pd.DataFrame(
    {
        "account_id": pd.Series(dtype=str),
        "observation_date": pd.Series(dtype="datetime64[ns]"),
        "true_pd": pd.Series(dtype=float),
    }
)


def _check_reject_share(path: str, rows_in: int, rejected: int, limit: float) -> None:
    if rows_in and rejected / rows_in > limit:
        raise DataValidationError(
            path,
            f"{rejected} of {rows_in} rows failed validation, more than ingest.max_reject_fraction={limit}",
            hint="See the rejected rows and their rules in the log; fix the data or raise the limit.",
        )


def _summarise(
    tables: dict[str, tuple[int, pd.DataFrame | int, pd.DataFrame]],
) -> dict[str, Any]:
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
            "rows_kept": kept if isinstance(kept, int) else len(kept),
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


def ingest_synthetic(
    cfg: SyntheticConfig,
    max_reject_fraction: float,
    write: Callable[[str, pd.DataFrame], None] | None = None,
    definition: DefaultDefinition | None = None,
) -> IngestResult:
    """Generate the built-in book and validate its four tables against their contracts.

    Labels come from the statements by `definition` (`features.labels`, the deriver a lender's
    history uses; None: the generator's own, `generator_definition`): each snapshot the generator
    drew is kept when the definition labels it, and the summary reconciles the two by rule.

    The book is generated and validated block by block (`features.synthetic.iter_book`). With
    `write`, each block's validated tables go to `write(contract file, frame)` as they are made
    (the stage's bucketed writer) and `IngestResult.tables` stays empty, so memory is bounded by
    a block; without it the tables are concatenated into `IngestResult.tables`.
    """
    source = "synthetic"
    names = {
        RAW_CUSTOMERS.file: "customers",
        RAW_STATEMENTS.file: "statements",
        RAW_OBSERVATIONS.file: "observations",
        RAW_ATTRIBUTES.file: "attributes",
    }
    rows_in = dict.fromkeys(names, 0)
    kept = dict.fromkeys(names, 0)
    rejects: dict[str, list[pd.DataFrame]] = {file: [] for file in names}
    collected: dict[str, list[pd.DataFrame]] = {file: [] for file in names}
    true_pd: list[pd.DataFrame] = []
    effects: list[pd.DataFrame] = []
    stats: list[dict[str, Any]] = []
    macro = None
    definition = definition or generator_definition(cfg)
    last_month = int(month_number(np.array([np.datetime64(cfg.start_date)]))[0]) + cfg.months - 1
    label_frames: list[pd.DataFrame] = []
    for book in iter_book(cfg):
        book.observations, reconciled = relabel(book, definition, last_month)
        label_frames.append(reconciled)
        for file, table in _validate_block(book, source).items():
            frame, rejected, n_in = table
            rows_in[file] += n_in
            kept[file] += len(frame)
            if len(rejected):
                rejects[file].append(rejected)
            if write is None:
                collected[file].append(frame)
            else:
                write(file, frame)
        true_pd.append(book.true_pd)
        effects.append(book.effects)
        stats.append(book.stats)
        macro = book.macro if macro is None else macro
        del book
    tables = {
        names[file]: (rows_in[file], kept[file], _as_rejects(rejects[file])) for file in names
    }
    for name, (n_in, _, rejected) in tables.items():
        _check_reject_share(f"{source}:{name}", n_in, len(rejected), max_reject_fraction)
    book_stats = public_stats(merge_stats(stats))
    summary = _summarise(tables)
    summary.update(source=source, default_rate=book_stats["default_rate"])
    summary["labels"] = label_summary(label_frames, definition)
    meta = {
        "source": source,
        "files": [contract.file for contract in SOURCE_TABLES[source]],
        "id_column": "account_id",
        "protected_columns": [],
        "synthetic": asdict(cfg),
        "generator_stats": book_stats,
    }
    out_tables = {}
    if write is None:
        out_tables = {file: _concat(frames) for file, frames in collected.items()}
    return IngestResult(
        tables=out_tables,
        rejects=_as_rejects([t[2] for t in tables.values()]),
        true_pd=_concat(true_pd),
        truth={MACRO.file: macro, CUSTOMER_EFFECTS.file: _concat(effects)},
        meta=meta,
        summary=summary,
    )


def generator_definition(cfg: SyntheticConfig) -> DefaultDefinition:
    """The definition the generator draws its labels by: 90+ DPD within `outcome_months`, no
    materiality, no probation (`features.synthetic`)."""
    return DefaultDefinition(DEFAULT_DPD, cfg.outcome_months, 0.0, 0.0, 0)


def relabel(
    book: SyntheticBook, definition: DefaultDefinition, last_month: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The block's observations labelled by `definition` from its statements, and the
    reconciliation rows (observation date, drawn label, derived status) of its snapshots.

    A snapshot the definition does not label (in default, or censored) leaves the labelled
    rows; the current book keeps every account."""
    obs = book.observations
    labels = derive_labels(book.statements, obs, definition, last_month).frame
    current = obs["is_current"].to_numpy(bool)
    status = labels["status"].to_numpy()
    keep = current | np.isin(status, ("performing", "defaulted"))
    derived = labels["default"].to_numpy(dtype="float64", na_value=np.nan)
    relabelled = obs.assign(default=np.where(current, np.nan, derived))[keep]
    reconciled = pd.DataFrame(
        {
            "observation_date": obs["observation_date"].to_numpy()[~current],
            "drawn": obs["default"].to_numpy()[~current],
            "status": status[~current],
        }
    )
    return relabelled.reset_index(drop=True), reconciled


def label_summary(frames: list[pd.DataFrame], definition: DefaultDefinition) -> dict[str, Any]:
    """What reports/ingest.json says about the built-in book's labels: the definition, the
    counts per observation date, and how the generator's draws reconcile with the definition."""
    rows = pd.concat(frames, ignore_index=True)
    per_date = Labels(rows.assign(account_id=0, default=pd.NA)).counts()
    drawn = rows["drawn"].astype("float64").to_numpy()
    status = rows["status"].to_numpy()
    reconciliation = {
        "drawn_default_labelled_default": int(((drawn == 1) & (status == "defaulted")).sum()),
        "drawn_default_labelled_performing": int(((drawn == 1) & (status == "performing")).sum()),
        "drawn_performing_labelled_default": int(((drawn == 0) & (status == "defaulted")).sum()),
        "drawn_performing_labelled_performing": int(
            ((drawn == 0) & (status == "performing")).sum()
        ),
        "excluded_in_default": int((status == "in_default").sum()),
        "right_censored": int((status == "censored").sum()),
    }
    labelled = sum(d["labelled"] for d in per_date)
    defaulted = sum(d["defaulted"] for d in per_date)
    return {
        "source": "derived from the statements (the generator's snapshots)",
        "definition": definition.text("CNY"),
        "rules": definition.to_dict(),
        "by_date": per_date,
        "labelled": labelled,
        "defaulted": defaulted,
        "default_rate": defaulted / labelled if labelled else None,
        "reconciliation": reconciliation,
    }


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _validate_block(
    book: SyntheticBook, source: str
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, int]]:
    """One block's four tables validated: (kept rows, rejected rows, rows in) by contract file."""
    customers, rej_c = validate_table(book.customers, CUSTOMERS, f"{source}:customers")
    out = {RAW_CUSTOMERS.file: (customers, rej_c, len(book.customers))}
    keys = {"customers": pd.Index(customers["account_id"])}
    n_statements = len(book.statements)
    statements, rej_s = validate_table(book.statements, STATEMENTS, f"{source}:statements", keys)
    book.statements = statements  # drop the unvalidated copy: the book is the biggest object here
    out[RAW_STATEMENTS.file] = (statements, rej_s, n_statements)
    observations, rej_o = validate_table(
        book.observations, OBSERVATIONS, f"{source}:observations", keys
    )
    observations["default"] = observations["default"].astype("Int8")
    out[RAW_OBSERVATIONS.file] = (observations, rej_o, len(book.observations))
    attributes, rej_a = validate_table(book.attributes, ATTRIBUTES, f"{source}:attributes", keys)
    out[RAW_ATTRIBUTES.file] = (attributes, rej_a, len(book.attributes))
    return out


def ingest_table(cfg: TableConfig, max_reject_fraction: float) -> IngestResult:
    """Read the user's loan table, map its target/id/date and keep the usable rows."""
    raw, read_notes = load_table(cfg.path)
    table = standardise(raw, cfg, cfg.path)
    kept, rejects = table.kept, table.rejects
    _check_reject_share(cfg.path, len(raw), len(rejects), max_reject_fraction)
    summary = _summarise({"loans": (len(raw), kept, rejects)})
    summary.update(
        source="table",
        default_rate=float(kept["default"].mean()),
        # outcomes in neither positive_values nor negative_values: not rejects, not trained on
        rows_indeterminate=table.rows_indeterminate,
        target_values=table.target_values,
        date_format=table.date_format,
        # every value read other than as written (separator, missing tokens, "1,234"), by column
        parsing_notes=read_notes + table.notes,
    )
    meta = {
        "source": "table",
        "files": [RAW_LOANS.file],
        "id_column": "account_id",
        "input_path": cfg.path,
        "target_column": cfg.target_column,
        "has_dates": cfg.date_column is not None,
        "group_column": cfg.group_column,
        "protected_columns": list(cfg.protected_columns),
        "dropped_columns": [c for c in cfg.drop_columns if c in raw.columns],
    }
    return IngestResult(
        tables={RAW_LOANS.file: kept},
        rejects=_as_rejects([rejects]),
        true_pd=NO_TRUTH.copy(),
        truth={},
        meta=meta,
        summary=summary,
    )

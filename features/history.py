"""A lender's own repayment history (`data.source: history`): accounts + monthly statements in.

The lender brings an accounts file (one row per account) and a statements file (one row per
account per statement cycle), optionally a dated attributes file (credit limit, income band) and
a labels file; each is CSV or Parquet with the lender's own column names, mapped once
(`HistoryConfig.columns`: our name -> theirs). What comes out is the raw layout the built-in book
has (`core.contracts.RAW_*`, bucketed by account), so the behavioural engine, the collection
tiers and the monitor run on it unchanged:

- statements need only account_id, statement_date, days_past_due and outstanding_balance; every
  other column (`OPTIONAL_STATEMENT_FIELDS`) is used when the lender has it. A negative balance
  is a credit balance, valid data. One row per account per cycle: a repeated (account, date) is
  rejected, as is a statement of an account the accounts file does not know.
- accounts: the id, optionally an open date, credit limit, income band, time zone; the compliance
  flags where the lender has them (`flags`: a flag the lender does not have stops the run unless
  `flags_absent: assume_false`, recorded); `protected_columns` are kept for fairness reports as
  `protected__<name>`, never model inputs; every other column is a static feature the features
  stage types like a loan table's (unless in `drop_columns`).
- labels: from the labels file, or derived from the statements by the stated default definition
  (`features.labels`) at each observation date; the current book is every account with a
  statement in the month before `current_date` (default: the month after the last statement).

Every value is read as written and parsed on purpose: ids stay text (leading zeros and long ids
kept), one date format per column (inferred or `date_format`), plain numbers only. A row that
breaks a rule goes to the rejects with file, row (0-based data row), column and rule; a missing
required column stops the run naming the column and its mapping. Statements are read in blocks
and bucketed by account (two passes through a scratch directory), so memory is bounded by a
bucket, not the book.
"""

from __future__ import annotations

import csv
import logging
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.contracts import RAW_ATTRIBUTES, RAW_CUSTOMERS, RAW_OBSERVATIONS, RAW_STATEMENTS
from core.errors import DataValidationError, InvalidConfig
from core.partitions import PartitionedWriter, part_path
from features.labels import DefaultDefinition, Labels, derive_labels, month_number
from features.loan_table import (
    DELIMITERS,
    MISSING_TOKENS,
    TABLE_SUFFIXES,
    _check_duplicate_names,
    _open_text,
    infer_date_format,
    sniff_delimiter,
)

log = logging.getLogger(__name__)

#: Our column names a lender's file may carry, by file: (kind, required). Kinds: id, date, int,
#: float (any sign), amount (>= 0), text, flag.
ACCOUNT_FIELDS: dict[str, tuple[str, bool]] = {
    "account_id": ("id", True),
    "open_date": ("date", False),
    "credit_limit": ("amount", False),
    "income_band": ("text", False),
    "timezone": ("text", False),
}
STATEMENT_FIELDS: dict[str, tuple[str, bool]] = {
    "account_id": ("id", True),
    "statement_date": ("date", True),
    "days_past_due": ("int", True),
    "outstanding_balance": ("float", True),
    "paid_amount": ("amount", False),
    "bill_amount": ("amount", False),
    "min_due": ("amount", False),
    "overdue_amount": ("amount", False),
    "payment_date": ("date", False),
    "due_date": ("date", False),
    "credit_limit": ("amount", False),
    "instalment_plans": ("int", False),
}
ATTRIBUTE_FIELDS: dict[str, tuple[str, bool]] = {
    "account_id": ("id", True),
    "effective_date": ("date", True),
    "credit_limit": ("amount", False),
    "income_band": ("text", False),
}
LABEL_FIELDS: dict[str, tuple[str, bool]] = {
    "account_id": ("id", True),
    "observation_date": ("date", True),
    "default": ("label", True),
}
OPTIONAL_STATEMENT_FIELDS = tuple(k for k, (_, req) in STATEMENT_FIELDS.items() if not req)
#: Every name `columns` may map.
KNOWN_FIELDS = (
    frozenset(ACCOUNT_FIELDS) | set(STATEMENT_FIELDS) | set(ATTRIBUTE_FIELDS) | set(LABEL_FIELDS)
)
#: The compliance flags of the accounts (the collection policy's stop-contact inputs).
FLAGS = ("dispute", "hardship", "opt_out", "deceased")
FLAGS_ABSENT = ("refuse", "assume_false")
OVERDUE_WHEN_MISSING = ("refuse", "outstanding_balance")
#: Rows per block read from a statements file (a block is parsed and bucketed, then freed).
BLOCK_ROWS = 1_000_000
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


@dataclass(frozen=True)
class ObservationSchedule:
    """When accounts are observed for labels: given dates, or every `every_months` months."""

    dates: tuple[date, ...] = ()
    every_months: int | None = None

    def __post_init__(self) -> None:
        if bool(self.dates) == (self.every_months is not None):
            raise InvalidConfig("observation_dates", "give either a list of dates or every_months")
        if self.every_months is not None and not 1 <= self.every_months <= 24:
            raise InvalidConfig(
                "observation_dates.every_months", "must be 1 to 24", self.every_months
            )


@dataclass(frozen=True)
class HistoryConfig:
    """`data.history` (see the module doc); paths are repo-relative, every value stated."""

    accounts: Path
    statements: Path
    attributes: Path | None
    labels: Path | None
    columns: Mapping[str, str]
    date_format: str | None
    currency: str
    fx_to_policy: float | None
    protected_columns: tuple[str, ...]
    drop_columns: tuple[str, ...]
    flags: Mapping[str, str | None]
    flags_absent: str
    observation_dates: ObservationSchedule | None
    default_definition: DefaultDefinition
    current_date: date | None
    overdue_when_missing: str
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("accounts", "statements", "attributes", "labels"):
            path = getattr(self, name)
            if path is not None and Path(path).suffix.lower() not in TABLE_SUFFIXES:
                raise InvalidConfig(name, "must be a .csv, .csv.gz or .parquet file", str(path))
        unknown = sorted(set(self.columns) - KNOWN_FIELDS)
        if unknown:
            raise InvalidConfig(
                "columns",
                f"maps names the history source does not know: {unknown} "
                f"(known: {sorted(KNOWN_FIELDS)})",
            )
        theirs = [c for c in self.columns.values()]
        repeated = sorted({c for c in theirs if theirs.count(c) > 1})
        if repeated:
            raise InvalidConfig("columns", f"maps two of our names to one column {repeated}")
        if sorted(self.flags) != sorted(FLAGS):
            raise InvalidConfig(
                "flags", f"must name exactly the flags {list(FLAGS)}", dict(self.flags)
            )
        if self.flags_absent not in FLAGS_ABSENT:
            raise InvalidConfig(
                "flags_absent", f"must be one of {list(FLAGS_ABSENT)}", self.flags_absent
            )
        if self.overdue_when_missing not in OVERDUE_WHEN_MISSING:
            raise InvalidConfig(
                "overdue_when_missing",
                f"must be one of {list(OVERDUE_WHEN_MISSING)}",
                self.overdue_when_missing,
            )
        if not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise InvalidConfig("currency", "must be a 3-letter ISO 4217 code", self.currency)
        if self.fx_to_policy is not None and not 0 < self.fx_to_policy < 1e6:
            raise InvalidConfig("fx_to_policy", "must be a positive rate", self.fx_to_policy)
        if self.labels is None and self.observation_dates is None:
            raise InvalidConfig(
                "observation_dates",
                "is needed when labels is null (the dates at which labels are derived)",
            )
        overlap = set(self.protected_columns) & set(self.drop_columns)
        if overlap:
            raise InvalidConfig("protected_columns", "must not also be dropped", sorted(overlap))
        if self.date_format is not None and "%" not in self.date_format:
            raise InvalidConfig("date_format", "must be a strftime format", self.date_format)

    def their(self, name: str) -> str:
        """The lender's column for our `name` (the same name when not mapped)."""
        return self.columns.get(name, name)

    @property
    def account_mapping(self) -> dict[str, str]:
        """`columns` plus the mapped flags: our name -> the accounts file's column."""
        return {**self.columns, **{f: c for f, c in self.flags.items() if c is not None}}


# ----------------------------------------------------------------------------------------------
# Reading a file in blocks, as text
# ----------------------------------------------------------------------------------------------


def _check_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise DataValidationError(
            str(path), "file not found", hint=f"Check data.history.{what} in params.yaml."
        )


def file_columns(path: Path) -> list[str]:
    """The column names of a CSV (its header) or Parquet file; a repeated name stops the run."""
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
    else:
        with _open_text(path) as fh:
            header = fh.readline().rstrip("\r\n")
        names = next(csv.reader([header], delimiter=sniff_delimiter(header)), [])
    _check_duplicate_names([str(n) for n in names], str(path))
    return [str(n) for n in names]


def read_blocks(
    path: Path, columns: list[str], block_rows: int = BLOCK_ROWS
) -> Iterator[tuple[int, pa.Table]]:
    """(first row, block) of `columns` of a CSV or Parquet file, in file order, as Arrow tables.

    CSV cells are read as text exactly as written (only an empty cell is missing), by Arrow's
    multithreaded reader in blocks of about 64 MiB; Parquet keeps its types. Rows are numbered
    from 0 in the file's data rows."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    offset = 0
    if path.suffix.lower() in (".parquet", ".pq"):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=block_rows, columns=columns):
            table = pa.Table.from_batches([batch])
            yield offset, table
            offset += table.num_rows
        return
    with _open_text(path) as fh:
        sep = sniff_delimiter(fh.readline().rstrip("\r\n"))
    if sep != ",":
        log.info("%s: read as %s-separated (detected from the header)", path, DELIMITERS[sep])
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=64 << 20, use_threads=True),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns,
                column_types=dict.fromkeys(columns, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        for batch in reader:
            table = pa.Table.from_batches([batch])
            yield offset, table
            offset += table.num_rows
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise DataValidationError(
            str(path), f"could not be read as a table ({type(exc).__name__}: {exc})"
        ) from None


# ----------------------------------------------------------------------------------------------
# Typed values, with a rule for every value that cannot be read
# ----------------------------------------------------------------------------------------------


@dataclass
class Rejects:
    """Rejected rows of one file: 0-based data row, column and rule (first rule broken)."""

    path: str
    rows: list[np.ndarray] = field(default_factory=list)
    columns: list[np.ndarray] = field(default_factory=list)
    rules: list[np.ndarray] = field(default_factory=list)

    def add(self, rows: np.ndarray, column: str, rule: str) -> None:
        if len(rows):
            self.rows.append(np.asarray(rows, dtype=np.int64))
            self.columns.append(np.full(len(rows), column, dtype=object))
            self.rules.append(np.full(len(rows), rule, dtype=object))

    @property
    def count(self) -> int:
        return int(sum(len(r) for r in self.rows))

    def frame(self) -> pd.DataFrame:
        if not self.rows:
            return pd.DataFrame({"_file": [], "_row": [], "_column": [], "_rule": []}).astype(
                "string"
            )
        rows = np.concatenate(self.rows)
        order = np.argsort(rows, kind="stable")
        return pd.DataFrame(
            {
                "_file": self.path,
                "_row": rows[order].astype(str),
                "_column": np.concatenate(self.columns)[order],
                "_rule": np.concatenate(self.rules)[order],
            }
        ).astype("string")

    def by_rule(self, table: str) -> dict[str, int]:
        f = self.frame()
        if f.empty:
            return {}
        counts = f.groupby(["_column", "_rule"]).size()
        return {f"{table}: {col}: {rule}": int(n) for (col, rule), n in counts.items()}


_TOKENS = pa.array(sorted(MISSING_TOKENS), type=pa.string())
_PLAIN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def _text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Cells as stripped text; missing tokens (`MISSING_TOKENS`) and blanks as missing."""
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.string())
    text = pc.utf8_trim_whitespace(col)
    missing = pc.or_kleene(pc.equal(text, ""), pc.is_in(pc.utf8_lower(text), value_set=_TOKENS))
    return pc.if_else(pc.fill_null(missing, False), pa.scalar(None, pa.string()), text)


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def parse_column(
    col: pa.ChunkedArray, kind: str, name: str, date_format: str | None, path: str
) -> tuple[pa.ChunkedArray, np.ndarray, str, str | None]:
    """Typed values of one column: (values, mask of values that cannot be read, the rule they
    break, the date format used). Missing values are not flagged here (`FileReading.typed`).

    Text is parsed on purpose, never coerced: plain numbers only ("1,234", "1.234,5", "12%" are
    rejected), one date format per column, flags true/false (1/0, yes/no), labels 0/1."""
    n = len(col)
    none = np.zeros(n, bool)
    typ = col.type
    if kind == "id":
        if pa.types.is_floating(typ):  # a Parquet float id: 7.0 is not how an id is written
            values = col.to_numpy(zero_copy_only=False).astype("float64")
            bad = ~np.isnan(values) & (values != np.round(values))
            whole = pc.cast(pc.if_else(pa.array(bad), None, col), pa.int64(), safe=False)
            return (
                pc.cast(whole, pa.string()),
                bad,
                "an id must be whole when stored as a number",
                None,
            )
        return _text(col), none, "", None
    if kind == "date":
        if pa.types.is_timestamp(typ) or pa.types.is_date(typ):
            return pc.cast(col, pa.timestamp("ns")), none, "", None
        text = _text(col)
        fmt = date_format or infer_date_format(
            pd.Series(text.slice(0, 100_000).to_pandas()), name, path
        )
        dates = pc.strptime(text, format=fmt, unit="ns", error_is_null=True)
        bad = _mask(pc.and_(pc.is_valid(text), pc.is_null(dates)))
        return dates, bad, f"not a date in the column's format {fmt!r}", fmt
    if kind in ("int", "float", "amount"):
        if pa.types.is_boolean(typ):
            return (
                pc.cast(col, pa.float64()),
                np.ones(n, bool),
                "a true/false value is not a number",
                None,
            )
        if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
            values = pc.cast(col, pa.float64())
            bad = none.copy()
        else:
            text = _text(col)
            plain = pc.match_substring_regex(text, _PLAIN)
            bad = _mask(pc.and_(pc.is_valid(text), pc.invert(pc.fill_null(plain, False))))
            values = pc.cast(pc.if_else(pc.fill_null(plain, False), text, None), pa.float64())
            if bad.any():  # "1,234", "1.234,5", "12%", "¥5": never guessed
                return values, bad, "not a plain number (digits, one '.', no separators)", None
        v = values.to_numpy(zero_copy_only=False).astype("float64")
        bad |= np.isinf(v)
        if bad.any():
            return values, bad, "not a finite number", None
        if kind == "int":
            whole = np.isnan(v) | (v == np.round(v))
            return values, ~whole | (v < 0), "must be a whole number >= 0", None
        if kind == "amount":
            return values, v < 0, "must be >= 0", None
        return values, bad, "", None
    if kind == "flag":
        if pa.types.is_boolean(typ):
            return col, none, "", None
        text = pc.utf8_lower(_text(col))
        true = pc.is_in(text, value_set=pa.array(sorted(_TRUE)))
        false = pc.is_in(text, value_set=pa.array(sorted(_FALSE)))
        values = pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))
        bad = _mask(pc.and_(pc.is_valid(text), pc.is_null(values)))
        return values, bad, "a flag must be true/false (or 1/0, yes/no)", None
    if kind == "label":
        text = _text(col) if not pa.types.is_integer(typ) else pc.cast(col, pa.string())
        mapping = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}
        series = pd.Series(pc.utf8_lower(text).to_pandas(), dtype="object").map(mapping)
        present = _mask(pc.is_valid(text))
        bad = present & series.isna().to_numpy(bool)
        return (
            pa.chunked_array([pa.array(series, type=pa.int8(), from_pandas=True)]),
            bad,
            ("a label must be 0 or 1"),
            None,
        )
    return _text(col), none, "", None


@dataclass
class FileReading:
    """How one file was read: its mapping and the date format chosen per date column."""

    path: Path
    fields: dict[str, tuple[str, bool]]  # our name -> (kind, required), present in the file
    theirs: dict[str, str]  # our name -> the file's column
    extra: list[str] = field(default_factory=list)  # the file's other columns, kept as read
    date_formats: dict[str, str] = field(default_factory=dict)

    def typed(
        self, block: pa.Table, offset: int, rejects: Rejects, cfg_date_format: str | None
    ) -> pd.DataFrame:
        """The block under our names, typed; rejected rows removed (recorded in `rejects`)."""
        n = block.num_rows
        bad_row = np.zeros(n, bool)
        out: dict[str, pa.ChunkedArray] = {}
        for name, (kind, required) in self.fields.items():
            theirs = self.theirs[name]
            fmt = self.date_formats.get(name, cfg_date_format)
            values, bad, rule, used = parse_column(
                block.column(theirs), kind, theirs, fmt, str(self.path)
            )
            if used is not None:
                self.date_formats[name] = used
            if required:
                missing = _mask(pc.is_null(values)) & ~bad
                rejects.add(
                    np.flatnonzero(missing & ~bad_row) + offset,
                    theirs,
                    "missing value in a required column",
                )
                bad_row |= missing
            rejects.add(np.flatnonzero(bad & ~bad_row) + offset, theirs, rule)
            bad_row |= bad
            out[name] = values
        keep = pa.array(~bad_row)
        columns = {name: pc.filter(values, keep) for name, values in out.items()}
        for column in self.extra:
            columns[column] = pc.filter(block.column(column), keep)
        kept = int((~bad_row).sum())
        frame = pa.table(columns).to_pandas() if columns else pd.DataFrame(index=range(kept))
        frame["_row"] = np.flatnonzero(~bad_row).astype(np.int64) + offset
        for name, (kind, _) in self.fields.items():
            values = frame[name]
            if kind == "int":  # whole numbers (checked above): int64, Int64 where some are missing
                frame[name] = values.astype("Int64" if values.isna().any() else "int64")
            elif kind == "id":
                frame[name] = values.astype("str")
            elif kind == "flag":
                frame[name] = values.astype("boolean")
            elif kind == "label":
                frame[name] = values.astype("Int8")
            elif kind == "date":
                frame[name] = values.astype("datetime64[ns]")
        return frame


def plan_reading(
    path: Path,
    fields: Mapping[str, tuple[str, bool]],
    mapping: Mapping[str, str],
    what: str,
    drop: tuple[str, ...] = (),
    keep_extra: bool = False,
    reserved: frozenset[str] = frozenset(),
) -> FileReading:
    """Which of our fields the file holds, under which of its columns; a required field whose
    column is missing stops the run, naming the column and the mapping that points to it."""
    _check_file(path, what)
    present = file_columns(path)
    have = set(present)
    found: dict[str, tuple[str, bool]] = {}
    theirs: dict[str, str] = {}
    for name, (kind, required) in fields.items():
        column = mapping.get(name, name)
        if column in have:
            found[name], theirs[name] = (kind, required), column
        elif required:
            mapped = (
                f"data.history.columns.{name}: {column}"
                if name in mapping
                else f"unmapped: add data.history.columns.{name}: <the file's column>"
            )
            raise DataValidationError(
                str(path),
                f"required column is missing ({mapped}; the file has {present[:20]})",
                column=column,
            )
    extra: list[str] = []
    if keep_extra:
        used = set(theirs.values()) | reserved
        extra = [c for c in present if c not in used and c not in drop]
    return FileReading(path, found, theirs, extra)


# ----------------------------------------------------------------------------------------------
# The history source
# ----------------------------------------------------------------------------------------------


@dataclass
class HistoryResult:
    """What ingest writes for a history book, beside the bucketed tables it wrote."""

    rejects: pd.DataFrame
    meta: dict[str, Any]
    summary: dict[str, Any]


def _bad_share(path: str, rows_in: int, rejected: int, limit: float) -> None:
    if rows_in and rejected / rows_in > limit:
        raise DataValidationError(
            path,
            f"{rejected} of {rows_in} rows failed validation, more than "
            f"ingest.max_reject_fraction={limit}",
            hint="See data/raw/rejects.parquet for each row's file, row, column and rule.",
        )


def read_accounts(
    cfg: HistoryConfig,
) -> tuple[pd.DataFrame, Rejects, int, FileReading, dict[str, Any]]:
    """The accounts table under our names (customers layout), its rejects, rows in, the reading
    and what was decided about the flags."""
    reserved = frozenset(
        {cfg.their("account_id")}
        | {c for c in cfg.flags.values() if c}
        | set(cfg.protected_columns)
    )
    fields = dict(ACCOUNT_FIELDS)
    for flag, column in cfg.flags.items():
        if column is not None:
            fields[flag] = ("flag", True)
    reading = plan_reading(
        cfg.accounts,
        fields,
        cfg.account_mapping,
        "accounts",
        drop=cfg.drop_columns,
        keep_extra=True,
        reserved=reserved,
    )
    missing_protected = [c for c in cfg.protected_columns if c not in file_columns(cfg.accounts)]
    if missing_protected:
        raise DataValidationError(
            str(cfg.accounts),
            "a column named in data.history.protected_columns is missing",
            column=missing_protected[0],
        )
    absent = [f for f, c in cfg.flags.items() if c is None]
    flags_doc: dict[str, Any] = {
        "mapped": {f: c for f, c in cfg.flags.items() if c is not None},
        "absent": absent,
        "flags_absent": cfg.flags_absent,
    }
    if absent and cfg.flags_absent == "refuse":
        raise DataValidationError(
            str(cfg.accounts),
            f"the lender's accounts have no {absent[0]!r} flag (data.history.flags.{absent[0]}: "
            "null): compliance flags are never guessed",
            column=absent[0],
            hint="Map the flag to its column, or set data.history.flags_absent: assume_false to "
            "record that the lender has no such flag (every report and the model card say so).",
        )
    rejects = Rejects(str(cfg.accounts))
    frames = []
    rows_in = 0
    protected = list(cfg.protected_columns)
    reading.extra = [c for c in reading.extra if c not in protected]
    for offset, block in read_blocks(
        cfg.accounts, [*reading.theirs.values(), *protected, *reading.extra]
    ):
        rows_in += block.num_rows
        typed = reading.typed(block, offset, rejects, cfg.date_format)
        positions = typed["_row"].to_numpy() - offset
        for column in protected:
            values = block.column(column).to_pandas().astype("string")
            typed[f"protected__{column}"] = values.to_numpy()[positions]
        frames.append(typed)
    accounts = pd.concat(frames) if frames else pd.DataFrame()
    if accounts.empty:
        raise DataValidationError(str(cfg.accounts), "no usable account rows")
    dup = accounts["account_id"].duplicated(keep="first").to_numpy()
    rejects.add(accounts["_row"].to_numpy()[dup], cfg.their("account_id"), "duplicate account id")
    accounts = accounts.loc[~dup]
    for flag in absent:  # flags_absent: assume_false, recorded
        accounts[flag] = False
    for flag in FLAGS:
        accounts[flag] = accounts[flag].astype(bool)
    accounts = accounts.rename(columns={"open_date": "signup_date"})
    return (
        accounts.drop(columns="_row").reset_index(drop=True),
        rejects,
        rows_in,
        reading,
        flags_doc,
    )


def _dated_table(
    path: Path,
    fields: Mapping[str, tuple[str, bool]],
    cfg: HistoryConfig,
    what: str,
    known: pd.Index,
    key: tuple[str, str],
    scratch: Path,
    name: str,
    partitions: int,
) -> tuple[Rejects, int, FileReading]:
    """First pass over a per-account dated file (statements, attributes, labels): read in blocks,
    type, drop rows of unknown accounts, bucket into `scratch/<name>` by account. Duplicates of
    `key` are found per bucket in `finish_bucket` (all rows of an account share a bucket)."""
    reading = plan_reading(path, fields, cfg.columns, what)
    rejects = Rejects(str(path))
    rows_in = 0
    known_ids = pa.array(known.to_numpy(dtype=object), type=pa.string())
    with PartitionedWriter(scratch, partitions) as writer:
        for offset, block in read_blocks(path, list(reading.theirs.values())):
            rows_in += block.num_rows
            typed = reading.typed(block, offset, rejects, cfg.date_format)
            unknown = ~pc.is_in(
                pa.array(typed["account_id"].to_numpy(dtype=object)), value_set=known_ids
            ).to_numpy(zero_copy_only=False)
            rejects.add(
                typed["_row"].to_numpy()[unknown],
                reading.theirs["account_id"],
                "account id not in the accounts file",
            )
            writer.write(name, typed.loc[~unknown])
    return rejects, rows_in, reading


def finish_bucket(
    frame: pd.DataFrame, key: tuple[str, str], rejects: Rejects, column: str
) -> pd.DataFrame:
    """One bucket of a dated table in (account, date) order, each key once (the first row in the
    file wins; the others are rejected)."""
    frame = frame.sort_values(["account_id", key[1], "_row"], kind="stable")
    dup = frame.duplicated(subset=list(key), keep="first").to_numpy()
    rejects.add(frame["_row"].to_numpy()[dup], column, f"duplicate ({', '.join(key)})")
    return frame.loc[~dup].drop(columns="_row").reset_index(drop=True)


def observation_dates(
    schedule: ObservationSchedule, first_month: int, current: pd.Timestamp
) -> list[pd.Timestamp]:
    """Labelled observation dates: the schedule's dates (each must fall before the current
    book's date), or every k months from the first month after the data starts."""
    if schedule.dates:
        dates = sorted(pd.Timestamp(d) for d in schedule.dates)
        late = [d for d in dates if d >= current]
        if late:
            raise DataValidationError(
                "data.history.observation_dates",
                f"date {late[0].date()} is not before the current book's date {current.date()}",
            )
        return dates
    k = int(schedule.every_months or 1)
    start = first_month + k
    months = range(start, month_number(np.array([current.to_datetime64()]))[0], k)
    return [pd.Timestamp(year=m // 12, month=m % 12 + 1, day=1) for m in months]


def _observe(
    statements: pd.DataFrame, dates: list[pd.Timestamp], current: pd.Timestamp
) -> pd.DataFrame:
    """The accounts observed at each date: those with a statement in the month before it (open
    and active then). The current book's rows come last (`is_current`)."""
    months = month_number(statements["statement_date"])
    rows = []
    for d in [*dates, current]:
        m = month_number(np.array([d.to_datetime64()]))[0]
        ids = pd.unique(statements["account_id"].to_numpy()[months == m - 1])
        rows.append(
            pd.DataFrame({"account_id": ids, "observation_date": d, "is_current": d == current})
        )
    return pd.concat(rows, ignore_index=True)


def _current_date(cfg: HistoryConfig, last_month: int) -> pd.Timestamp:
    """The current book's date: `current_date`, or the first day after the last statement month."""
    if cfg.current_date is not None:
        return pd.Timestamp(cfg.current_date)
    m = last_month + 1
    return pd.Timestamp(year=m // 12, month=m % 12 + 1, day=1)


def _statement_range(scratch: Path, partitions: int) -> tuple[int, int]:
    """First and last statement month of the whole book (read from the first pass's buckets)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    lo, hi = None, None
    for p in range(partitions):
        path = part_path(scratch, RAW_STATEMENTS.file, p)
        if not path.is_file():
            continue
        col = pq.read_table(path, columns=["statement_date"]).column("statement_date")
        if len(col) == 0:
            continue
        mm = pc.min_max(col).as_py()
        lo = mm["min"] if lo is None or mm["min"] < lo else lo
        hi = mm["max"] if hi is None or mm["max"] > hi else hi
    if lo is None:
        raise DataValidationError(RAW_STATEMENTS.file, "no usable statement rows")
    as_months = month_number(np.array([lo, hi], dtype="datetime64[ns]"))
    return int(as_months[0]), int(as_months[1])


def check_mapping_used(cfg: HistoryConfig, readings: list[FileReading]) -> None:
    """Every name `columns` maps must be a column of some file it can belong to: a mapping that
    points nowhere is a typo, never ignored."""
    used = {name for reading in readings for name in reading.theirs}
    unused = [name for name in cfg.columns if name not in used]
    if unused:
        name = unused[0]
        files = ", ".join(str(r.path) for r in readings)
        raise DataValidationError(
            files,
            f"data.history.columns.{name}: {cfg.columns[name]} names a column no file has",
            column=cfg.columns[name],
        )


def ingest_history(
    cfg: HistoryConfig,
    max_reject_fraction: float,
    write: Callable[[str, pd.DataFrame], None],
    scratch: Path,
    partitions: int,
) -> HistoryResult:
    """Read, validate and bucket a lender's history (see the module doc); each finished bucket
    of every table goes to `write(contract file, frame)`. `scratch` is an empty directory for
    the first pass (removed here)."""
    accounts, acc_rejects, acc_in, acc_reading, flags_doc = read_accounts(cfg)
    known = pd.Index(accounts["account_id"])
    write(RAW_CUSTOMERS.file, accounts)
    statements_rejects, st_in, st_reading = _dated_table(
        cfg.statements,
        STATEMENT_FIELDS,
        cfg,
        "statements",
        known,
        ("account_id", "statement_date"),
        scratch,
        RAW_STATEMENTS.file,
        partitions,
    )
    attr_rejects, attr_in, attr_reading = Rejects(str(cfg.attributes)), 0, None
    if cfg.attributes is not None:
        attr_rejects, attr_in, attr_reading = _dated_table(
            cfg.attributes,
            ATTRIBUTE_FIELDS,
            cfg,
            "attributes",
            known,
            ("account_id", "effective_date"),
            scratch,
            RAW_ATTRIBUTES.file,
            partitions,
        )
    label_rejects, label_in = Rejects(str(cfg.labels)), 0
    if cfg.labels is not None:
        label_rejects, label_in, _ = _dated_table(
            cfg.labels,
            LABEL_FIELDS,
            cfg,
            "labels",
            known,
            ("account_id", "observation_date"),
            scratch,
            RAW_OBSERVATIONS.file,
            partitions,
        )
    readings = [acc_reading, st_reading] + ([attr_reading] if attr_reading else [])
    if cfg.labels is not None:
        readings.append(plan_reading(cfg.labels, LABEL_FIELDS, cfg.columns, "labels"))
    check_mapping_used(cfg, readings)
    first_month, last_month = _statement_range(scratch, partitions)
    current = _current_date(cfg, last_month)
    dates = (
        observation_dates(cfg.observation_dates, first_month, current)
        if cfg.observation_dates is not None
        else []
    )
    definition = cfg.default_definition
    derived = cfg.labels is None
    if derived and definition.needs_amounts and "overdue_amount" not in st_reading.fields:
        raise DataValidationError(
            str(cfg.statements),
            "the default definition has a materiality threshold but the statements have no "
            "overdue amount",
            column=cfg.their("overdue_amount"),
            hint="Map the overdue-amount column or set materiality_abs and materiality_rel to 0.",
        )
    counts: list[pd.DataFrame] = []
    st_column = st_reading.theirs["account_id"]
    for p in range(partitions):
        statements = _read_scratch(scratch, RAW_STATEMENTS.file, p)
        statements = finish_bucket(
            statements, ("account_id", "statement_date"), statements_rejects, st_column
        )
        observed = _observe(statements, dates, current) if derived else None
        if derived:
            labels = derive_labels(statements, observed, definition, last_month)
            status = labels.frame["status"].to_numpy()
            current_rows = observed["is_current"].to_numpy(bool)
            keep = current_rows | np.isin(status, ("performing", "defaulted"))
            observations = observed.assign(default=labels.frame["default"].to_numpy())[keep]
            counts.append(labels.frame.loc[~current_rows, ["observation_date", "status"]])
        else:
            given = _read_scratch(scratch, RAW_OBSERVATIONS.file, p)
            given = finish_bucket(
                given, ("account_id", "observation_date"), label_rejects, cfg.their("account_id")
            )
            book = _observe(statements, [], current)
            observations = pd.concat(
                [given.assign(is_current=False), book.assign(default=pd.NA)], ignore_index=True
            )
            counts.append(
                given.assign(
                    status=np.where(
                        given["default"].to_numpy(dtype="float64") == 1, "defaulted", "performing"
                    )
                )[["observation_date", "status"]]
            )
        observations["default"] = observations["default"].astype("Int8")
        write(
            RAW_OBSERVATIONS.file,
            observations[["account_id", "observation_date", "default", "is_current"]],
        )
        write(RAW_STATEMENTS.file, statements)
        if attr_reading is not None:
            attributes = finish_bucket(
                _read_scratch(scratch, RAW_ATTRIBUTES.file, p),
                ("account_id", "effective_date"),
                attr_rejects,
                attr_reading.theirs["account_id"],
            )
            write(RAW_ATTRIBUTES.file, attributes)
        del statements
    if attr_reading is None:  # no dated attributes: an empty table, the customers' values hold
        write(
            RAW_ATTRIBUTES.file,
            pd.DataFrame(
                {
                    "account_id": pd.Series(dtype="string"),
                    "effective_date": pd.Series(dtype="datetime64[ns]"),
                }
            ),
        )
    shutil.rmtree(scratch, ignore_errors=True)

    tables = {
        "accounts": (acc_in, acc_rejects),
        "statements": (st_in, statements_rejects),
        "attributes": (attr_in, attr_rejects),
        "labels": (label_in, label_rejects),
    }
    for n_in, rej in tables.values():
        _bad_share(str(rej.path), n_in, rej.count, max_reject_fraction)
    label_doc = _label_summary(cfg, derived, counts, dates, current)
    summary = {
        "source": "history",
        "tables": {
            name: {"rows_in": n, "rows_kept": n - rej.count, "rows_rejected": rej.count}
            for name, (n, rej) in tables.items()
            if n
        },
        "rows_in": sum(n for n, _ in tables.values()),
        "rows_rejected": sum(rej.count for _, rej in tables.values()),
        "rejected_by_rule": {
            k: v for name, (_, rej) in tables.items() for k, v in rej.by_rule(name).items()
        },
        "currency": cfg.currency,
        "fx_to_policy": cfg.fx_to_policy,
        "flags": flags_doc,
        "columns": {
            "accounts": acc_reading.theirs,
            "statements": st_reading.theirs,
            "attributes": attr_reading.theirs if attr_reading else None,
            "static_features": acc_reading.extra,
            "protected": list(cfg.protected_columns),
            "optional_statement_columns_missing": [
                c for c in OPTIONAL_STATEMENT_FIELDS if c not in st_reading.fields
            ],
        },
        "date_formats": {
            "accounts": acc_reading.date_formats,
            "statements": st_reading.date_formats,
        },
        "current_date": str(current.date()),
        "labels": label_doc,
        "overdue_when_missing": cfg.overdue_when_missing,
    }
    summary["rows_kept"] = summary["rows_in"] - summary["rows_rejected"]
    summary["default_rate"] = label_doc["default_rate"]
    meta = {
        "source": "history",
        "files": [
            RAW_CUSTOMERS.file,
            RAW_STATEMENTS.file,
            RAW_OBSERVATIONS.file,
            RAW_ATTRIBUTES.file,
        ],
        "id_column": "account_id",
        "protected_columns": [f"protected__{c}" for c in cfg.protected_columns],
        "static_columns": acc_reading.extra,
        "currency": cfg.currency,
        "fx_to_policy": cfg.fx_to_policy,
        "label_definition": label_doc["definition"],
        "overdue_when_missing": cfg.overdue_when_missing,
        "flags_assumed_false": flags_doc["absent"],
    }
    rejects = pd.concat([rej.frame() for _, rej in tables.values()], ignore_index=True).astype(
        "string"
    )
    return HistoryResult(rejects=rejects, meta=meta, summary=summary)


def _read_scratch(scratch: Path, file: str, partition: int) -> pd.DataFrame:
    path = part_path(scratch, file, partition)
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame()


def _label_summary(
    cfg: HistoryConfig,
    derived: bool,
    counts: list[pd.DataFrame],
    dates: list[pd.Timestamp],
    current: pd.Timestamp,
) -> dict[str, Any]:
    """The label definition and, when derived, the counts per observation date."""
    definition = cfg.default_definition
    doc: dict[str, Any] = {
        "source": "derived from the statements" if derived else f"labels file {cfg.labels}",
        "definition": definition.text(cfg.currency)
        if derived
        else f"the lender's own definition of default, labelled in {cfg.labels}",
        "rules": definition.to_dict() if derived else None,
        "current_date": str(current.date()),
    }
    frame = (
        pd.concat(counts, ignore_index=True)
        if counts
        else pd.DataFrame({"observation_date": pd.Series(dtype="datetime64[ns]"), "status": []})
    )
    per_date = Labels(frame.assign(account_id=0, default=pd.NA)).counts()
    doc["by_date"] = per_date
    labelled = sum(d["labelled"] for d in per_date)
    defaulted = sum(d["defaulted"] for d in per_date)
    doc["labelled"], doc["defaulted"] = labelled, defaulted
    doc["excluded_in_default"] = sum(d["in_default"] for d in per_date)
    doc["right_censored"] = sum(d["censored"] for d in per_date)
    doc["default_rate"] = defaulted / labelled if labelled else None
    if not labelled:
        raise DataValidationError(
            str(cfg.statements if derived else cfg.labels),
            "no observation could be labelled: every date is censored or in default "
            f"(dates {[str(d.date()) for d in dates][:6]}, horizon "
            f"{definition.horizon_months} months, data until the current date {current.date()})",
        )
    return doc

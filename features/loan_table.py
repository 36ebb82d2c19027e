"""Bring-your-own loan table: read one CSV/Parquet file of one row per loan and standardise it.

The output keeps the user's columns (minus `drop_columns`), renames the id to `account_id`, the
date (if any) to `observation_date`, the borrower group (if any) to `group_id`, and maps the
target to `default` (0/1). Rows that cannot be used are kept in a rejects table with the rule they
broke. Nothing is coerced silently: a value read other than as written (a missing-value token,
a thousands separator) leaves a note in the ingest summary, and a value that does not fit its
column's single date format or the model's float32 range is rejected, never guessed.
"""

from __future__ import annotations

import csv
import gzip
import logging
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pyarrow import ArrowException

from core.errors import DataValidationError, InvalidConfig

log = logging.getLogger(__name__)

GROUP = "group_id"
RESERVED = ("account_id", "observation_date", "default", "split", GROUP)
TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".gz")
#: Separators a CSV header is checked for; the most frequent one is used (and noted if not ",").
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: Text read as missing (case-insensitive, trimmed), deliberately: each column where it occurs
#: gets a note in the ingest summary. Only the empty cell is missing without a note.
MISSING_TOKENS = frozenset({"na", "n/a", "nan", "null", "none", "#n/a", "nil"})
#: Date formats tried when `data.table.date_format` is null; one format is chosen per column.
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%d.%m.%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m",
    "%b-%Y",
    "%b %Y",
    "%d %b %Y",
)
#: Largest magnitude a model feature can hold (features are float32).
FLOAT32_MAX = float(np.finfo(np.float32).max)
_THOUSANDS = re.compile(r"^[+-]?[¥$€£]?\s?\d{1,3}(,\d{3})+(\.\d+)?$")
_CURRENCY = re.compile(r"^([+-]?)[¥$€£]\s?")


@dataclass(frozen=True)
class TableConfig:
    """Where the user's loan table is and what its columns mean; no defaults (params.yaml has them).

    `positive_values`, `negative_values`, `id_column`, `date_column`, `date_format` and
    `group_column` are None when not used: then the target must already be 0/1 (or, with
    positive_values but no negative_values, every other value is a non-default), ids are
    generated, there is no out-of-time split, the date format is inferred per column, and rows
    are split one by one rather than by borrower.
    """

    path: str
    target_column: str
    positive_values: tuple[str, ...] | None
    negative_values: tuple[str, ...] | None
    id_column: str | None
    date_column: str | None
    date_format: str | None
    group_column: str | None
    drop_columns: tuple[str, ...]
    protected_columns: tuple[str, ...]

    def __post_init__(self) -> None:
        if Path(self.path).suffix.lower() not in TABLE_SUFFIXES:
            raise InvalidConfig("path", "must be a .csv or .parquet file", self.path)
        overlap = set(self.drop_columns) & set(self.protected_columns)
        if overlap:
            raise InvalidConfig(
                "protected_columns", "must not also be listed in drop_columns", sorted(overlap)
            )
        roles = {"target_column": self.target_column}
        for role in ("id_column", "date_column", "group_column"):
            name = getattr(self, role)
            if name is None:
                continue
            same = [r for r, c in roles.items() if c == name]
            if same:
                raise InvalidConfig(role, f"must name a different column from {same[0]}", name)
            roles[role] = name
        for listing in ("drop_columns", "protected_columns"):
            clash = sorted(set(getattr(self, listing)) & set(roles.values()))
            if clash:
                raise InvalidConfig(
                    listing, "must not list the target, id, date or group column", clash
                )
        if self.negative_values is not None:
            if self.positive_values is None:
                raise InvalidConfig(
                    "negative_values", "needs positive_values (a 0/1 target has no others)"
                )
            both = sorted(set(self.negative_values) & set(self.positive_values))
            if both:
                raise InvalidConfig(
                    "negative_values", "must not repeat a value of positive_values", both
                )
        if self.date_format is not None:
            if self.date_column is None:
                raise InvalidConfig("date_format", "needs date_column", self.date_format)
            if "%" not in self.date_format and self.date_format != "ISO8601":
                raise InvalidConfig(
                    "date_format", "must be a strftime format such as '%Y-%m-%d'", self.date_format
                )


@dataclass
class StandardisedTable:
    """A standardised loan table, its rejected rows and what the reading decided (for the summary).

    `target_values` counts the target's raw values by outcome (default / non_default /
    indeterminate); indeterminate rows (neither positive_values nor negative_values) are left
    out of `kept` and are not rejects.
    """

    kept: pd.DataFrame
    rejects: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    target_values: dict[str, dict[str, int]] = field(default_factory=dict)
    rows_indeterminate: int = 0
    date_format: str | None = None


def _open_text(p: Path):
    if p.suffix.lower() == ".gz":
        return gzip.open(p, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return p.open("r", encoding="utf-8-sig", errors="replace", newline="")


def sniff_delimiter(header: str) -> str:
    """The separator a CSV header line uses: the most frequent of `DELIMITERS` (comma if none)."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def load_table(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Read a CSV or Parquet file; return (table, notes on how it was read).

    CSV: the separator is detected from the header (a non-comma one is noted), a repeated column
    name stops the run (pandas would rename the copy `dti.1`), and only empty cells are read as
    missing (other missing-value tokens are handled, with a note, by `standardise`).
    """
    p = Path(path)
    if not p.exists():
        raise DataValidationError(
            str(p), "file not found", hint="Check data.table.path in params.yaml."
        )
    notes: list[str] = []
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        else:
            with _open_text(p) as fh:
                header = fh.readline().rstrip("\r\n")
            sep = sniff_delimiter(header)
            if sep != ",":
                notes.append(f"file read as {DELIMITERS[sep]}-separated (detected from the header)")
                log.warning("%s: read as %s-separated", p, DELIMITERS[sep])
            names = next(csv.reader([header], delimiter=sep), [])
            _check_duplicate_names(names, str(p))
            df = pd.read_csv(p, sep=sep, low_memory=False, keep_default_na=False, na_values=[""])
    except (ValueError, OSError, EOFError, zlib.error, ArrowException, csv.Error) as exc:
        # parse, encoding, decompression and Parquet errors are the user's file, not our bug
        raise DataValidationError(
            str(p), f"could not be read as a table ({type(exc).__name__}: {exc})"
        ) from None
    _check_duplicate_names([str(c) for c in df.columns], str(p))
    return df, notes


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, turning any reader failure into a one-line error."""
    return load_table(path)[0]


def _check_duplicate_names(names: list[str], path: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataValidationError(
                path,
                f"the header names column {name!r} {names.count(name)} times",
                column=name,
                hint="Rename or remove the copy: a repeated name is never renamed silently.",
            )
        seen.add(name)


def _missing_tokens(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Text cells that spell "missing" (`MISSING_TOKENS`) -> NA, with one note per column."""
    notes: list[str] = []
    out = df.copy()
    for c in df.columns:
        col = df[c]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col)):
            continue
        text = col.astype("string").str.strip()
        hit = text.str.lower().isin(MISSING_TOKENS).fillna(False).to_numpy(bool)
        if hit.any():
            example = str(text[hit].iloc[0])
            notes.append(
                f"column {c!r}: {int(hit.sum())} value(s) like {example!r} read as missing"
            )
            out[c] = col.mask(hit)
    return out, notes


def _numeric_text(df: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Text columns that are numbers once missing tokens are gone -> float, with a note.

    Thousands separators ("1,234") and a leading currency sign are removed deliberately and
    noted; a column with any other text stays text (the features stage decides what it is).
    """
    notes: list[str] = []
    out = df
    for c in columns:
        col = df[c]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col)) or col.isna().all():
            continue
        text = col.astype("string").str.strip()
        present = text.notna().to_numpy(bool)
        direct = pd.to_numeric(text, errors="coerce")
        if direct.notna().to_numpy(bool)[present].all():
            out = out if out is not df else df.copy()
            out[c] = direct.astype("float64")
            continue
        formatted = text.str.fullmatch(_THOUSANDS.pattern).fillna(False).to_numpy(bool)
        formatted |= text.str.match(r"[+-]?[¥$€£]").fillna(False).to_numpy(bool)
        cleaned = text.str.replace(_CURRENCY.pattern, r"\1", regex=True)
        cleaned = cleaned.where(~formatted, cleaned.str.replace(",", "", regex=False))
        parsed = pd.to_numeric(cleaned, errors="coerce")
        if parsed.notna().to_numpy(bool)[present].all():
            row = int(np.flatnonzero(formatted)[0])
            notes.append(
                f"column {c!r}: {int(formatted.sum())} value(s) with thousands separators or a "
                f"currency sign read as numbers (e.g. {text.iloc[row]!r} -> {parsed.iloc[row]:g})"
            )
            out = out if out is not df else df.copy()
            out[c] = parsed.astype("float64")
    return out, notes


def infer_date_format(text: pd.Series, column: str, path: str) -> str:
    """The one format of `DATE_FORMATS` most values of a text date column are written in.

    Stops when no value parses, or when two formats fit equally well but read differently
    (01/02/2020: day and month cannot be told apart).
    """
    counts = text.dropna().value_counts()
    if counts.empty:
        raise DataValidationError(path, "the date column has no values", column=column)
    fits: dict[str, tuple[int, pd.Series]] = {}
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(pd.Series(counts.index), format=fmt, errors="coerce")
        fits[fmt] = (int(counts.to_numpy()[parsed.notna().to_numpy()].sum()), parsed)
    best = max(fits, key=lambda f: fits[f][0])
    n_best, parsed_best = fits[best]
    if n_best == 0:
        raise DataValidationError(
            path,
            f"no value of the date column is a date in a known format "
            f"(values like {list(counts.index[:3])}; formats tried: {list(DATE_FORMATS)})",
            column=column,
            hint="Set data.table.date_format in params.yaml, or fix the column.",
        )
    for fmt, (n, parsed) in fits.items():
        if fmt != best and n == n_best and not parsed.equals(parsed_best):
            raise DataValidationError(
                path,
                f"dates fit both {best!r} and {fmt!r} equally (day and month cannot be told apart)",
                column=column,
                hint="Set data.table.date_format in params.yaml.",
            )
    return best


def parse_dates(
    series: pd.Series, fmt: str | None, column: str, path: str
) -> tuple[pd.Series, np.ndarray, str | None, list[str]]:
    """Dates of one column in a single format: (dates, mask of values not in it, format, notes).

    `fmt` None: inferred (`infer_date_format`). A value in another format is never re-read in
    that format (that is how 30% of DD/MM dates got day and month swapped): it is flagged.
    """
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.astype("datetime64[ns]"), np.zeros(len(series), bool), None, []
    text = series.astype("string").str.strip()
    fmt = fmt or infer_date_format(text, column, path)
    dates = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = (text.notna() & dates.isna()).to_numpy(bool)
    notes = []
    if bad.any():
        others = {}
        for other in DATE_FORMATS:
            if other != fmt:
                n = int(pd.to_datetime(text[bad], format=other, errors="coerce").notna().sum())
                if n:
                    others[other] = n
        seen = ", ".join(f"{k!r} ({v})" for k, v in others.items()) or "none known"
        notes.append(
            f"date column {column!r}: format {fmt!r}; {int(bad.sum())} value(s) not in it "
            f"rejected (other formats seen: {seen})"
        )
        log.warning("%s: %s", path, notes[-1])
    return dates.astype("datetime64[ns]"), bad, fmt, notes


def map_target(series: pd.Series, cfg: TableConfig, path: str) -> tuple[pd.Series, pd.Series]:
    """Map the target to 0/1. Return (mapped Int8 with NA where unusable, missing mask).

    With `positive_values` the listed values are defaults; with `negative_values` too, the
    listed ones are non-defaults and any other value is indeterminate (NA but not missing);
    without `negative_values` every other value is a non-default (counted in the log). Without
    `positive_values` the column must already be 0/1 (or true/false).
    """
    col = cfg.target_column
    missing = series.isna()
    if cfg.positive_values is not None:
        as_text = series.astype("string").str.strip()
        found = set(as_text.dropna().unique())
        lists = {"positive_values": cfg.positive_values}
        if cfg.negative_values is not None:
            lists["negative_values"] = cfg.negative_values
        for key, listed in lists.items():
            values = {str(v).strip() for v in listed}
            if not values & found:
                raise DataValidationError(
                    path,
                    f"none of {key} {sorted(values)} occur in the target "
                    f"(values found: {sorted(found)[:10]})",
                    column=col,
                    hint=f"Fix data.table.{key} in params.yaml.",
                )
        positives = {str(v).strip() for v in cfg.positive_values}
        mapped = as_text.isin(positives).astype("Int8").mask(missing)
        if cfg.negative_values is not None:
            negatives = {str(v).strip() for v in cfg.negative_values}
            mapped = mapped.mask(~as_text.isin(positives | negatives).fillna(False))
        else:
            others = as_text[~missing & ~as_text.isin(positives)].value_counts()
            log.info(
                "target: %d row(s) not in positive_values counted as non-default "
                "(data.table.negative_values is null): %s",
                int(others.sum()),
                {str(k): int(v) for k, v in others.head(10).items()},
            )
    else:
        text = series.astype("string").str.strip().str.lower()
        table = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}
        mapped = text.map(table).astype("Int8")
        bad = mapped.isna() & ~missing
        if bad.any():
            values = sorted(series[bad].astype(str).unique())[:10]
            raise DataValidationError(
                path,
                f"target must be 0/1 when positive_values is not set (found {values})",
                column=col,
                row=int(np.flatnonzero(bad.to_numpy())[0]),
                hint="Set data.table.positive_values to the values that mean default.",
            )
    return mapped, missing


def _target_counts(series: pd.Series, mapped: pd.Series, missing: pd.Series) -> dict:
    text = series.astype("string").str.strip()
    groups = {
        "default": mapped == 1,
        "non_default": mapped == 0,
        "indeterminate": mapped.isna() & ~missing,
    }
    return {
        name: {str(k): int(v) for k, v in text[mask.fillna(False)].value_counts().items()}
        for name, mask in groups.items()
    }


def standardise_table(
    df: pd.DataFrame, cfg: TableConfig, path: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate and standardise a loan table; return (kept, rejects)."""
    result = standardise(df, cfg, path)
    return result.kept, result.rejects


def standardise(df: pd.DataFrame, cfg: TableConfig, path: str) -> StandardisedTable:
    """Validate and standardise a loan table: kept rows, rejects, and notes for the summary."""
    if len(df) == 0:
        raise DataValidationError(path, "the table is empty")
    _check_duplicate_names([str(c) for c in df.columns], path)
    needed = [
        cfg.target_column,
        cfg.id_column,
        cfg.date_column,
        cfg.group_column,
        *cfg.protected_columns,
    ]
    for c in needed:
        if c is not None and c not in df.columns:
            glued = [str(x) for x in df.columns if ";" in str(x) or "\t" in str(x)]
            hint = (
                "The file looks semicolon- or tab-separated; save it comma-separated."
                if len(df.columns) == 1 and glued
                else ""
            )
            raise DataValidationError(
                path,
                f"column named in params.yaml data.table is missing (have: {list(df.columns)[:20]})",
                column=c,
                hint=hint,
            )
    unknown_drop = [c for c in cfg.drop_columns if c not in df.columns]
    if unknown_drop:
        log.warning("drop_columns not in %s: %s", path, unknown_drop)
    roles = (cfg.id_column, cfg.date_column, cfg.target_column, cfg.group_column)
    clash = [c for c in df.columns if c in RESERVED and c not in roles]
    if clash:
        raise DataValidationError(
            path, f"column name is reserved by the pipeline {list(RESERVED)}", column=clash[0]
        )

    df, notes = _missing_tokens(df)
    special = {c for c in roles if c is not None} | set(cfg.protected_columns)
    feature_columns = [c for c in df.columns if c not in special and c not in cfg.drop_columns]
    df, numeric_notes = _numeric_text(df, feature_columns)
    notes += numeric_notes

    n = len(df)
    reason = np.full(n, None, dtype=object)
    reason_col = np.full(n, None, dtype=object)

    def flag(mask: np.ndarray | pd.Series, column: str, rule: str) -> None:
        m = np.asarray(mask, dtype=bool) & (reason == None)  # noqa: E711
        reason[m] = rule
        reason_col[m] = column

    target, target_missing = map_target(df[cfg.target_column], cfg, path)
    flag(target_missing.to_numpy(), cfg.target_column, "target value missing")

    if cfg.id_column is not None:
        ids = df[cfg.id_column]
        flag(ids.isna().to_numpy(), cfg.id_column, "id missing")
        flag(
            ids.duplicated(keep="first").to_numpy() & ids.notna().to_numpy(),
            cfg.id_column,
            "duplicate id",
        )
        account_id = ids.astype("string")
    else:
        account_id = pd.Series(np.arange(1, n + 1), index=df.index).astype("string")

    date_format = None
    if cfg.date_column is not None:
        raw_dates = df[cfg.date_column]
        flag(raw_dates.isna().to_numpy(), cfg.date_column, "date missing")
        dates, off_format, date_format, date_notes = parse_dates(
            raw_dates, cfg.date_format, cfg.date_column, path
        )
        flag(off_format, cfg.date_column, f"date not in the column's format {date_format!r}")
        notes += date_notes
    else:
        dates = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")

    if cfg.group_column is not None:
        flag(df[cfg.group_column].isna().to_numpy(), cfg.group_column, "group missing")

    for c in feature_columns:
        col = df[c]
        if not pd.api.types.is_float_dtype(col):
            continue
        v = col.to_numpy(np.float64)
        flag(np.isinf(v), str(c), "not a finite number (inf)")
        flag(
            np.isfinite(v) & (np.abs(v) > FLOAT32_MAX),
            str(c),
            f"beyond the float32 range of model features (|x| > {FLOAT32_MAX:.3g})",
        )

    fully_empty = df.drop(columns=[cfg.target_column]).isna().all(axis=1)
    flag(fully_empty.to_numpy(), "*", "row has no values besides the target")

    rejected = reason != None  # noqa: E711
    rejects = df.loc[rejected].astype("string")
    rejects.insert(0, "_rule", reason[rejected].astype(str))
    rejects.insert(0, "_column", reason_col[rejected].astype(str))
    rejects.insert(0, "_row", np.flatnonzero(rejected))
    rejects.insert(0, "_file", path)

    indeterminate = (target.isna() & ~target_missing).to_numpy(bool) & ~rejected
    if indeterminate.any():
        log.warning(
            "%d row(s) with a target in neither positive_values nor negative_values: "
            "indeterminate, left out of the table",
            int(indeterminate.sum()),
        )
    keep = ~rejected & ~indeterminate
    drop = {cfg.target_column, *(c for c in cfg.drop_columns if c in df.columns)}
    drop |= {c for c in (cfg.id_column, cfg.date_column, cfg.group_column) if c}
    body = df.loc[keep, [c for c in df.columns if c not in drop]]
    head = {
        "account_id": account_id[keep].astype(str),
        "observation_date": dates[keep].astype("datetime64[ns]"),
        "default": target[keep].astype("Int8"),
    }
    if cfg.group_column is not None:
        head[GROUP] = df.loc[keep, cfg.group_column].astype(str)
    out = pd.concat([pd.DataFrame(head, index=body.index), body], axis=1).reset_index(drop=True)
    if len(out) == 0:
        rules = pd.Series(reason[rejected]).value_counts()
        top = f"most often '{rules.index[0]}' ({int(rules.iloc[0])} rows)" if len(rules) else ""
        raise DataValidationError(
            path,
            f"no usable row: {int(rejected.sum())} of {n} rows rejected ({top}), "
            f"{int(indeterminate.sum())} indeterminate",
            hint="See data/raw/rejects.parquet for each row's rule.",
        )
    classes = out["default"].dropna().unique()
    if len(classes) < 2:
        raise DataValidationError(
            path,
            f"target has a single class after mapping ({sorted(int(c) for c in classes)}); a PD model needs defaults and non-defaults",
            column=cfg.target_column,
        )
    for note in notes:
        log.info("%s: %s", path, note)
    return StandardisedTable(
        kept=out,
        rejects=rejects.reset_index(drop=True),
        notes=notes,
        target_values=_target_counts(df[cfg.target_column], target, target_missing),
        rows_indeterminate=int(indeterminate.sum()),
        date_format=date_format,
    )

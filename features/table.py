"""Bring-your-own loan table: read one CSV/Parquet file of one row per loan and standardise it.

The output keeps the user's columns (minus `drop_columns`), renames the id to `account_id`, the
date (if any) to `observation_date`, and maps the target to `default` (0/1). Rows that cannot be
used are kept in a rejects table with the rule they broke.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyarrow import ArrowException

from features.errors import DataValidationError, InvalidConfig

log = logging.getLogger(__name__)

RESERVED = ("account_id", "observation_date", "default", "split")
TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".gz")


@dataclass(frozen=True)
class TableConfig:
    """Where the user's loan table is and what its columns mean; no defaults (params.yaml has them).

    `positive_values`, `id_column` and `date_column` are None when not used: then the target must
    already be 0/1, ids are generated, and there is no out-of-time split.
    """

    path: str
    target_column: str
    positive_values: tuple[str, ...] | None
    id_column: str | None
    date_column: str | None
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


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, turning any reader failure into a one-line error."""
    p = Path(path)
    if not p.exists():
        raise DataValidationError(
            str(p), "file not found", hint="Check data.table.path in params.yaml."
        )
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(p)
        return pd.read_csv(p, low_memory=False)
    except (ValueError, OSError, EOFError, zlib.error, ArrowException) as exc:
        # parse, encoding, decompression and Parquet errors are the user's file, not our bug
        raise DataValidationError(
            str(p), f"could not be read as a table ({type(exc).__name__}: {exc})"
        ) from None


def map_target(series: pd.Series, cfg: TableConfig, path: str) -> tuple[pd.Series, pd.Series]:
    """Map the target to 0/1. Return (mapped Int8 with NA where unusable, missing mask).

    With `positive_values` the listed values are defaults and every other value is a non-default;
    without it the column must already be 0/1 (or true/false).
    """
    col = cfg.target_column
    missing = series.isna()
    if cfg.positive_values is not None:
        as_text = series.astype("string").str.strip()
        positives = {str(v).strip() for v in cfg.positive_values}
        found = set(as_text.dropna().unique())
        if not positives & found:
            sample = sorted(found)[:10]
            raise DataValidationError(
                path,
                f"none of positive_values {sorted(positives)} occur in the target (values found: {sample})",
                column=col,
                hint="Fix data.table.positive_values in params.yaml.",
            )
        mapped = as_text.isin(positives).astype("Int8").mask(missing)
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


def standardise_table(
    df: pd.DataFrame, cfg: TableConfig, path: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate and standardise a loan table; return (kept, rejects)."""
    if len(df) == 0:
        raise DataValidationError(path, "the table is empty")
    needed = [cfg.target_column, cfg.id_column, cfg.date_column, *cfg.protected_columns]
    for c in needed:
        if c is not None and c not in df.columns:
            raise DataValidationError(
                path,
                f"column named in params.yaml data.table is missing (have: {list(df.columns)[:20]})",
                column=c,
            )
    unknown_drop = [c for c in cfg.drop_columns if c not in df.columns]
    if unknown_drop:
        log.warning("drop_columns not in %s: %s", path, unknown_drop)
    clash = [
        c
        for c in df.columns
        if c in RESERVED and c not in (cfg.id_column, cfg.date_column, cfg.target_column)
    ]
    if clash:
        raise DataValidationError(
            path, f"column name is reserved by the pipeline {list(RESERVED)}", column=clash[0]
        )

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

    if cfg.date_column is not None:
        dates = pd.to_datetime(df[cfg.date_column], errors="coerce", format="mixed")
        flag(dates.isna().to_numpy(), cfg.date_column, "date missing or not parseable")
    else:
        dates = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")

    fully_empty = df.drop(columns=[cfg.target_column]).isna().all(axis=1)
    flag(fully_empty.to_numpy(), "*", "row has no values besides the target")

    rejected = reason != None  # noqa: E711
    rejects = df.loc[rejected].astype("string")
    rejects.insert(0, "_rule", reason[rejected].astype(str))
    rejects.insert(0, "_column", reason_col[rejected].astype(str))
    rejects.insert(0, "_row", np.flatnonzero(rejected))
    rejects.insert(0, "_file", path)

    keep = ~rejected
    drop = {cfg.target_column, *(c for c in cfg.drop_columns if c in df.columns)}
    if cfg.id_column:
        drop.add(cfg.id_column)
    if cfg.date_column:
        drop.add(cfg.date_column)
    body = df.loc[keep, [c for c in df.columns if c not in drop]]
    out = pd.concat(
        [
            pd.DataFrame(
                {
                    "account_id": account_id[keep].astype(str),
                    "observation_date": dates[keep].astype("datetime64[ns]"),
                    "default": target[keep].astype("Int8"),
                },
                index=body.index,
            ),
            body,
        ],
        axis=1,
    ).reset_index(drop=True)
    classes = out["default"].dropna().unique()
    if len(classes) < 2:
        raise DataValidationError(
            path,
            f"target has a single class after mapping ({sorted(int(c) for c in classes)}); a PD model needs defaults and non-defaults",
            column=cfg.target_column,
        )
    return out, rejects.reset_index(drop=True)

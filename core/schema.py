"""Declared schemas and row-level validation for ingested tables.

Table-level problems (missing column, empty table) raise `DataValidationError`; row-level problems
(null where required, out of range, unknown value, duplicate key, unknown parent key) never drop a
row silently: the row goes to the rejects table with the file, row, column and rule it broke.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from core.errors import DataValidationError

Kind = Literal["int", "float", "date", "str", "bool"]
REJECT_COLUMNS = ["_file", "_row", "_column", "_rule"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None
    allowed: tuple[str, ...] | None = None
    #: False: a table may lack the column (a lender's history without `min_due`); when present
    #: it is checked like any other.
    required: bool = True


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    parent: tuple[str, str] | None = None  # (column, name of the table it must exist in)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_names(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


CUSTOMERS = TableSchema(
    "customers",
    (
        Column("account_id", "int"),
        Column("signup_date", "date"),
        Column("age_band", "str", allowed=("18-24", "25-34", "35-44", "45-54", "55+")),
        Column("city_tier", "int", min_value=1, max_value=4),
        Column("income_band", "str", allowed=("low", "mid", "high", "very_high")),
        Column("credit_limit", "float", min_value=0.0),
        Column("channel", "str"),
        Column("region", "str"),
        Column("timezone", "str"),
        Column("dispute", "bool"),
        Column("hardship", "bool"),
        Column("opt_out", "bool"),
        Column("deceased", "bool"),
    ),
    key=("account_id",),
)

STATEMENTS = TableSchema(
    "statements",
    (
        Column("account_id", "int"),
        Column("statement_date", "date"),
        Column("due_date", "date"),
        Column("bill_amount", "float", min_value=0.0),
        Column("min_due", "float", min_value=0.0),
        Column("paid_amount", "float", min_value=0.0),
        Column("payment_date", "date", nullable=True),
        Column("days_past_due", "int", min_value=0, max_value=10_000),
        Column("overdue_amount", "float", min_value=0.0),
        Column("outstanding_balance", "float", min_value=0.0),
        Column("instalment_plans", "int", min_value=0, max_value=100),
    ),
    key=("account_id", "statement_date"),
    parent=("account_id", "customers"),
)

#: Dated history of the account attributes that change over time: one row at account open (or,
#: for accounts open before the data starts, the day before it) and one per change. A value holds
#: from its effective date on; features read the last row dated strictly before their date.
ATTRIBUTES = TableSchema(
    "attributes",
    (
        Column("account_id", "int"),
        Column("effective_date", "date"),
        Column("credit_limit", "float", min_value=0.0),
        Column("income_band", "str", allowed=("low", "mid", "high", "very_high")),
    ),
    key=("account_id", "effective_date"),
    parent=("account_id", "customers"),
)

OBSERVATIONS = TableSchema(
    "observations",
    (
        Column("account_id", "int"),
        Column("observation_date", "date"),
        Column("default", "int", nullable=True, min_value=0, max_value=1),
        Column("is_current", "bool"),
    ),
    key=("account_id", "observation_date"),
    parent=("account_id", "customers"),
)


def _coerce(series: pd.Series, col: Column) -> tuple[pd.Series, pd.Series]:
    """Return (typed values, mask of values that could not be parsed)."""
    no_bad = pd.Series(False, index=series.index)
    if (
        col.kind in ("int", "float")
        and pd.api.types.is_numeric_dtype(series)
        and series.dtype != bool
    ):
        if pd.api.types.is_float_dtype(series):  # fast path: only inf can be invalid
            return series, pd.Series(np.isinf(series.to_numpy()), index=series.index)
        return series, no_bad
    if col.kind == "date" and pd.api.types.is_datetime64_any_dtype(series):
        return series, no_bad
    present = series.notna()
    if col.kind in ("int", "float"):
        typed = pd.to_numeric(series, errors="coerce")
        bad = present & typed.isna()
        typed = typed.where(np.isfinite(typed.astype("float64")) | typed.isna())
        bad |= present & typed.isna()
    elif col.kind == "date":
        typed = pd.to_datetime(series, errors="coerce")
        bad = present & typed.isna()
    elif col.kind == "bool":
        if series.dtype == bool:
            return series, pd.Series(False, index=series.index)
        lowered = series.astype("string").str.strip().str.lower()
        mapping = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        typed = lowered.map(mapping)
        bad = present & typed.isna()
    else:
        typed = series.astype("string")
        bad = pd.Series(False, index=series.index)
    return typed, bad


def validate_table(
    df: pd.DataFrame,
    schema: TableSchema,
    path: str,
    parent_keys: dict[str, pd.Index] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check `df` against `schema`; return (kept rows with schema dtypes, rejected rows).

    Raises DataValidationError for table-level faults: an empty table or a missing column.
    Each rejected row records only the first rule it broke, in schema order.
    """
    if len(df) == 0:
        raise DataValidationError(path, f"the {schema.name} table is empty")
    missing = [c for c in schema.required_names if c not in df.columns]
    if missing:
        raise DataValidationError(
            path,
            f"required column is missing from the {schema.name} table (have: {list(df.columns)[:20]})",
            column=missing[0],
        )
    n = len(df)
    reason = np.full(n, None, dtype=object)
    reason_col = np.full(n, None, dtype=object)

    def flag(mask: pd.Series | np.ndarray, column: str, rule: str) -> None:
        m = np.asarray(mask, dtype=bool) & (reason == None)  # noqa: E711 (elementwise)
        reason[m] = rule
        reason_col[m] = column

    typed: dict[str, pd.Series] = {}
    columns = [c for c in schema.columns if c.name in df.columns]  # optional ones may be absent
    for col in columns:
        values, bad = _coerce(df[col.name], col)
        flag(bad, col.name, f"not a valid {col.kind}")
        if not col.nullable:
            flag(df[col.name].isna(), col.name, "missing value in a required column")
        if col.min_value is not None:
            flag(
                values.astype("float64") < col.min_value, col.name, f"below minimum {col.min_value}"
            )
        if col.max_value is not None:
            flag(
                values.astype("float64") > col.max_value, col.name, f"above maximum {col.max_value}"
            )
        if col.allowed is not None:
            flag(
                values.notna() & ~values.isin(col.allowed),
                col.name,
                f"value not in allowed set {list(col.allowed)}",
            )
        typed[col.name] = values
    if schema.key:
        key_frame = pd.DataFrame({k: typed[k] for k in schema.key})
        flag(key_frame.duplicated(keep="first"), ",".join(schema.key), "duplicate key")
    if schema.parent and parent_keys is not None:
        col_name, parent = schema.parent
        known = parent_keys[parent]
        flag(~typed[col_name].isin(known), col_name, f"{col_name} not found in {parent}")

    rejected = reason != None  # noqa: E711
    rejects = df.loc[rejected].copy()
    if len(rejects):
        rejects = rejects.astype("string")
    rejects.insert(0, "_rule", reason[rejected].astype(str))
    rejects.insert(0, "_column", reason_col[rejected].astype(str))
    rejects.insert(0, "_row", np.flatnonzero(rejected))
    rejects.insert(0, "_file", path)

    extras = [c for c in df.columns if c not in schema.names]
    kept = pd.DataFrame({c.name: typed[c.name] for c in columns}, copy=False)
    del typed
    for c in extras:
        kept[c] = df[c]
    if rejected.any():
        kept = kept.loc[~rejected].reset_index(drop=True)
    kept = _cast_kept(kept, schema)
    return kept, rejects.reset_index(drop=True)


def _cast_kept(kept: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """Give each column its schema dtype; integer columns keep a narrower int dtype if they have one."""
    for col in schema.columns:
        if col.name not in kept:
            continue
        s = kept[col.name]
        if col.kind == "int" and pd.api.types.is_integer_dtype(s) and not col.nullable:
            continue
        if col.kind == "int":
            kept[col.name] = s.astype("Int64") if col.nullable else s.astype("int64")
        elif col.kind == "float":
            kept[col.name] = s.astype("float64")
        elif col.kind == "date":
            kept[col.name] = s.astype("datetime64[ns]")
        elif col.kind == "bool":
            kept[col.name] = s.astype(bool)
        else:
            kept[col.name] = s.astype(str)
    return kept

"""Table mode: typed model features from a user's loan table (one row per loan).

Types are decided from the data once and written to the catalogue; category sets are learned on
the training split only, so validation, test and later scoring see exactly what the model saw and
unseen values become missing (see `core.catalogue.to_model_frame`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, FeatureSpec, to_model_frame
from core.contracts import POLICY_FEATURE_COLUMNS, POLICY_INPUTS
from core.errors import DataValidationError, InvalidConfig

log = logging.getLogger(__name__)

ID = "account_id"
RESERVED = ("account_id", "observation_date", "default", "split", "is_current", "group_id")
_POLICY_DTYPES = {"int": "int32", "float": "float64", "bool": "bool"}
#: Text that parses as numbers this often is a numeric column with typos (the stage stops on it).
NUMERIC_SHARE = 0.9
_NUMERIC_NOISE = re.compile(r"[,\s%]|^[¥$€£]")
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class TableFeatureConfig:
    """How a loan table's columns become features; no defaults for values params.yaml states."""

    date_parts: bool
    max_categories: int  # most frequent training values kept; rarer ones become missing
    numeric_share: float = NUMERIC_SHARE  # a library rule, not a parameter

    def __post_init__(self) -> None:
        if not 0.5 <= self.numeric_share <= 1.0:
            raise InvalidConfig("numeric_share", "must be in [0.5, 1]", self.numeric_share)


#: Anything but a (Unicode) letter, digit or underscore: LightGBM rejects JSON punctuation
#: (`",:[]{}`) in feature names and replaces spaces; letters of any script are kept as they are.
_NAME_NOISE = re.compile(r"[^\w]+")


def _safe_name(name: str, taken: set[str]) -> str:
    """Feature names LightGBM, Parquet and JSON accept: letters of any script, digits,
    underscore; unique. "租房 类型" -> "租房_类型" (never transliterated or dropped to `col`)."""
    base = _NAME_NOISE.sub("_", str(name)).strip("_") or "col"
    if base[0].isdigit():
        base = "f_" + base
    out, i = base, 2
    while out in taken or out in RESERVED:
        out, i = f"{base}_{i}", i + 1
    if out != str(name):
        log.info("column %r is feature %r", name, out)
    taken.add(out)
    return out


def _parse_numeric_text(col: pd.Series) -> pd.Series:
    text = col.astype("string").str.strip()
    return pd.to_numeric(text.str.replace(_NUMERIC_NOISE, "", regex=True), errors="coerce")


def _column_kind(col: pd.Series, name: str, cfg: TableFeatureConfig, source: str):
    """('numeric'|'bool'|'date'|'category', numeric values or None)."""
    if pd.api.types.is_bool_dtype(col):
        return "bool", col.astype("float64")
    if pd.api.types.is_datetime64_any_dtype(col):
        return "date", None
    if pd.api.types.is_numeric_dtype(col):
        return "numeric", col.astype("float64")
    nonnull = (col.astype("string").str.strip().fillna("") != "").astype(bool)
    if not nonnull.any():
        return "category", None
    parsed = _parse_numeric_text(col)
    ok = parsed.notna() & nonnull
    share = ok.sum() / nonnull.sum()
    if share == 1.0:
        plain = pd.to_numeric(col.astype("string").str.strip(), errors="coerce").notna()
        if (nonnull & ~plain).any():
            log.warning(
                "column %r: %d value(s) like %r read as numbers after removing separators, "
                "spaces, currency or percent signs",
                name,
                int((nonnull & ~plain).sum()),
                str(col[nonnull & ~plain].iloc[0]),
            )
        return "numeric", parsed.where(nonnull).astype("float64")
    if share >= cfg.numeric_share:
        bad = nonnull & ~ok
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            source,
            f"{share:.1%} of values are numbers but {col.iloc[row]!r} is not "
            f"({int(bad.sum())} such value(s))",
            column=name,
            row=row,
            hint="Fix the value(s), or list the column in data.table.drop_columns.",
        )
    return "category", None


def _learn_categories(values: pd.Series, max_categories: int) -> list[str]:
    counts = values.dropna().astype(str).value_counts()
    cats = counts.index[:max_categories].tolist()
    return sorted(cats)


def build_table_features(
    loans: pd.DataFrame,
    split: pd.Series,
    protected: Sequence[str] = (),
    *,
    cfg: TableFeatureConfig,
    source: str = "loans.parquet",
) -> tuple[pd.DataFrame, Catalogue]:
    """Feature frame (contract layout, with `split`) and catalogue for a standardised loan table.

    `split` (aligned with `loans`) decides where categories are learned: training rows only.
    """
    for c in (ID, "default"):
        if c not in loans.columns:
            raise DataValidationError(source, "required column missing", column=c)
    split = pd.Series(np.asarray(split), index=loans.index)
    train = (split == "train").to_numpy()
    if not train.any():
        raise DataValidationError(source, "no training rows to learn feature types from")
    missing_prot = [c for c in protected if c not in loans.columns]
    if missing_prot:
        raise DataValidationError(source, "protected column not found", column=missing_prot[0])

    policy_src = {
        p.name: c for c in loans.columns for p in POLICY_INPUTS if str(c).lower() == p.name
    }
    dates = (
        pd.to_datetime(loans["observation_date"], errors="coerce")
        if "observation_date" in loans
        else pd.Series(pd.NaT, index=loans.index, dtype="datetime64[ns]")
    )
    candidates = [c for c in loans.columns if c not in RESERVED and c not in set(protected)]
    taken: set[str] = set()
    specs: list[FeatureSpec] = []
    values: dict[str, pd.Series] = {}

    def add(
        name: str,
        series: pd.Series,
        dtype: str,
        description: str,
        src: str,
        categories: list[str] | None = None,
    ) -> None:
        safe = _safe_name(name, taken)
        specs.append(FeatureSpec(safe, dtype, description, [src], 0, categories))
        values[safe] = series

    if cfg.date_parts and dates.notna().any():
        # no year: the out-of-time test lies in later years than training by construction
        add(
            "observation_month",
            dates.dt.month.astype("float64"),
            "float",
            "Calendar month of the observation date (seasonality).",
            "observation_date",
        )
        add(
            "observation_dayofweek",
            dates.dt.dayofweek.astype("float64"),
            "float",
            "Day of week of the observation date.",
            "observation_date",
        )

    for spec, series in type_columns(loans, candidates, train, cfg, source, taken):
        specs.append(spec)
        values[spec.name] = series

    if not specs:
        raise DataValidationError(source, "no usable feature columns left after typing")
    catalogue = Catalogue(
        features=specs,
        protected=[f"protected__{c}" for c in protected],
        policy_columns=list(POLICY_FEATURE_COLUMNS),
    )
    typed = to_model_frame(pd.DataFrame(values, index=loans.index), catalogue, source)
    for spec in specs:
        if spec.dtype == "float":
            wide = typed[spec.name].to_numpy(np.float64)
            bad = np.isinf(wide) | (np.abs(np.nan_to_num(wide)) > FLOAT32_MAX)
            if bad.any():  # ingest rejects these rows; a table from elsewhere must not pass
                row = int(np.flatnonzero(bad)[0])
                raise DataValidationError(
                    source,
                    f"value {float(wide[row]):g} is infinite or beyond the float32 range of features "
                    f"({int(bad.sum())} such value(s))",
                    column=spec.sources[0],
                    row=row,
                )
            typed[spec.name] = typed[spec.name].astype(np.float32)
        else:
            unseen = values[spec.name].notna() & typed[spec.name].isna()
            if unseen.any():
                log.info(
                    "column %r: %d row(s) outside the training categories -> missing",
                    spec.sources[0],
                    int(unseen.sum()),
                )

    head = pd.DataFrame(
        {
            ID: loans[ID].to_numpy(),
            "observation_date": dates.to_numpy(),
            "default": loans["default"].astype("Int8").to_numpy(),
            "split": split.astype("str").to_numpy(),
        },
        index=loans.index,
    )
    prot = pd.DataFrame({f"protected__{c}": loans[c] for c in protected}, index=loans.index)
    # Compliance flags are never guessed for accounts in arrears: when the table has arrears
    # columns, a missing flag stays missing (the tiers stage then stops and names it). A table
    # without arrears columns is a current book: every account is tiered as not overdue, where
    # flags cannot lead to escalation. Time zones are never invented: missing -> the policy's
    # default zone, recorded by the engine as `unknown_timezone`.
    in_arrears_data = any(p in policy_src for p in ("days_past_due", "overdue_amount"))
    policy = {}
    for spec in POLICY_INPUTS:
        name, kind, column = spec.name, spec.dtype, spec.feature_column
        default = spec.table_default
        if name in policy_src:
            raw = loans[policy_src[name]]
            if kind == "str":
                policy[column] = raw.astype("string").astype(object).where(raw.notna(), None)
            elif kind == "bool":
                flags = raw.astype("boolean")
                policy[column] = flags if flags.isna().any() else flags.astype(bool)
            else:
                num = pd.to_numeric(raw, errors="coerce").fillna(default)
                policy[column] = num.astype(_POLICY_DTYPES[kind])
        elif kind == "bool" and in_arrears_data:
            log.warning(
                "table has arrears columns but no '%s' flag: left missing, never guessed", name
            )
            policy[column] = pd.Series(pd.NA, index=loans.index, dtype="boolean")
        elif kind == "str":
            policy[column] = pd.Series(None, index=loans.index, dtype=object)
        else:
            policy[column] = pd.Series(default, index=loans.index, dtype=_POLICY_DTYPES[kind])
    frame = pd.concat([head, typed, prot, pd.DataFrame(policy, index=loans.index)], axis=1)
    log.info(
        "table features: %d rows x %d features (%d categorical), %d protected",
        len(frame),
        len(specs),
        len(catalogue.categorical),
        len(protected),
    )
    return frame.reset_index(drop=True), catalogue


def type_columns(
    frame: pd.DataFrame,
    candidates: Sequence[str],
    train: np.ndarray,
    cfg: TableFeatureConfig,
    source: str,
    taken: set[str],
) -> list[tuple[FeatureSpec, pd.Series]]:
    """Model features of a table's own columns, each typed once from the data: numbers (and
    true/false) as floats, text as categories learned on the `train` rows (the most frequent
    `cfg.max_categories`; rarer and unseen values -> missing), dates as parts when
    `cfg.date_parts`. Constant columns, ids and free text are left out (logged). `taken` holds
    the feature names already used (a name is made safe and unique against it)."""
    out: list[tuple[FeatureSpec, pd.Series]] = []

    def add(
        name: str,
        series: pd.Series,
        dtype: str,
        description: str,
        src: str,
        categories: list[str] | None = None,
    ) -> None:
        safe = _safe_name(name, taken)
        out.append((FeatureSpec(safe, dtype, description, [src], 0, categories), series))

    for col_name in candidates:
        col = frame[col_name]
        kind, numeric = _column_kind(col, str(col_name), cfg, source)
        if kind == "date":
            if not cfg.date_parts:
                log.info("date column %r left out (features.date_parts is false)", col_name)
                continue
            d = pd.to_datetime(col, errors="coerce")
            for part in ("year", "month", "dayofweek"):
                add(
                    f"{col_name}_{part}",
                    getattr(d.dt, part).astype("float64"),
                    "float",
                    f"{part} of {col_name}.",
                    str(col_name),
                )
            continue
        if kind in ("numeric", "bool"):
            assert numeric is not None
            if numeric[train].nunique(dropna=True) <= 1:
                log.warning("column %r is constant on the training rows; left out", col_name)
                continue
            add(
                str(col_name),
                numeric,
                "float",
                f"{col_name} (numeric, from the table).",
                str(col_name),
            )
            continue
        text = col.astype("string").str.strip().replace("", pd.NA)
        distinct = text[train].nunique(dropna=True)
        if distinct <= 1:
            log.warning("column %r is constant on the training rows; left out", col_name)
            continue
        if distinct > cfg.max_categories and distinct > 0.5 * train.sum():
            log.warning(
                "text column %r has %d distinct values on %d training rows (id or free text); "
                "left out",
                col_name,
                distinct,
                int(train.sum()),
            )
            continue
        cats = _learn_categories(text[train], cfg.max_categories)
        if distinct > cfg.max_categories:
            log.info(
                "column %r: %d categories, the %d most frequent kept, rest -> missing",
                col_name,
                distinct,
                cfg.max_categories,
            )
        add(
            str(col_name),
            text,
            "category",
            f"{col_name} (category; values learned on the training split).",
            str(col_name),
            cats,
        )

    return out

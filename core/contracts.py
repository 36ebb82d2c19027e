"""Every table that crosses a stage boundary, declared once: columns, dtypes, keys, file names.

Writers build frames in these shapes, readers check them here (one place, one message shape),
and the serving signature is derived from `POLICY_INPUTS`. `docs/data_contracts.md` explains the
meaning of each column; this module is what the code holds to.

Raw tables of the built-in book (`CUSTOMERS`, `STATEMENTS`, `OBSERVATIONS`) carry row-level rules
and are validated row by row at ingest (`core.schema.validate_table`); downstream tables are
checked at the table level when read and written (a missing column, a wrong dtype, a value out
of its declared range or set, or a duplicated key stops the reader and names the first row).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from core.errors import DataValidationError, PipelineError
from core.partitions import part_files
from core.schema import (
    OBSERVATIONS,
    STATEMENTS,
    Column,
    TableSchema,
)

# ----------------------------------------------------------------------------------------------
# Policy inputs: the collection policy's per-account inputs beside the model features
# ----------------------------------------------------------------------------------------------

POLICY_PREFIX = "policy__"

PolicyDtype = Literal["int", "float", "bool", "str"]
_MLFLOW_TYPES = {"int": "double", "float": "double", "bool": "boolean", "str": "string"}


@dataclass(frozen=True)
class PolicyInput:
    """One input of the tier engine: its name there, its type, and whether a request must carry it.

    Required inputs are never guessed (a missing compliance flag is an error, not False). The
    feature table carries the input as ``policy__<name>``; a request carries it as ``<name>``
    unless a model feature has that name, in which case the request uses the prefixed name too.
    """

    name: str
    dtype: PolicyDtype
    required: bool
    description: str
    #: Its value for a loan table without such a column (a current book: no arrears); None =
    #: never invented. Flags are defaulted only when the table has no arrears columns at all.
    table_default: int | float | bool | None
    #: An amount in the book's currency: converted to the policy's before the engine compares it
    #: with the policy's floors (`collection_policy.engine.in_policy_currency`).
    amount: bool = False

    @property
    def feature_column(self) -> str:
        return POLICY_PREFIX + self.name

    def request_column(self, model_columns: set[str] | frozenset[str]) -> str:
        return self.feature_column if self.name in model_columns else self.name

    @property
    def mlflow_type(self) -> str:
        return _MLFLOW_TYPES[self.dtype]


POLICY_INPUTS: tuple[PolicyInput, ...] = (
    PolicyInput("days_past_due", "int", True, "days past due at the book date, >= 0", 0),
    PolicyInput(
        "overdue_amount", "float", True, "unpaid minimum dues (currency), >= 0", 0.0, amount=True
    ),
    PolicyInput("first_time_delinquency", "bool", True, "first delinquency episode", False),
    PolicyInput("dispute", "bool", True, "the debt is disputed", False),
    PolicyInput("hardship", "bool", True, "declared financial hardship", False),
    PolicyInput("opt_out", "bool", True, "asked to stop non-written contact", False),
    PolicyInput("deceased", "bool", True, "the debtor has died", False),
    PolicyInput(
        "timezone", "str", False, "IANA time zone; missing -> the policy default, recorded", None
    ),
    PolicyInput(
        "outstanding_balance", "float", True, "balance owed (currency), >= 0", 0.0, amount=True
    ),
    # Read by the collection policy's repeat_or_wilful and suspected_fraud routes (issue 17).
    PolicyInput(
        "delinquency_episodes",
        "int",
        True,
        "separate delinquency spells in the history, the current one included, >= 0",
        0,
    ),
    PolicyInput(
        "broken_promises",
        "int",
        True,
        "promise-to-pay arrangements broken in the last 12 months, >= 0",
        0,
    ),
    PolicyInput("never_paid", "bool", True, "no payment received since the account opened", False),
)
POLICY_INPUT_NAMES: tuple[str, ...] = tuple(p.name for p in POLICY_INPUTS)
POLICY_INPUT_BY_NAME: dict[str, PolicyInput] = {p.name: p for p in POLICY_INPUTS}
POLICY_FEATURE_COLUMNS: tuple[str, ...] = tuple(p.feature_column for p in POLICY_INPUTS)
#: Feature-table column -> engine column.
FEATURE_TO_POLICY: dict[str, str] = {p.feature_column: p.name for p in POLICY_INPUTS}
#: The feature table's days-past-due column (`core.dpd` says what its values mean).
DPD_FEATURE_COLUMN: str = POLICY_INPUT_BY_NAME["days_past_due"].feature_column

# ----------------------------------------------------------------------------------------------
# Table contracts
# ----------------------------------------------------------------------------------------------

#: Rows per block of `TableContract.read_blocks` (a 50-column block of float32 is ~200 MB).
BLOCK_ROWS = 1_000_000

SPLITS: tuple[str, ...] = ("train", "validation", "test", "score")
LABELLED_SPLITS: tuple[str, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class TableContract:
    """A Parquet file between stages: its name, fixed columns (in order) and key.

    `open_columns` says which further columns a table may carry (the feature table's model
    features come from its catalogue); a contract never lists them because they vary by data.
    """

    schema: TableSchema
    file: str
    open_columns: str = ""

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def columns(self) -> list[str]:
        return self.schema.names

    @property
    def key(self) -> tuple[str, ...]:
        return self.schema.key

    def check(self, df: pd.DataFrame, source: str) -> pd.DataFrame:
        """Table-level check, vectorised: every fixed column present with its kind, no missing
        value where none is allowed, values inside the declared range and set, and a unique key
        (when all key columns are present). The first offending row is named; returns `df`."""
        for col in self.schema.columns:
            if col.name not in df.columns and not col.required:
                continue
            if col.name not in df.columns:
                raise DataValidationError(
                    source, f"required column of the {self.name} table is missing", col.name
                )
            if not _has_kind(df[col.name], col):
                raise DataValidationError(
                    source,
                    f"expected a column of kind '{col.kind}' in the {self.name} table, got {df[col.name].dtype}",
                    col.name,
                )
            if not col.nullable and df[col.name].isna().any():
                row = int(np.flatnonzero(df[col.name].isna().to_numpy())[0])
                raise DataValidationError(
                    source, "missing value in a required column", col.name, row
                )
            if col.allowed is not None:
                bad = df[col.name].notna() & ~df[col.name].isin(list(col.allowed))
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise DataValidationError(
                        source,
                        f"value {df[col.name].iloc[row]!r} not in {list(col.allowed)}",
                        col.name,
                        row,
                    )
            _check_range(df[col.name], col, source)
        self._check_key(df, source)
        return df

    def _check_key(self, df: pd.DataFrame, source: str) -> None:
        """A duplicated key names the key columns and the first row that repeats an earlier one."""
        if not self.key or not set(self.key) <= set(df.columns):
            return
        dup = df.duplicated(subset=list(self.key), keep="first").to_numpy()
        if dup.any():
            row = int(np.flatnonzero(dup)[0])
            values = ", ".join(f"{k}={_shown(df[k].iloc[row])}" for k in self.key)
            raise DataValidationError(
                source,
                f"duplicate key of the {self.name} table ({values} already seen)",
                ",".join(self.key),
                row,
            )

    def read_schema(
        self, path: str | os.PathLike[str], columns: list[str] | None = None, stage: str = ""
    ) -> list[str]:
        """The column names of the Parquet file, after checking that it exists and has the
        contract's columns (or `columns`); reads no rows (a bucket of a partitioned table)."""
        import pyarrow.parquet as pq

        p = Path(path)
        if not p.is_file():
            after = f"; run the {stage} stage first" if stage else ""
            raise PipelineError(f"'{p}' not found{after}")
        wanted = self.schema.required_names if columns is None else columns
        present = pq.read_schema(p).names
        missing = [c for c in wanted if c not in set(present)]
        if missing:
            raise DataValidationError(
                str(p), f"required column of the {self.name} table is missing", missing[0]
            )
        return present

    def read(
        self,
        path: str | os.PathLike[str],
        columns: list[str] | None = None,
        stage: str = "",
        filters: list[tuple[str, str, object]] | None = None,
    ) -> pd.DataFrame:
        """Read the Parquet file (optionally some columns, rows matching pyarrow `filters`) and
        check it; a missing file names the stage that writes it, a missing column names itself.
        A directory is a bucketed table: its buckets are read in order and checked as one."""
        p = Path(path)
        if p.is_dir():  # a table bucketed by account id (core.partitions): all its buckets
            parts = part_files(p)
            self.read_schema(parts[0] if parts else p / "part-0000.parquet", columns, stage)
            frames = [pd.read_parquet(f, columns=columns, filters=filters) for f in parts]
            rows = [f for f in frames if len(f)] or frames[:1]
            df = rows[0] if len(rows) == 1 else pd.concat(rows, ignore_index=True)
        else:
            self.read_schema(p, columns, stage)
            df = pd.read_parquet(p, columns=columns, filters=filters)
        return self.narrowed(columns).check(df, str(p))

    def narrowed(self, columns: list[str] | None) -> TableContract:
        """The contract of a read of some columns: only its fixed columns among them are checked."""
        if columns is None:
            return self
        return TableContract(
            TableSchema(
                self.name,
                tuple(c for c in self.schema.columns if c.name in columns),
                key=self.key if set(self.key) <= set(columns) else (),
            ),
            self.file,
        )

    def read_blocks(
        self,
        path: str | os.PathLike[str],
        columns: list[str] | None = None,
        stage: str = "",
        block_rows: int = BLOCK_ROWS,
    ) -> Iterator[pd.DataFrame]:
        """The table in blocks of at most `block_rows` rows, in file order (a bucketed table: its
        buckets in order), each indexed by its rows' positions in the whole table.

        Memory is bounded by the block, not the table: the train stage reads a book of millions
        of rows this way. Each block is checked like `read` (the key only within the block; the
        writer checked it whole), and an offending row is named by its position in the table.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        p = Path(path)
        files = part_files(p) if p.is_dir() else [p]
        self.read_schema(files[0] if files else p / "part-0000.parquet", columns, stage)
        contract = self.narrowed(columns)
        offset = 0
        for file in files:
            for batch in pq.ParquetFile(file).iter_batches(batch_size=block_rows, columns=columns):
                frame = pa.Table.from_batches([batch]).to_pandas()
                try:
                    contract.check(frame, str(p))
                except DataValidationError as exc:
                    raise exc.shifted(offset) from None
                frame.index = pd.RangeIndex(offset, offset + len(frame))
                offset += len(frame)
                yield frame


def _check_range(s: pd.Series, col: Column, source: str) -> None:
    """The declared `min_value`/`max_value` of a numeric column; missing values are not compared."""
    if (col.min_value is None and col.max_value is None) or col.kind not in ("int", "float"):
        return
    values = s.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):  # NaN compares False: a missing value passes here
        below = values < col.min_value if col.min_value is not None else np.zeros(len(s), bool)
        above = values > col.max_value if col.max_value is not None else np.zeros(len(s), bool)
    for mask, rule in (
        (below, f"below the minimum {col.min_value}"),
        (above, f"above the maximum {col.max_value}"),
    ):
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            raise DataValidationError(source, f"value {_shown(s.iloc[row])} {rule}", col.name, row)


def _shown(value: object) -> str:
    """A cell as a reader writes it: 2, 'a-1', 2025-01-01, missing (not np.int64(2))."""
    if value is None or value is pd.NaT or value is pd.NA:
        return "missing"
    if isinstance(value, float) and np.isnan(value):
        return "missing"
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _has_kind(s: pd.Series, col: Column) -> bool:
    dt = s.dtype
    if col.name == "account_id":  # int on the built-in book, text for a user's table
        return pd.api.types.is_integer_dtype(dt) or _is_text(dt)
    if col.kind == "int":  # a nullable integer may arrive as float64 with NaN: whole numbers only
        if pd.api.types.is_integer_dtype(dt):
            return True
        if not (col.nullable and pd.api.types.is_float_dtype(dt)):
            return False
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        values = values[~np.isnan(values)]
        return bool(np.all(values == np.round(values)))
    if col.kind == "float":
        return pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)
    if col.kind == "date":
        return pd.api.types.is_datetime64_any_dtype(dt) or (col.nullable and s.isna().all())
    if col.kind == "bool":
        return pd.api.types.is_bool_dtype(dt)
    return _is_text(dt)


def _is_text(dt: object) -> bool:
    return (
        pd.api.types.is_string_dtype(dt)
        or isinstance(dt, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dt)
    )


#: The raw tables as the features stage reads them back: what every source with a statement
#: history writes (the built-in book's generator, a lender's history: `features.history`). Rows
#: were validated at ingest by the source's own schema (`core.schema.CUSTOMERS`, ... for the
#: generator); here only the columns every such source has are required, the others checked when
#: present.
RAW_CUSTOMERS = TableContract(
    TableSchema(
        "customers",
        (
            Column("account_id", "int"),
            Column("signup_date", "date", nullable=True, required=False),
            Column("credit_limit", "float", nullable=True, min_value=0.0, required=False),
            Column("income_band", "str", nullable=True, required=False),
            Column("timezone", "str", nullable=True, required=False),
            *(
                Column(flag, "bool", required=False)
                for flag in ("dispute", "hardship", "opt_out", "deceased")
            ),
        ),
        key=("account_id",),
    ),
    "customers.parquet",
    open_columns="the built-in book's or the lender's other account columns (static features), "
    "protected__* columns",
)
#: Statement columns every history has; the rest are used when a book has them.
STATEMENT_CORE = ("account_id", "statement_date", "days_past_due", "outstanding_balance")
RAW_STATEMENTS = TableContract(
    TableSchema(
        "statements",
        tuple(
            # a negative balance is a credit balance: valid in a lender's history
            Column(c.name, c.kind, c.nullable, None, c.max_value, c.allowed, True)
            if c.name == "outstanding_balance"
            else dataclasses.replace(c, required=c.name in STATEMENT_CORE)
            for c in STATEMENTS.columns
        ),
        key=("account_id", "statement_date"),
    ),
    "statements.parquet",
)
RAW_OBSERVATIONS = TableContract(OBSERVATIONS, "observations.parquet")
#: Dated credit limit / income band history of the built-in book (read as of each date).
RAW_ATTRIBUTES = TableContract(
    TableSchema(
        "attributes",
        (
            Column("account_id", "int"),
            Column("effective_date", "date"),
            Column("credit_limit", "float", nullable=True, min_value=0.0, required=False),
            Column("income_band", "str", nullable=True, required=False),
        ),
        key=("account_id", "effective_date"),
    ),
    "attributes.parquet",
)
#: A user's loan table after ingest (table source): the mapped columns, then the user's own.
RAW_LOANS = TableContract(
    TableSchema(
        "loans",
        (
            Column("account_id", "str"),
            Column("observation_date", "date", nullable=True),
            Column("default", "int", nullable=True, min_value=0, max_value=1),
        ),
        key=("account_id",),
    ),
    "loans.parquet",
    open_columns="the table's own columns, less data.table.drop_columns",
)

FEATURES = TableContract(
    TableSchema(
        "features",
        (
            Column("account_id", "str"),
            Column("observation_date", "date", nullable=True),
            # The 0/1 label, missing for the current book (float64 with NaN on the built-in
            # book, Int8 for a loan table: both are a nullable integer column).
            Column("default", "int", nullable=True, min_value=0, max_value=1),
            Column("split", "str", allowed=SPLITS),
        ),
        key=("account_id", "observation_date"),
    ),
    "features.parquet",
    open_columns="the catalogue's model features, then protected__*, then policy__* inputs",
)

TRUE_PD = TableContract(
    TableSchema(
        "true_pd",
        (
            Column("account_id", "str"),
            Column("observation_date", "date", nullable=True),
            Column("true_pd", "float"),
        ),
        key=("account_id", "observation_date"),
    ),
    "true_pd.parquet",
)

#: What the train stage used each scored row for (SCORES `sample`), each a part of one split:
#: train rows the booster learned on ("train") or left out of its weighted sample
#: ("train_unsampled", params `train.max_train_rows`); validation rows that stopped it early
#: ("early_stopping": the development hold-out, out of sample for the calibrator) or fitted the
#: calibrator ("calibration"); the out-of-time "test" rows; the current book ("score").
SAMPLE_SPLIT: dict[str, str] = {
    "train": "train",
    "train_unsampled": "train",
    "early_stopping": "validation",
    "calibration": "validation",
    "test": "test",
    "score": "score",
}
SAMPLES: tuple[str, ...] = tuple(SAMPLE_SPLIT)

#: One row per scored feature-table row. `sample` records, once, what training did with the row,
#: so the register stage's gate and the validation report read the development hold-out and the
#: calibration sample rather than re-cut the validation split with train's seed and fraction. A
#: column beside the row's own scores is where a validator looks first, and it scales: written
#: as a pandas categorical (1 byte a row in memory, dictionary-encoded in Parquet: a few bytes
#: per row group), so a 5M-row book carries it at no real cost.
SCORES = TableContract(
    TableSchema(
        "scores",
        (
            Column("account_id", "str"),
            Column("observation_date", "date", nullable=True),
            Column("split", "str", allowed=SPLITS),
            Column("sample", "str", allowed=SAMPLES),
            Column("default", "int", nullable=True, min_value=0, max_value=1),
            Column("raw_score", "float", nullable=True),  # null: in default, not scored
            Column("pd", "float"),
            Column("score", "float", nullable=True),
            Column("grade", "str"),
        ),
        key=("account_id", "observation_date"),
    ),
    "scores.parquet",
)


def check_samples(scores: pd.DataFrame, source: str) -> pd.DataFrame:
    """Each row's `sample` must be a part of its `split` (`SAMPLE_SPLIT`): an early-stopping row
    is a validation row. The first row that breaks it is named; returns `scores`."""
    sample, split = scores["sample"], scores["split"]
    bad = np.zeros(len(scores), dtype=bool)
    for name, part_of in SAMPLE_SPLIT.items():
        bad |= (sample.eq(name) & split.ne(part_of)).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            source,
            f"sample {_shown(scores['sample'].iloc[row])} is not a part of split "
            f"{_shown(scores['split'].iloc[row])} (see core.contracts.SAMPLE_SPLIT)",
            "sample",
            row,
        )
    return scores


SHAP_VALUES = TableContract(
    TableSchema(
        "shap_values",
        (
            Column("account_id", "str"),
            Column("observation_date", "date", nullable=True),
            Column("split", "str", allowed=SPLITS),
        ),
        key=("account_id", "observation_date"),
    ),
    "shap_values.parquet",
    open_columns="one float32 column per model feature, then base_value",
)

REASONS = TableContract(
    TableSchema(
        "reasons",
        (
            Column("account_id", "str"),
            Column("observation_date", "date", nullable=True),
            Column("rank", "int", min_value=1),
            Column("feature", "str"),
            Column("value", "str"),
            Column("contribution", "float"),
            Column("text", "str"),
        ),
        key=("account_id", "observation_date", "rank"),
    ),
    "reasons.parquet",
)

TIERS = TableContract(
    TableSchema(
        "tiers",
        (
            Column("account_id", "str"),
            Column("pd", "float"),
            Column("grade", "str"),
            Column("tier", "int", min_value=0),
            Column("tier_name", "str"),
            Column("channels", "str"),
            Column("rule", "str"),
            Column("guardrails", "str"),
        ),
        key=("account_id",),
    ),
    "tiers.parquet",
    open_columns="caps, offer, reasons, ev_tier, the policy inputs the engine read, arm and "
    "treatment_tier (the collection experiment: collection_policy.experiment)",
)

#: Contracts by table name, for docs and tests.
STAGE_TABLES: dict[str, TableContract] = {
    c.name: c
    for c in (
        RAW_CUSTOMERS,
        RAW_STATEMENTS,
        RAW_OBSERVATIONS,
        RAW_ATTRIBUTES,
        RAW_LOANS,
        FEATURES,
        TRUE_PD,
        SCORES,
        SHAP_VALUES,
        REASONS,
        TIERS,
    )
}

#: The built-in book's truth beside TRUE_PD (never a feature; a lender's book has none):
#: each customer's hidden cure effect and the monthly macro factor.
CUSTOMER_EFFECTS = TableContract(
    TableSchema(
        "customer_effects",
        (Column("account_id", "str"), Column("slow_cure", "float")),
        key=("account_id",),
    ),
    "customer_effects.parquet",
)
MACRO = TableContract(
    TableSchema(
        "macro", (Column("month", "date"), Column("macro_factor", "float")), key=("month",)
    ),
    "macro.parquet",
)
STAGE_TABLES.update({c.name: c for c in (CUSTOMER_EFFECTS, MACRO)})

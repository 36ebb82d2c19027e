"""The request a served model takes, and the one mapping from table rows to it.

Columns: the catalogue's model features (numerics as double, categoricals as text; null =
missing, unseen categories score as missing) plus the policy inputs declared in
`core.contracts.POLICY_INPUTS` under their request names (`PolicyInput.request_column`: plain,
unless a model feature has the same name, as `first_time_delinquency` does, in which case the
feature table's `policy__<name>` is kept; the two differ: the feature is missing without history,
a flag is never guessed). The logged signature (`pyfunc.signature_for`) is derived from
`request_schema`, and both the example a client sees (`to_request_frame`) and the batch scorer
(`batch.score_file`) type their rows with `to_request`, so there is one set of typing rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, to_model_frame
from core.contracts import POLICY_INPUTS
from core.errors import DataValidationError


@dataclass(frozen=True)
class RequestColumn:
    """One request column: its name, its MLflow type and whether a request must carry it."""

    name: str
    mlflow_type: str  # "double" | "string" | "boolean"
    required: bool


def request_columns(catalogue: Catalogue) -> dict[str, str]:
    """Policy input (engine name) -> its request column name: plain unless it is a model column."""
    model = frozenset(catalogue.model_columns)
    return {p.name: p.request_column(model) for p in POLICY_INPUTS}


def request_schema(catalogue: Catalogue, with_policy: bool) -> list[RequestColumn]:
    """The request's columns in order: model features, then (with the policy) policy inputs."""
    columns = [
        RequestColumn(f.name, "string" if f.dtype == "category" else "double", True)
        for f in catalogue.features
    ]
    if with_policy:
        names = request_columns(catalogue)
        columns += [RequestColumn(names[p.name], p.mlflow_type, p.required) for p in POLICY_INPUTS]
    return columns


def to_request(frame: pd.DataFrame, types: Mapping[str, str]) -> pd.DataFrame:
    """Rows as a request for columns typed `types` (request name -> MLflow type).

    A feature table's `policy__<name>` column is renamed to the request name `<name>` when the
    frame lacks `<name>`. Then, for the columns `types` names: numbers become float64 where the
    type is double (MLflow refuses an int64 -> float64 cast; missing -> NaN); text becomes Python
    strings with None for missing (CSV reads an all-empty column as float NaN; categories come
    as their labels). Flags are left as they are: a missing flag is never guessed, the model
    rejects it. Other columns (ids) pass through; values the model cannot read are left for it to
    reject with the column named.
    """
    rename = {
        p.feature_column: p.name
        for p in POLICY_INPUTS
        if p.name in types and p.name not in frame.columns and p.feature_column in frame.columns
    }
    out = frame.rename(columns=rename) if rename else frame
    typed: dict[str, object] = {}
    for name, mlflow_type in types.items():
        if name not in out.columns:
            continue
        col = out[name]
        if mlflow_type == "double" and _is_number(col) and col.dtype != np.float64:
            typed[name] = col.to_numpy(dtype="float64", na_value=np.nan)
        elif mlflow_type == "string":
            typed[name] = _as_text(col)
    return out.assign(**typed) if typed else out


def to_request_frame(
    frame: pd.DataFrame, catalogue: Catalogue, with_policy: bool = False
) -> pd.DataFrame:
    """What a client sends for feature-table rows: exactly the request columns, in order.

    Model columns come through `to_model_frame` (the trained dtypes: unseen categories become
    missing, numeric text is parsed); with `with_policy`, a required policy input the table lacks
    is an error naming its feature-table column.
    """
    schema = request_schema(catalogue, with_policy)
    model = to_model_frame(frame, catalogue, "feature table")
    parts = [model.reset_index(drop=True)]
    if with_policy:
        names = request_columns(catalogue)
        present: dict[str, pd.Series] = {}
        for p in POLICY_INPUTS:
            request = names[p.name]
            source = request if request in frame.columns else p.feature_column
            if source in frame.columns:
                present[request] = frame[source].reset_index(drop=True)
            elif p.required:
                raise DataValidationError(
                    "feature table", "policy input column is missing", column=p.feature_column
                )
        parts.append(pd.DataFrame(present))
    rows = pd.concat(parts, axis=1)
    typed = to_request(rows, {c.name: c.mlflow_type for c in schema})
    # a copy: the caller owns (and may edit) the request, not views into `frame`
    return typed[[c.name for c in schema if c.name in typed.columns]].copy()


def _is_number(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col.dtype) and not isinstance(
        col.dtype, pd.CategoricalDtype
    )


def _as_text(col: pd.Series) -> pd.Series:
    """Python strings and None: text stays as it is, other values (categories, numbers) as str."""
    text = col.astype(object).where(col.notna(), None)
    if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
        return text
    as_str = [v if v is None or isinstance(v, str) else str(v) for v in text]
    return pd.Series(as_str, index=col.index, dtype=object)  # map() would infer a str dtype

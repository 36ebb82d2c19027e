"""The feature catalogue: the contract between the feature stage, training, explanations and serving.

Every consumer turns a frame into model input through `to_model_frame`, so training and serving cast
columns (and map unseen categories to missing) the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataValidationError, PipelineError

#: The catalogue's file name beside features.parquet in the features directory.
CATALOGUE_FILE = "catalogue.json"


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    dtype: str  # "float" | "int" | "category" | "bool"
    description: str = ""
    sources: list[str] = field(default_factory=list)
    direction: int = 0  # +1 riskier as it grows, -1 safer, 0 unknown
    categories: list[str] | None = None


@dataclass(frozen=True)
class Catalogue:
    features: list[FeatureSpec]
    id_column: str = "account_id"
    protected: list[str] = field(default_factory=list)
    policy_columns: list[str] = field(default_factory=list)
    #: the currency of the book's amounts (None: the collection policy's own) and the rate that
    #: converts them to the policy's, where they differ (a lender's `data.history`)
    currency: str | None = None
    fx_to_policy: float | None = None

    @property
    def model_columns(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.dtype == "category"]

    @cached_property
    def matrix_layout(self) -> MatrixLayout:
        """Where each model column lands in the model matrix (`direct_model_matrix`), worked out
        once per catalogue: the served model asks for it on every request."""
        return MatrixLayout.of(self)

    def spec(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for f in out["features"]:
            if f["categories"] is None:
                del f["categories"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalogue:
        feats = [
            FeatureSpec(**{k: v for k, v in f.items() if k in FeatureSpec.__dataclass_fields__})
            for f in data["features"]
        ]
        return cls(
            features=feats,
            id_column=data.get("id_column", "account_id"),
            currency=data.get("currency"),
            fx_to_policy=data.get("fx_to_policy"),
            protected=list(data.get("protected", [])),
            policy_columns=list(data.get("policy_columns", [])),
        )


def to_model_frame(df: pd.DataFrame, catalogue: Catalogue, source: str = "input") -> pd.DataFrame:
    """Select the model columns in catalogue order with the trained dtypes.

    Categories are fixed to the catalogue's list: unseen values become missing (NaN) instead of
    failing, which LightGBM routes like any missing value. Numeric text that cannot be parsed fails
    with the column named.

    Serving calls this per request, so columns that already have the trained dtype pass through
    untouched, numeric columns are cast without parsing, and categories are mapped once per
    distinct value (factorize), never per row.
    """
    missing = [c for c in catalogue.model_columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            source, f"missing model input column(s) {missing}", column=missing[0]
        )
    dtypes = df.dtypes
    # Columns already float64 come out of one block read instead of one lookup per column.
    ready = [
        f.name for f in catalogue.features if f.dtype != "category" and dtypes[f.name] == np.float64
    ]
    block = df[ready].to_numpy(dtype=np.float64) if ready else None
    position = {name: i for i, name in enumerate(ready)}
    out: dict[str, Any] = {}
    for spec in catalogue.features:
        if spec.name in position:
            out[spec.name] = block[:, position[spec.name]]  # type: ignore[index]
        elif spec.dtype == "category":
            out[spec.name] = _as_categories(df[spec.name], tuple(spec.categories or ()))
        else:
            out[spec.name] = _as_float(df[spec.name], spec.name, source)
    return pd.DataFrame(out, index=df.index, copy=False)


@lru_cache(maxsize=256)
def _category_dtype(cats: tuple[str, ...]) -> tuple[pd.CategoricalDtype, pd.Index]:
    return pd.CategoricalDtype(list(cats)), pd.Index(list(cats), dtype=object)


def _as_categories(col: pd.Series, cats: tuple[str, ...]) -> pd.Categorical:
    """Values as text mapped onto the fixed categories; missing and unseen values -> NaN."""
    dtype, index = _category_dtype(cats)
    if isinstance(col.dtype, pd.CategoricalDtype) and tuple(col.cat.categories) == cats:
        return col.array
    codes, uniques = pd.factorize(col, use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Categorical.from_codes(np.full(len(col), -1, dtype=np.int64), dtype=dtype)
    as_text = [str(u) for u in uniques]  # the trained categories are text; 1 -> "1"
    lookup = index.get_indexer(pd.Index(as_text, dtype=object))
    mapped = np.where(codes < 0, -1, lookup[np.maximum(codes, 0)])
    return pd.Categorical.from_codes(mapped.astype(np.int64), dtype=dtype)


def _as_float(col: pd.Series, name: str, source: str) -> np.ndarray:
    """float64 values; text is parsed and anything unparseable fails naming column and row."""
    dtype = col.dtype
    if dtype == np.float64:
        return col.to_numpy()
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return col.to_numpy(dtype="float64", na_value=np.nan)
    numeric = pd.to_numeric(col, errors="coerce")
    bad = numeric.isna() & col.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            source, f"value {col.iloc[row]!r} is not numeric", column=name, row=row
        )
    return numeric.to_numpy(dtype="float64", na_value=np.nan)


def model_matrix(x: pd.DataFrame) -> np.ndarray:
    """A `to_model_frame` output as the float64 matrix LightGBM reads: category -> code, missing -> NaN.

    Scoring with this instead of the DataFrame skips LightGBM's own pandas conversion on every
    call (about 8 ms for a one-row request, a full copy on large batches). The codes are the ones
    LightGBM derives itself, because training and scoring frames both carry the catalogue's fixed
    category lists.
    """
    out = np.empty((len(x), x.shape[1]), dtype=np.float64)
    for j, (_, col) in enumerate(x.items()):
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy()
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


@dataclass(frozen=True)
class MatrixLayout:
    """The model matrix's columns by kind: numeric columns (name, position) and categorical ones
    (position, name, label -> code in the catalogue's fixed category order)."""

    width: int
    numeric: tuple[str, ...]
    numeric_at: np.ndarray
    categories: tuple[tuple[int, str, dict[str, int]], ...]  # never mutated

    @classmethod
    def of(cls, catalogue: Catalogue) -> MatrixLayout:
        numeric = [(j, f.name) for j, f in enumerate(catalogue.features) if f.dtype != "category"]
        at = np.array([j for j, _ in numeric], dtype=np.int64)
        at.setflags(write=False)
        return cls(
            width=len(catalogue.features),
            numeric=tuple(name for _, name in numeric),
            numeric_at=at,
            categories=tuple(
                (j, f.name, {c: k for k, c in enumerate(f.categories or ())})
                for j, f in enumerate(catalogue.features)
                if f.dtype == "category"
            ),
        )


def direct_model_matrix(
    df: pd.DataFrame, catalogue: Catalogue, source: str = "input"
) -> np.ndarray:
    """`model_matrix(to_model_frame(df, catalogue, source))`, built straight from `df`'s columns.

    The served model's path for a request of a few rows: no model frame in between (pandas costs
    more than the trees for one row). Numeric columns that are float64 are copied as they are;
    categories given as text (or missing) are looked up value by value in the catalogue's codes,
    unseen and missing -> NaN. Any other column (ints, text in a number column, a categorical
    dtype, a category given as a number) and a missing column take `to_model_frame`, so the
    result, and any error, is always that of the general path. Value by value: for few rows only.
    """
    direct = _direct_matrix(df, catalogue.matrix_layout)
    return direct if direct is not None else model_matrix(to_model_frame(df, catalogue, source))


def _direct_matrix(df: pd.DataFrame, layout: MatrixLayout) -> np.ndarray | None:
    """The matrix from float64 numbers and text categories; None when a column is anything else.

    Only text and missing values are read here: `to_model_frame` factorizes a category column
    first, which merges values that compare equal (1, 1.0 and True become one value, shown "1";
    -0.0 and 0.0 likewise), so anything else is left to it.
    """
    out = np.empty((len(df), layout.width), dtype=np.float64)
    try:
        numeric = [df[c].to_numpy() for c in layout.numeric]
        if any(a.dtype != np.float64 for a in numeric):
            return None
        if numeric:
            out[:, layout.numeric_at] = np.column_stack(numeric)
        for j, name, codes in layout.categories:
            col = df[name]
            if col.dtype != object and not isinstance(col.dtype, pd.StringDtype):
                return None
            for i, v in enumerate(col.tolist()):
                if isinstance(v, str):
                    code = codes.get(v)
                elif v is None or v is pd.NA or (isinstance(v, float) and v != v):
                    code = None
                else:
                    return None
                out[i, j] = np.nan if code is None else code
    except KeyError:  # a missing column: `to_model_frame` names it
        return None
    return out


def read_catalogue(features_dir: str | Path) -> Catalogue:
    """data/features/catalogue.json; it must list at least one feature."""
    from core.io import read_json

    path = Path(features_dir) / CATALOGUE_FILE
    if not path.is_file():
        raise PipelineError(f"'{path}' not found; run the features stage first")
    catalogue = Catalogue.from_dict(read_json(path))
    if not catalogue.features:
        raise DataValidationError(str(path), "catalogue lists no features")
    return catalogue


def read_feature_dir(
    features_dir: str | Path,
    columns: list[str] | None = None,
    splits: tuple[str, ...] | None = None,
) -> tuple[pd.DataFrame, Catalogue]:
    """The features stage's output: the table (FEATURES contract) and its catalogue.

    The one reader of data/features for register and validate. The file must hold the id and
    every model column (`require_model_columns`) whatever `columns` narrows the read to; `splits`
    keeps only rows of those splits (read with a Parquet filter, so wide tables stay cheap).
    """
    from core.contracts import FEATURES

    root = Path(features_dir)
    catalogue = read_catalogue(root)
    filters = None if splits is None else [("split", "in", list(splits))]
    table_path = root / FEATURES.file
    require_model_columns(catalogue, FEATURES.read_schema(table_path, stage="features"), table_path)
    table = FEATURES.read(table_path, columns=columns, stage="features", filters=filters)
    return table, catalogue


def require_model_columns(catalogue: Catalogue, present: list[str], path: str | Path) -> None:
    """The feature file at `path` (its column names `present`) has the id and every model column."""
    have = set(present)
    missing = [c for c in (catalogue.id_column, *catalogue.model_columns) if c not in have]
    if missing:
        raise DataValidationError(str(path), "required column is missing", missing[0])

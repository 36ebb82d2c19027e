"""The feature catalogue: the contract between the feature stage, training, explanations and serving.

Every consumer turns a frame into model input through `to_model_frame`, so training and serving cast
columns (and map unseen categories to missing) the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.errors import DataValidationError


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

    @property
    def model_columns(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.dtype == "category"]

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
            protected=list(data.get("protected", [])),
            policy_columns=list(data.get("policy_columns", [])),
        )


def to_model_frame(df: pd.DataFrame, catalogue: Catalogue, source: str = "input") -> pd.DataFrame:
    """Select the model columns in catalogue order with the trained dtypes.

    Categories are fixed to the catalogue's list: unseen values become missing (NaN) instead of
    failing, which LightGBM routes like any missing value. Numeric text that cannot be parsed fails
    with the column named.
    """
    missing = [c for c in catalogue.model_columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            source, f"missing model input column(s) {missing}", column=missing[0]
        )
    out: dict[str, Any] = {}
    for spec in catalogue.features:
        col = df[spec.name]
        if spec.dtype == "category":
            cats = list(spec.categories or [])
            values = col.astype("object").where(col.notna(), None)
            values = values.map(lambda v: None if v is None else str(v))
            out[spec.name] = pd.Categorical(values, categories=cats)
        else:
            if col.dtype == bool or str(col.dtype) == "boolean":
                numeric = col.astype("float64")
            else:
                numeric = pd.to_numeric(col, errors="coerce")
                bad = numeric.isna() & col.notna()
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise DataValidationError(
                        source, f"value {col.iloc[row]!r} is not numeric", column=spec.name, row=row
                    )
            out[spec.name] = numeric.astype("float64")
    return pd.DataFrame(out, index=df.index)

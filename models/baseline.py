"""Scorecard-style baseline: a regularised logistic regression trained beside the GBM.

Numeric features are winsorised at the 1st/99th training percentiles (credit variables have long
tails that would otherwise dominate a linear model), missing values imputed with the training
median plus a missing-indicator, then standardised; categoricals are one-hot encoded with missing
as its own level and unseen levels ignored. It answers "what does the GBM buy?" on every run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.catalogue import Catalogue, to_model_frame

log = logging.getLogger(__name__)

_MISSING = "__missing__"


def _winsorizer(lower: float = 0.01, upper: float = 0.99) -> Any:
    from sklearn.base import BaseEstimator, TransformerMixin

    class Winsorizer(TransformerMixin, BaseEstimator):
        """Clip each column to training quantiles (NaN passes through)."""

        def __init__(self, lower: float = 0.01, upper: float = 0.99):
            self.lower, self.upper = lower, upper

        def fit(self, x: Any, y: Any = None) -> Winsorizer:
            arr = np.asarray(x, dtype="float64")
            with np.errstate(all="ignore"):
                self.lo_ = np.nan_to_num(np.nanquantile(arr, self.lower, axis=0), nan=0.0)
                self.hi_ = np.nan_to_num(np.nanquantile(arr, self.upper, axis=0), nan=0.0)
            return self

        def transform(self, x: Any) -> np.ndarray:
            arr = np.asarray(x, dtype="float64")
            return np.where(np.isnan(arr), np.nan, np.clip(arr, self.lo_, self.hi_))

    return Winsorizer(lower, upper)


def _categorical_as_text(x: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    out = x.copy()
    for c in cats:
        out[c] = x[c].astype("object").where(x[c].notna(), _MISSING).astype(str)
    return out


@dataclass
class LogisticBaseline:
    """Fit/predict wrapper around an sklearn pipeline, driven by the catalogue."""

    catalogue: Catalogue
    c: float = 1.0
    max_iter: int = 2000
    pipeline: Any = None

    def _build(self) -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        cats = self.catalogue.categorical
        nums = [c for c in self.catalogue.model_columns if c not in cats]
        steps = []
        if nums:
            num_pipe = Pipeline(
                [
                    ("winsor", _winsorizer()),
                    (
                        "impute",
                        SimpleImputer(
                            strategy="median", add_indicator=True, keep_empty_features=True
                        ),
                    ),
                    ("scale", StandardScaler()),
                ]
            )
            steps.append(("num", num_pipe, nums))
        if cats:
            steps.append(("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=10), cats))
        pre = ColumnTransformer(steps, remainder="drop")
        lr = LogisticRegression(C=self.c, max_iter=self.max_iter)
        return Pipeline([("pre", pre), ("lr", lr)])

    def fit(self, frame: pd.DataFrame, y: Any) -> LogisticBaseline:
        x = _categorical_as_text(to_model_frame(frame, self.catalogue), self.catalogue.categorical)
        self.pipeline = self._build()
        self.pipeline.fit(x, np.asarray(y, dtype="int8"))
        log.info("logistic baseline fitted on %d rows", len(x))
        return self

    def predict_pd(self, frame: pd.DataFrame) -> np.ndarray:
        if self.pipeline is None:
            raise RuntimeError("baseline is not fitted")
        x = _categorical_as_text(to_model_frame(frame, self.catalogue), self.catalogue.categorical)
        return self.pipeline.predict_proba(x)[:, 1]

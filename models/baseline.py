"""Scorecard-style baseline: a regularised logistic regression trained beside the GBM.

Numeric features are winsorised at the 1st/99th training percentiles (credit variables have long
tails that would otherwise dominate a linear model), missing values imputed with the training
median plus a missing-indicator, then standardised; categoricals are one-hot encoded with missing
as its own level and unseen levels ignored. It answers "what does the GBM buy?" on every run.

The fitted baseline saves to plain JSON (`to_dict` / `from_dict`, no pickles): the train stage keeps
it in the model's meta (`models.training.train_pd`), so the register stage's gate can score the
same test rows with it (`models.gate`, check `vs_baseline`) without refitting anything. A baseline
read back scores with numpy from the saved numbers; `from_dict(to_dict())` reproduces the fitted
pipeline's PD (tests/models/test_small_tables.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, to_model_frame

#: Rows per block of `LogisticBaseline.predict_pd` (bounded memory, same PDs).
PREDICT_BLOCK_ROWS = 500_000

log = logging.getLogger(__name__)

_MISSING = "__missing__"
#: Version of the `to_dict` document.
BASELINE_FORMAT = 1


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
    saved: dict[str, Any] | None = None  # the `to_dict` document of a baseline read back

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
        """PD of each row, computed in blocks of `PREDICT_BLOCK_ROWS` rows (each row's PD is its
        own: the same numbers to the last bit of a dot product, without a text copy and a design
        matrix of millions of rows)."""
        if self.pipeline is None and self.saved is None:
            raise RuntimeError("baseline is not fitted")
        if len(frame) <= PREDICT_BLOCK_ROWS:
            return self._predict_block(frame)
        return np.concatenate(
            [
                self._predict_block(frame.iloc[start : start + PREDICT_BLOCK_ROWS])
                for start in range(0, len(frame), PREDICT_BLOCK_ROWS)
            ]
        )

    def _predict_block(self, frame: pd.DataFrame) -> np.ndarray:
        x = _categorical_as_text(to_model_frame(frame, self.catalogue), self.catalogue.categorical)
        if self.pipeline is not None:
            return self.pipeline.predict_proba(x)[:, 1]
        return _saved_pd(self.saved, x)

    def to_dict(self) -> dict[str, Any]:
        """The fitted baseline as plain JSON: clip bounds, medians, missing indicators, scaling,
        one-hot levels (frequent levels in column order, then the infrequent bucket) and the
        logistic coefficients in the pipeline's column order."""
        if self.pipeline is None:
            if self.saved is not None:
                return self.saved
            raise RuntimeError("baseline is not fitted")
        pre, lr = self.pipeline.named_steps["pre"], self.pipeline.named_steps["lr"]
        doc: dict[str, Any] = {
            "format": BASELINE_FORMAT,
            "c": self.c,
            "max_iter": self.max_iter,
            "numeric": None,
            "categorical": [],
            "coef": [float(v) for v in lr.coef_.ravel()],
            "intercept": float(lr.intercept_[0]),
        }
        for name, step, columns in pre.transformers_:
            if name == "num":
                winsor, impute, scale = (step.named_steps[k] for k in ("winsor", "impute", "scale"))
                doc["numeric"] = {
                    "columns": list(columns),
                    "lower": [float(v) for v in winsor.lo_],
                    "upper": [float(v) for v in winsor.hi_],
                    "median": [float(v) for v in impute.statistics_],
                    "indicator": [int(i) for i in impute.indicator_.features_],
                    "mean": [float(v) for v in scale.mean_],
                    "scale": [float(v) for v in scale.scale_],
                }
            elif name == "cat":
                infrequent = step.infrequent_categories_ or [None] * len(columns)
                for column, levels, rare in zip(columns, step.categories_, infrequent, strict=True):
                    rare_set = set() if rare is None else {str(v) for v in rare}
                    doc["categorical"].append(
                        {
                            "column": column,
                            "levels": [str(v) for v in levels if str(v) not in rare_set],
                            "infrequent": sorted(rare_set),
                        }
                    )
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any], catalogue: Catalogue) -> LogisticBaseline:
        """A baseline read back from `to_dict`; it scores with numpy from the saved numbers."""
        if doc.get("format") != BASELINE_FORMAT:
            raise ValueError(f"baseline format {doc.get('format')!r} is not {BASELINE_FORMAT}")
        return cls(catalogue=catalogue, c=doc["c"], max_iter=doc["max_iter"], saved=doc)


def _saved_pd(doc: dict[str, Any], x: pd.DataFrame) -> np.ndarray:
    """The saved baseline's PD: the pipeline's transforms and logistic link, in numpy."""
    blocks: list[np.ndarray] = []
    num = doc["numeric"]
    if num is not None:
        arr = x[num["columns"]].to_numpy(dtype="float64")
        clipped = np.where(np.isnan(arr), np.nan, np.clip(arr, num["lower"], num["upper"]))
        missing = np.isnan(clipped)
        filled = np.where(missing, np.asarray(num["median"], dtype="float64"), clipped)
        stacked = np.hstack([filled, missing[:, num["indicator"]].astype("float64")])
        blocks.append((stacked - np.asarray(num["mean"])) / np.asarray(num["scale"]))
    for spec in doc["categorical"]:
        values = x[spec["column"]].astype(str).to_numpy()
        cols = [values == level for level in spec["levels"]]
        if spec["infrequent"]:
            cols.append(np.isin(values, spec["infrequent"]))
        blocks.append(np.column_stack(cols).astype("float64") if cols else np.zeros((len(x), 0)))
    design = np.hstack(blocks) if blocks else np.zeros((len(x), 0))
    logit = design @ np.asarray(doc["coef"], dtype="float64") + doc["intercept"]
    return 1.0 / (1.0 + np.exp(-logit))

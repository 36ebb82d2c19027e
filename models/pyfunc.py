"""The served model: an MLflow `PythonModel` around `PDModel`.

LightGBM's generic pyfunc flavour returns 0/1 labels, so the registry holds this wrapper instead:
it loads the plain files `PDModel.save` wrote (shipped as the `model_dir` artifact) and returns
pd, score and grade per row. The package code travels with the model (`code_paths=["features",
"models"]`) so `models:/credit-pd@champion` loads without the repository installed.
Requests carry categoricals as strings (that is what the signature records); `PDModel` casts them
back to the trained categories through `to_model_frame`, unseen values becoming missing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from features.catalogue import Catalogue, to_model_frame

log = logging.getLogger(__name__)

MODEL_DIR_ARTIFACT = "model_dir"
OUTPUT_COLUMNS = ["pd", "score", "grade"]


class PDPyfuncModel(mlflow.pyfunc.PythonModel):
    """Rows of features in, one row of (pd, score, grade) out, in request order."""

    def load_context(self, context: Any) -> None:
        from models.pd_model import PDModel

        self.model = PDModel.load(Path(context.artifacts[MODEL_DIR_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        out = self.model.predict_frame(frame.reset_index(drop=True), source="request")
        return self._output(frame, out)

    def _output(self, frame: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
        """Hook for richer outputs (tiers, reasons) in subclasses."""
        return scored[OUTPUT_COLUMNS].reset_index(drop=True)


def to_request_frame(frame: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    """What a client sends: model columns, numerics as float64, categoricals as text (None if missing)."""
    x = to_model_frame(frame, catalogue)
    out = x.copy()
    for c in catalogue.categorical:
        out[c] = x[c].astype("object").where(x[c].notna(), None)
    return out.reset_index(drop=True)


def signature_and_example(
    frame: pd.DataFrame, model: Any, n_example: int = 5
) -> tuple[Any, pd.DataFrame]:
    """Model signature from a few request rows (complete rows preferred) and their predictions."""
    from mlflow.models import infer_signature

    request = to_request_frame(frame, model.catalogue)
    complete = request.dropna()
    example = (complete if len(complete) >= n_example else request).head(n_example)
    example = example.reset_index(drop=True)
    scored = model.predict_frame(example)[OUTPUT_COLUMNS]
    scored["grade"] = scored["grade"].astype(object)
    for c in model.catalogue.categorical:
        example[c] = example[c].astype(object)
    return infer_signature(example, scored), example

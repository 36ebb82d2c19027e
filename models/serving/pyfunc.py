"""The served model: an MLflow `PythonModel` that gives downstream services the pipeline's answer.

One registered model answers per account: PD, score and grade (`PDModel`), the collection tier with
its channels and offer (`collection_policy.engine.assign_tiers` under the bundled policy) and the top reasons
(native TreeSHAP via `models.explain.shap_values`, worded by `models.explain.reasons.reason_codes` from the
bundled reason dictionary). Every number comes from the same package functions the DVC stages call;
this module only moves columns between them. The package code travels with the model
(`code_paths=["features", "models"]`), so `models:/credit-pd@champion` loads without the repository.

Artifacts (plain files, no pickled state): `model_dir` (booster.txt, calibrator.json,
model_meta.json), `policy` (collection_policy.yaml), `reasons` (reasons.yaml). The tier mode and the
number of reasons travel in the model config (`ServingConfig`).

Request columns: the catalogue's model columns (numerics as double, categoricals as text; null =
missing, unseen categories score as missing) plus the policy inputs under their plain names
(`days_past_due`, ...). A policy input whose plain name is also a model column (the feature table has
a `first_time_delinquency` feature *and* a policy flag) keeps its feature-table name
`policy__<name>`: the two differ (the feature is missing without history; a flag is never guessed).
`request_columns` gives the exact mapping; the logged signature states it too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from features.catalogue import POLICY_PREFIX, Catalogue, to_model_frame
from features.errors import ConfigError, DataValidationError

log = logging.getLogger(__name__)

MODEL_DIR_ARTIFACT = "model_dir"
POLICY_ARTIFACT = "policy"
REASONS_ARTIFACT = "reasons"
PD_COLUMNS = ["pd", "score", "grade"]
TIER_COLUMNS = ["tier", "tier_name", "handling", "channels", "caps", "offer", "rule", "guardrails"]

#: Policy inputs (engine name -> MLflow type, required). Flags are never guessed: required booleans.
#: A missing time zone falls back to the policy default (recorded as `unknown_timezone`).
POLICY_INPUTS: dict[str, tuple[str, bool]] = {
    "days_past_due": ("double", True),
    "overdue_amount": ("double", True),
    "outstanding_balance": ("double", True),
    "first_time_delinquency": ("boolean", True),
    "dispute": ("boolean", True),
    "hardship": ("boolean", True),
    "opt_out": ("boolean", True),
    "deceased": ("boolean", True),
    "timezone": ("string", False),
}


@dataclass(frozen=True)
class ServingConfig:
    """What the served model does beyond PD: tier mode (params `tiers.mode`), reasons per account
    (params `explain.top_k`) and rows per TreeSHAP call."""

    tier_mode: str = "rules"
    top_k: int = 4
    shap_batch_rows: int = 20_000

    def __post_init__(self) -> None:
        from collection_policy.engine import MODES

        if self.tier_mode not in MODES:
            raise ConfigError("tiers.mode", f"must be one of {list(MODES)}", self.tier_mode)
        if not isinstance(self.top_k, int) or not 1 <= self.top_k <= 20:
            raise ConfigError("explain.top_k", "must be an integer in [1, 20]", self.top_k)
        if not isinstance(self.shap_batch_rows, int) or self.shap_batch_rows < 1:
            raise ConfigError("shap_batch_rows", "must be a positive integer", self.shap_batch_rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ServingConfig:
        data = dict(data or {})
        known = {k: data[k] for k in ("tier_mode", "top_k", "shap_batch_rows") if k in data}
        return cls(**known)


@dataclass(frozen=True)
class ServingSpec:
    """What the train stage bundles next to the PD model (paths are read at logging time)."""

    policy_path: Path
    reasons_path: Path
    config: ServingConfig = ServingConfig()


def request_columns(catalogue: Catalogue) -> dict[str, str]:
    """Policy input (engine name) -> its request column name: plain unless it is a model column."""
    model = set(catalogue.model_columns)
    return {n: (POLICY_PREFIX + n if n in model else n) for n in POLICY_INPUTS}


@dataclass
class ServingBundle:
    """Everything a request needs, loaded once: PD model, policy, reason dictionary, config."""

    model: Any  # models.pd_model.PDModel
    policy: Any | None = None  # collection_policy.schema.CollectionPolicy
    dictionary: Any | None = None  # models.explain.reasons.ReasonDictionary
    config: ServingConfig = ServingConfig()

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        policy_path: str | Path | None = None,
        reasons_path: str | Path | None = None,
        config: ServingConfig | None = None,
    ) -> ServingBundle:
        from collection_policy.loader import load_policy
        from models.explain.reasons import load_reason_dictionary, validate_dictionary
        from models.pd_model import PDModel

        model = PDModel.load(Path(model_dir))
        policy = load_policy(policy_path) if policy_path else None
        dictionary = load_reason_dictionary(reasons_path) if reasons_path else None
        if dictionary is not None:
            validate_dictionary(dictionary, model.catalogue)
        return cls(model, policy, dictionary, config or ServingConfig())

    @property
    def names(self) -> dict[str, str]:
        return request_columns(self.model.catalogue) if self.policy is not None else {}

    def input_columns(self) -> list[str]:
        return [*self.model.catalogue.model_columns, *self.names.values()]

    def output_columns(self, reasons: bool = True) -> list[str]:
        cols = list(PD_COLUMNS)
        if self.policy is not None:
            cols += TIER_COLUMNS
        if reasons and self.dictionary is not None:
            cols += [f"reason_{r}" for r in range(1, self.config.top_k + 1)]
        return cols

    def score(
        self, frame: pd.DataFrame, reasons: bool = True, source: str = "request"
    ) -> pd.DataFrame:
        """Score rows: PD/score/grade, then tiers, then reasons; output in request order.

        Raises DataValidationError (column, row, rule) on inputs the pipeline would also reject.
        """
        from collection_policy.engine import assign_tiers

        frame = frame.reset_index(drop=True)
        x = to_model_frame(frame, self.model.catalogue, source)
        scored = self.model.predict_frame(x, source)  # x already has the trained dtypes
        out = scored[PD_COLUMNS].copy()
        out["grade"] = out["grade"].astype(object)
        if self.policy is not None:
            accounts = self._accounts(frame, scored, source)
            tiers = assign_tiers(accounts, self.policy, self.config.tier_mode, source=source)
            for c in TIER_COLUMNS:
                col = tiers[c]
                out[c] = col.astype(np.int64) if c == "tier" else col.astype(object)
        if reasons and self.dictionary is not None:
            out = pd.concat([out, self._reasons(x)], axis=1)
        return out

    def _accounts(self, frame: pd.DataFrame, scored: pd.DataFrame, source: str) -> pd.DataFrame:
        """The tier engine's input: scored PD columns plus the policy inputs under engine names."""
        cols: dict[str, Any] = {c: scored[c].to_numpy() for c in PD_COLUMNS}
        for engine, request in self.names.items():
            if request in frame.columns:
                cols[engine] = frame[request].to_numpy()
            elif not POLICY_INPUTS[engine][1]:
                cols[engine] = np.full(len(frame), None, dtype=object)
            else:
                raise DataValidationError(
                    source, f"missing policy input column '{request}'", column=request
                )
        return pd.DataFrame(cols)

    def _reasons(self, x: pd.DataFrame) -> pd.DataFrame:
        from models.explain.reasons import reason_codes, reasons_wide
        from models.explain.treeshap import shap_values

        k = self.config.top_k
        result = shap_values(
            self.model.booster, x, batch_rows=self.config.shap_batch_rows, progress=False
        )
        long = reason_codes(result.values, x, self.model.catalogue, self.dictionary, top_k=k)
        wide = reasons_wide(long, k, index=x.index).astype(object)
        return wide.where(wide.notna(), None)


class PDPyfuncModel(mlflow.pyfunc.PythonModel):
    """Rows of accounts in, one row of PD, tier and reasons out, in request order.

    `params={"reasons": False}` skips the TreeSHAP reasons (about 100x the cost of a PD).
    Input problems the pipeline would reject raise an `MlflowException` with
    INVALID_PARAMETER_VALUE, which `mlflow models serve` answers with HTTP 400 and the message
    (column, row, rule).
    """

    def load_context(self, context: Any) -> None:
        arts = context.artifacts
        self.bundle = ServingBundle.load(
            arts[MODEL_DIR_ARTIFACT],
            arts.get(POLICY_ARTIFACT),
            arts.get(REASONS_ARTIFACT),
            ServingConfig.from_dict(getattr(context, "model_config", None)),
        )

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        reasons = bool((params or {}).get("reasons", True))
        try:
            return self.bundle.score(frame, reasons=reasons)
        except (DataValidationError, ConfigError, ValueError) as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc


# ---------------------------------------------------------------------------------- logging help
def _col_type(spec: Any) -> str:
    return "string" if spec.dtype == "category" else "double"


def signature_for(bundle: ServingBundle) -> Any:
    """The enforced signature: typed request columns, the output columns and the `reasons` param."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = [ColSpec(_col_type(s), s.name) for s in bundle.model.catalogue.features]
    for engine, request in bundle.names.items():
        typ, required = POLICY_INPUTS[engine]
        inputs.append(ColSpec(typ, request, required=required))
    out_types = {"pd": "double", "score": "double", "tier": "long"}
    outputs = [ColSpec(out_types.get(c, "string"), c) for c in bundle.output_columns()]
    params = ParamSchema([ParamSpec("reasons", "boolean", True)])
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)


def to_request_frame(
    frame: pd.DataFrame, catalogue: Catalogue, with_policy: bool = False
) -> pd.DataFrame:
    """What a client sends: model columns (numerics float64, categoricals text or None) and, with
    `with_policy`, the policy inputs renamed from the feature table's `policy__` columns."""
    x = to_model_frame(frame, catalogue)
    out = x.copy()
    for c in catalogue.categorical:
        out[c] = x[c].astype("object").where(x[c].notna(), None)
    if with_policy:
        for engine, request in request_columns(catalogue).items():
            src = POLICY_PREFIX + engine
            if src not in frame.columns:
                if POLICY_INPUTS[engine][1]:
                    raise DataValidationError(
                        "feature table", "policy input column is missing", column=src
                    )
                continue
            col = frame[src]
            typ = POLICY_INPUTS[engine][0]
            if typ == "double":
                out[request] = col.to_numpy(dtype="float64", na_value=np.nan)
            elif typ == "boolean":
                out[request] = col.astype(bool).to_numpy()
            else:
                out[request] = col.astype(object).where(col.notna(), None).to_numpy()
    return out.reset_index(drop=True)


def signature_and_example(
    frame: pd.DataFrame, bundle: Any, n_example: int = 5
) -> tuple[Any, pd.DataFrame]:
    """Signature from the bundle and a few complete request rows from `frame` as the example."""
    if not isinstance(bundle, ServingBundle):  # a bare PDModel: the PD-only model
        bundle = ServingBundle(bundle)
    request = to_request_frame(frame, bundle.model.catalogue, with_policy=bundle.policy is not None)
    complete = request.dropna()
    example = (complete if len(complete) >= n_example else request).head(n_example)
    return signature_for(bundle), example.reset_index(drop=True)

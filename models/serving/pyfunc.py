"""The served model: an MLflow `PythonModel` that gives downstream services the pipeline's answer.

One registered model answers per account: PD, score and grade (`PDModel`), the collection tier
with its channels and offer (`collection_policy.engine.assign_tiers` under the bundled policy) and
the top reasons (native TreeSHAP via `models.explain.treeshap.shap_values`, worded by
`models.explain.reasons.reason_codes` from the bundled reason dictionary). Every number comes from
the same package functions the DVC stages call; this module only moves columns between them. The
package code travels with the model (`code_paths`: features, models and collection_policy), so
`models:/credit-pd@champion` loads without the repository.

Artifacts (plain files, no pickled state): `model_dir` (booster.txt, calibrator.json,
model_meta.json), `policy` (collection_policy.yaml), `reasons` (reasons.yaml). The tier mode and the
number of reasons travel in the model config (`ServingConfig`).

Request columns (`models.serving.request`): the catalogue's model columns plus the policy inputs
of `features.contracts.POLICY_INPUTS` under their request names; the logged signature is derived
from the same declaration (`signature_for`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from features.catalogue import to_model_frame
from features.config import Parser
from features.contracts import POLICY_INPUT_BY_NAME
from features.errors import ConfigError, DataValidationError
from models.serving.request import (
    request_columns,
    request_schema,
    to_request_frame,
)

MODEL_DIR_ARTIFACT = "model_dir"
POLICY_ARTIFACT = "policy"
REASONS_ARTIFACT = "reasons"
PD_COLUMNS = ["pd", "score", "grade"]
TIER_COLUMNS = ["tier", "tier_name", "handling", "channels", "caps", "offer", "rule", "guardrails"]

#: The keys of a stored bundle's model config (`ServingConfig.to_dict`).
CONFIG_KEYS = ("tier_mode", "top_k", "shap_batch_rows")


@dataclass(frozen=True)
class ServingConfig:
    """What the served model does beyond PD: tier mode (params `tiers.mode`), reasons per account
    (params `explain.top_k`) and rows per TreeSHAP call (params `explain.batch_rows`). The params
    layer checks the values; `from_dict` checks a stored bundle's before it serves."""

    tier_mode: str
    top_k: int
    shap_batch_rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "MLmodel") -> ServingConfig:
        """A registered model's config (its MLmodel `model_config`), exact keys, checked."""
        from collection_policy.vocabulary import MODES

        sec = Parser(source).section(dict(data), "model_config", CONFIG_KEYS)
        return cls(
            tier_mode=sec.choice("tier_mode", MODES),
            top_k=sec.integer("top_k", lo=1),
            shap_batch_rows=sec.integer("shap_batch_rows", lo=1),
        )


@dataclass(frozen=True)
class ServingSpec:
    """What the register stage bundles next to the PD model (paths are read at logging time)."""

    policy_path: Path
    reasons_path: Path
    config: ServingConfig


@dataclass
class ServingBundle:
    """Everything a request needs, loaded once: PD model, policy, reason dictionary, config."""

    model: Any  # models.pd_model.PDModel
    policy: Any | None = None  # collection_policy.schema.CollectionPolicy
    dictionary: Any | None = None  # models.explain.reasons.ReasonDictionary
    config: ServingConfig | None = None  # required with a policy or a reason dictionary

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

        if (policy_path or reasons_path) and config is None:
            raise ConfigError(
                "model_config", "is required to serve tiers or reasons", source=str(model_dir)
            )
        model = PDModel.load(Path(model_dir))
        policy = load_policy(policy_path) if policy_path else None
        dictionary = load_reason_dictionary(reasons_path) if reasons_path else None
        if dictionary is not None:
            validate_dictionary(dictionary, model.catalogue)
        return cls(model, policy, dictionary, config)

    @property
    def names(self) -> dict[str, str]:
        return request_columns(self.model.catalogue) if self.policy is not None else {}

    def output_columns(self, reasons: bool = True) -> list[str]:
        cols = list(PD_COLUMNS)
        if self.policy is not None:
            cols += TIER_COLUMNS
        if reasons and self.dictionary is not None and self.config is not None:
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
        model_frame = to_model_frame(frame, self.model.catalogue, source)
        # model_frame already has the trained dtypes; an account at 90+ DPD is in default, not scored
        dpd_column = request_columns(self.model.catalogue)["days_past_due"]
        days_past_due = frame[dpd_column] if dpd_column in frame.columns else None
        scored = self.model.predict_frame(model_frame, source, days_past_due=days_past_due)
        out = scored[PD_COLUMNS].copy()
        out["grade"] = out["grade"].astype(object)
        if self.policy is not None and self.config is not None:
            accounts = self._accounts(frame, scored, source)
            tiers = assign_tiers(accounts, self.policy, self.config.tier_mode, source=source)
            for c in TIER_COLUMNS:
                col = tiers[c]
                out[c] = col.astype(np.int64) if c == "tier" else col.astype(object)
        if reasons and self.dictionary is not None and self.config is not None:
            out = pd.concat([out, self._reasons(model_frame, self.config)], axis=1)
        return out

    def _accounts(self, frame: pd.DataFrame, scored: pd.DataFrame, source: str) -> pd.DataFrame:
        """The tier engine's input: scored PD columns plus the policy inputs under engine names."""
        cols: dict[str, Any] = {c: scored[c].to_numpy() for c in PD_COLUMNS}
        for engine, request in self.names.items():
            if request in frame.columns:
                cols[engine] = frame[request].to_numpy()
            elif not POLICY_INPUT_BY_NAME[engine].required:
                cols[engine] = np.full(len(frame), None, dtype=object)
            else:
                raise DataValidationError(
                    source, f"missing policy input column '{request}'", column=request
                )
        return pd.DataFrame(cols)

    def _reasons(self, model_frame: pd.DataFrame, config: ServingConfig) -> pd.DataFrame:
        from models.explain.reasons import reason_codes, reasons_wide
        from models.explain.treeshap import shap_values

        top_k = config.top_k
        result = shap_values(
            self.model.booster, model_frame, batch_rows=config.shap_batch_rows, progress=False
        )
        long = reason_codes(
            result.values, model_frame, self.model.catalogue, self.dictionary, top_k=top_k
        )
        wide = reasons_wide(long, top_k, index=model_frame.index).astype(object)
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
        stored = getattr(context, "model_config", None)  # None or {} for a PD-only model
        self.bundle = ServingBundle.load(
            arts[MODEL_DIR_ARTIFACT],
            arts.get(POLICY_ARTIFACT),
            arts.get(REASONS_ARTIFACT),
            ServingConfig.from_dict(stored) if stored else None,
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
def signature_for(bundle: ServingBundle) -> Any:
    """The enforced signature: typed request columns, the output columns and the `reasons` param."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    columns = request_schema(bundle.model.catalogue, with_policy=bundle.policy is not None)
    inputs = [ColSpec(c.mlflow_type, c.name, required=c.required) for c in columns]
    out_types = {"pd": "double", "score": "double", "tier": "long"}
    outputs = [ColSpec(out_types.get(c, "string"), c) for c in bundle.output_columns()]
    params = ParamSchema([ParamSpec("reasons", "boolean", True)])
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)


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


__all__ = [
    "MODEL_DIR_ARTIFACT",
    "POLICY_ARTIFACT",
    "REASONS_ARTIFACT",
    "PDPyfuncModel",
    "ServingBundle",
    "ServingConfig",
    "ServingSpec",
    "request_columns",
    "signature_and_example",
    "signature_for",
    "to_request_frame",
]

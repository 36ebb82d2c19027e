"""The served model: an MLflow `PythonModel` that gives downstream services the pipeline's answer.

One registered model answers per account: PD, score and grade (`PDModel`), the collection tier
with its channels and offer (`collection_policy.engine.assign_tiers` under the bundled policy) and
the top reasons (native TreeSHAP via `models.explain.treeshap.shap_values`, worded by
`models.explain.reasons.reason_codes` from the bundled reason dictionary). Every number comes from
the same package functions the DVC stages call; this module only moves columns between them. A
small request takes each owner's own path for a few rows (`core.catalogue.direct_model_matrix`,
`PDModel.raw_from_matrix` single-threaded, `treeshap.matrix_shap_values`,
`reasons.matrix_reasons_wide`): the same numbers without the pandas frames in between. The
package code travels with the model (`code_paths`: features, models and collection_policy), so
`models:/credit-pd@champion` loads without the repository.

Artifacts (plain files, no pickled state): `model_dir` (booster.txt, calibrator.json,
model_meta.json), `policy` (collection_policy.yaml), `reasons` (reasons.yaml). The tier mode and the
number of reasons travel in the model config (`ServingConfig`).

Request columns (`models.serving.request`): the catalogue's model columns plus the policy inputs
of `core.contracts.POLICY_INPUTS` under their request names; the logged signature is derived
from the same declaration (`signature_for`).

Over REST the model itself checks what MLflow's JSON parsing would otherwise guess: every column
is declared optional to MLflow and the flags are declared `any` (MLflow casts boolean columns with
`astype(bool)`: null -> False, "false" -> True), so a missing column, a null flag or a text flag
reaches `ServingBundle.check_request`, which answers with a short message naming the column, the
row and the rule (`RequestError`, HTTP 400). A served request holds at most `MAX_REQUEST_ROWS`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from core.catalogue import direct_model_matrix, model_matrix, to_model_frame
from core.config import Parser
from core.contracts import POLICY_INPUT_BY_NAME, POLICY_INPUTS
from core.errors import ConfigError, DataValidationError
from models.serving.request import (
    request_columns,
    request_schema,
    to_request_frame,
)

MODEL_DIR_ARTIFACT = "model_dir"
POLICY_ARTIFACT = "policy"
REASONS_ARTIFACT = "reasons"
EV_RATES_ARTIFACT = "ev_rates"
PD_COLUMNS = ["pd", "score", "grade"]
TIER_COLUMNS = ["tier", "tier_name", "handling", "channels", "caps", "offer", "rule", "guardrails"]

#: The keys of a stored bundle's model config (`ServingConfig.to_dict`).
CONFIG_KEYS = ("tier_mode", "top_k", "shap_batch_rows")

#: Rows one served request may hold (`mlflow models serve`: MLflow has no body-size limit of its
#: own, and a request is parsed whole before the model sees it). Batch scoring in-process
#: (`batch.score_file`, `model.predict`) has no limit: chunk sizes are the caller's.
MAX_REQUEST_ROWS = 1000
#: Requests up to this many rows take the owners' paths for a few rows: the model matrix straight
#: from the request's columns, single-threaded LightGBM calls, TreeSHAP in one call and reasons
#: worded from the matrix (same numbers as the general path).
SMALL_REQUEST_ROWS = 256
#: Set by MLflow's scoring server (and `mlflow models predict`) in the serving process.
_SERVING_ENV = "_MLFLOW_IS_IN_SERVING_ENVIRONMENT"

log = logging.getLogger(__name__)


class RequestError(MlflowException):
    """A request the model refuses: HTTP 400 with the model's own short message.

    MLflow's scoring server rewrites the message of any `MlflowException` raised by `predict` to
    `Failed to predict data '<the whole request frame>' ... Error: <message>`; this class keeps the
    message it was raised with (column, row, rule) so a client reads only that.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)

    @property  # type: ignore[override]
    def message(self) -> str:
        return self._short_message

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_short_message"):  # set once, by __init__
            self._short_message = value


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
    ev_rates_path: Path | None = None  # the collection_rates stage's file (learned EV rates)


@dataclass(frozen=True)
class _Plan:
    """What every request needs and no request changes, worked out once per loaded bundle."""

    model_columns: tuple[str, ...]
    required: tuple[str, ...]  # request columns a request must carry, in signature order
    names: dict[str, str]  # policy input (engine name) -> request column ({} without a policy)
    flags: tuple[str, ...]  # request columns of the boolean policy inputs
    dpd_column: str
    layout: Any | None  # models.explain.reasons.FamilyLayout of the model columns
    reason_columns: tuple[str, ...]


@dataclass
class ServingBundle:
    """Everything a request needs, loaded once: PD model, policy, reason dictionary, config."""

    model: Any  # models.pd_model.PDModel
    policy: Any | None = None  # collection_policy.policy.CollectionPolicy
    dictionary: Any | None = None  # models.explain.reason_dictionary.ReasonDictionary
    config: ServingConfig | None = None  # required with a policy or a reason dictionary
    ev_rates: Any | None = None  # collection_policy.ev_rates.EVRates; None: the assumed rates
    _plan: _Plan | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        policy_path: str | Path | None = None,
        reasons_path: str | Path | None = None,
        config: ServingConfig | None = None,
        ev_rates_path: str | Path | None = None,
    ) -> ServingBundle:
        from collection_policy.ev_rates import read_ev_rates
        from collection_policy.loader import load_policy
        from models.explain.reason_dictionary import load_reason_dictionary, validate_dictionary
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
        rates = read_ev_rates(ev_rates_path) if ev_rates_path else None
        return cls(model, policy, dictionary, config, rates)

    @property
    def names(self) -> dict[str, str]:
        return self.plan.names

    @property
    def plan(self) -> _Plan:
        if self._plan is None:
            self._plan = self._make_plan()
        return self._plan

    def _make_plan(self) -> _Plan:
        catalogue = self.model.catalogue
        with_policy = self.policy is not None
        schema = request_schema(catalogue, with_policy=with_policy)
        names = request_columns(catalogue) if with_policy else {}
        flags = tuple(names[p.name] for p in POLICY_INPUTS if with_policy and p.dtype == "bool")
        layout = None
        top_k = self.config.top_k if self.config is not None else 0
        if self.dictionary is not None and self.config is not None:
            from models.explain.reasons import family_layout

            layout = family_layout(list(catalogue.model_columns), catalogue, self.dictionary)
        catalogue.matrix_layout  # noqa: B018 - worked out once here, not on the first request
        return _Plan(
            model_columns=tuple(catalogue.model_columns),
            required=tuple(c.name for c in schema if c.required),
            names=names,
            flags=flags,
            dpd_column=request_columns(catalogue)["days_past_due"],
            layout=layout,
            reason_columns=tuple(f"reason_{r}" for r in range(1, top_k + 1)) if layout else (),
        )

    def output_columns(self, reasons: bool = True) -> list[str]:
        cols = list(PD_COLUMNS)
        if self.policy is not None:
            cols += TIER_COLUMNS
        if reasons and self.dictionary is not None and self.config is not None:
            cols += [f"reason_{r}" for r in range(1, self.config.top_k + 1)]
        return cols

    def check_request(self, frame: pd.DataFrame, source: str = "request") -> dict[str, np.ndarray]:
        """The checks MLflow's signature leaves to the model, once per request, vectorised.

        Every required column must be present (MLflow sees them all as optional, so that a missing
        one gets this short message rather than MLflow's dump of the request and the schema), and
        each compliance flag must be a boolean: null is refused (required, never guessed) and so
        is text ("false", "no", "0"), which MLflow's JSON parsing would otherwise turn into True.
        Numeric 0/1 columns (CSV, feature tables) are read as flags. Returns the flags as bool
        arrays by request column. Raises DataValidationError naming column, row and rule.
        """
        plan = self.plan
        columns = frame.columns
        for name in plan.required:
            if name not in columns:
                raise DataValidationError(source, "required column is missing", column=name)
        return {name: _flag(frame[name], name, source) for name in plan.flags}

    def score(
        self, frame: pd.DataFrame, reasons: bool = True, source: str = "request"
    ) -> pd.DataFrame:
        """Score rows: PD/score/grade, then tiers, then reasons; output in request order.

        Raises DataValidationError (column, row, rule) on inputs the pipeline would also reject.
        The model matrix is built once and serves both the PD and TreeSHAP. Requests of up to
        `SMALL_REQUEST_ROWS` rows take each owner's path for a few rows, with the same numbers:
        the matrix straight from the request's columns (`direct_model_matrix`), LightGBM
        single-threaded (on a busy 2-core machine, OpenMP threads cost more than the trees for one
        row), TreeSHAP in one call (`matrix_shap_values`) and the reasons worded from the matrix
        (`matrix_reasons_wide`).
        """
        from collection_policy.engine import assign_tiers

        plan = self.plan
        model = self.model
        index = frame.index
        if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
            frame = frame.reset_index(drop=True)
        flags = self.check_request(frame, source)
        n = len(frame)
        small = 0 < n <= SMALL_REQUEST_ROWS
        threads = 1 if small else None
        model_frame = None
        if small:
            matrix = direct_model_matrix(frame, model.catalogue, source)
        else:
            model_frame = to_model_frame(frame, model.catalogue, source)
            matrix = model_matrix(model_frame)
        raw = model.raw_from_matrix(matrix, threads) if n else np.zeros(0, dtype=np.float64)
        dpd = frame[plan.dpd_column].to_numpy() if plan.dpd_column in frame.columns else None
        scored = model.outcome_columns(raw, dpd, source)
        out: dict[str, Any] = {c: scored[c] for c in PD_COLUMNS}
        if self.policy is not None and self.config is not None:
            accounts = self._accounts(frame, out, flags, source)
            tiers = assign_tiers(
                accounts, self.policy, self.config.tier_mode, source=source, ev_rates=self.ev_rates
            )
            for c in TIER_COLUMNS:
                col = tiers[c]
                out[c] = col.to_numpy(dtype=np.int64) if c == "tier" else col.to_numpy(dtype=object)
        if reasons and plan.layout is not None and self.config is not None:
            if model_frame is None:
                out.update(self._small_reasons(matrix, raw, self.config))
            else:
                out.update(self._reasons(model_frame, self.config))
        # object columns stay object (pandas 3 would infer `str` and turn None into NaN)
        typed = {
            c: pd.Series(v, dtype=object, copy=False) if v.dtype == object else v
            for c, v in out.items()
        }
        return pd.DataFrame(typed, columns=self.output_columns(reasons))

    def _accounts(
        self,
        frame: pd.DataFrame,
        scored: Mapping[str, Any],
        flags: Mapping[str, np.ndarray],
        source: str,
    ) -> pd.DataFrame:
        """The tier engine's input: scored PD columns plus the policy inputs under engine names."""
        cols: dict[str, Any] = {c: scored[c] for c in PD_COLUMNS}
        for engine, request in self.names.items():
            if request in flags:
                cols[engine] = flags[request]
            elif request in frame.columns:
                cols[engine] = frame[request].to_numpy()
            elif not POLICY_INPUT_BY_NAME[engine].required:
                cols[engine] = np.full(len(frame), None, dtype=object)
            else:
                raise DataValidationError(
                    source, f"missing policy input column '{request}'", column=request
                )
        accounts = pd.DataFrame(cols)
        catalogue = self.model.catalogue
        if catalogue.currency is None or self.policy is None:
            return accounts
        from collection_policy.engine import in_policy_currency

        # request amounts are in the book's currency, as the model was trained on them
        return in_policy_currency(accounts, catalogue.currency, catalogue.fx_to_policy, self.policy)

    def _reasons(self, model_frame: pd.DataFrame, config: ServingConfig) -> dict[str, np.ndarray]:
        """Reasons as the explain stage words them: `shap_values`, `reason_codes`,
        `reasons_wide`."""
        from models.explain.reasons import reason_codes, reasons_wide
        from models.explain.treeshap import shap_values

        top_k = config.top_k
        values = shap_values(
            self.model.booster, model_frame, batch_rows=config.shap_batch_rows, progress=False
        ).values
        long = reason_codes(
            values,
            model_frame,
            self.model.catalogue,
            self.dictionary,
            top_k=top_k,
            layout=self.plan.layout,
        )
        wide = reasons_wide(long, top_k, index=model_frame.index)
        return {c: _text_or_none(wide[c]) for c in self.plan.reason_columns}

    def _small_reasons(
        self, matrix: np.ndarray, raw: np.ndarray, config: ServingConfig
    ) -> dict[str, np.ndarray]:
        """`_reasons` for a few rows from their model matrix and raw scores:
        `matrix_shap_values` (single-threaded) and `matrix_reasons_wide`."""
        from models.explain.reasons import matrix_reasons_wide
        from models.explain.treeshap import matrix_shap_values

        plan = self.plan
        model = self.model
        shap = matrix_shap_values(
            model.booster, matrix, raw, list(plan.model_columns), num_threads=1
        )
        return matrix_reasons_wide(
            shap.values,
            matrix,
            model.catalogue,
            self.dictionary,
            config.top_k,
            layout=plan.layout,
        )


def _text_or_none(col: pd.Series) -> np.ndarray:
    values = col.to_numpy(dtype=object)
    values[pd.isna(values)] = None
    return values


def _flag(col: pd.Series, name: str, source: str) -> np.ndarray:
    """A compliance flag as bool values; null, text and anything but true/false (or 0/1) fail."""
    dtype = col.dtype
    if dtype == np.bool_:
        return col.to_numpy()
    missing = col.isna().to_numpy()
    if missing.any():
        raise DataValidationError(
            source,
            "flag is null: required, never guessed (send true or false)",
            name,
            _first(missing),
        )
    if pd.api.types.is_bool_dtype(dtype):  # pandas' nullable boolean, no nulls left
        return col.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(dtype):
        arr = col.to_numpy(dtype=np.float64)
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            row = _first(bad)
            raise DataValidationError(
                source, f"flag must be true or false (or 0/1), got {float(arr[row])!r}", name, row
            )
        return arr == 1
    values = col.to_numpy(dtype=object)  # JSON values of mixed types, or text
    if pd.api.types.infer_dtype(values, skipna=False) == "boolean":
        return values.astype(bool)
    bad = np.fromiter((not isinstance(v, bool | np.bool_) for v in values), bool, len(values))
    row = _first(bad)
    raise DataValidationError(
        source,
        f"flag must be JSON true or false, got {_shown(values[row])} (text is not read as a flag)",
        name,
        row,
    )


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class PDPyfuncModel(mlflow.pyfunc.PythonModel):
    """Rows of accounts in, one row of PD, tier and reasons out, in request order.

    `params={"reasons": False}` skips the TreeSHAP reasons. Input problems the pipeline would
    reject raise `RequestError` (an `MlflowException` with INVALID_PARAMETER_VALUE), which
    `mlflow models serve` answers with HTTP 400 and the short message (column, row, rule). Served
    (MLflow's scoring server), a request holds at most `MAX_REQUEST_ROWS` rows.
    """

    def load_context(self, context: Any) -> None:
        arts = context.artifacts
        stored = getattr(context, "model_config", None)  # None or {} for a PD-only model
        self.bundle = ServingBundle.load(
            arts[MODEL_DIR_ARTIFACT],
            arts.get(POLICY_ARTIFACT),
            arts.get(REASONS_ARTIFACT),
            ServingConfig.from_dict(stored) if stored else None,
            arts.get(EV_RATES_ARTIFACT),
        )
        self.bundle.plan  # noqa: B018 - worked out once here, not on the first request

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        reasons = bool((params or {}).get("reasons", True))
        if len(frame) > MAX_REQUEST_ROWS and os.environ.get(_SERVING_ENV, "").lower() == "true":
            raise RequestError(
                f"request has {len(frame)} rows; a served request holds at most "
                f"{MAX_REQUEST_ROWS} (score larger sets with `python -m pipelines.score`)"
            )
        try:
            return self.bundle.score(frame, reasons=reasons)
        except (DataValidationError, ConfigError, ValueError) as exc:
            log.info("request refused: %s", exc)
            raise RequestError(str(exc)) from exc


# ---------------------------------------------------------------------------------- logging help
def signature_for(bundle: ServingBundle) -> Any:
    """The signature: request columns, the output columns and the `reasons` param.

    Every input is declared optional to MLflow and the flags as `any`, so that MLflow neither
    refuses a request with its long schema message nor casts a flag (`astype(bool)` turns null
    into False and "false" into True): the model checks presence and flags itself
    (`ServingBundle.check_request`). Which columns are required is `request_schema`'s
    `RequestColumn.required` (docs/serving.md lists it).
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import AnyType

    columns = request_schema(bundle.model.catalogue, with_policy=bundle.policy is not None)
    inputs = [
        ColSpec(AnyType() if c.mlflow_type == "boolean" else c.mlflow_type, c.name, required=False)
        for c in columns
    ]
    out_types = {"pd": "double", "score": "double", "tier": "long"}
    outputs = [ColSpec(out_types.get(c, "string"), c) for c in bundle.output_columns()]
    params = ParamSchema([ParamSpec("reasons", "boolean", True)])
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)


def signature_and_example(
    frame: pd.DataFrame, bundle: Any, n_example: int = 5
) -> tuple[Any, pd.DataFrame]:
    """Signature from the bundle and a few complete request rows from `frame` as the example:
    the first `n_example` rows without a missing value (the first rows when there are fewer).

    The frame is turned into requests block by block until enough complete rows are found: the
    register stage passes millions of test rows for five examples."""
    if not isinstance(bundle, ServingBundle):  # a bare PDModel: the PD-only model
        bundle = ServingBundle(bundle)
    catalogue, with_policy = bundle.model.catalogue, bundle.policy is not None
    complete: list[pd.DataFrame] = []
    found = 0
    for start in range(0, max(len(frame), 1), EXAMPLE_SCAN_ROWS):
        block = frame.iloc[start : start + EXAMPLE_SCAN_ROWS]
        rows = to_request_frame(block, catalogue, with_policy=with_policy).dropna()
        complete.append(rows)
        found += len(rows)
        if found >= n_example:
            break
    if found >= n_example:
        example = pd.concat(complete).head(n_example)
    else:  # too few complete rows: the first rows as they are
        example = to_request_frame(frame.iloc[:n_example], catalogue, with_policy=with_policy)
    return signature_for(bundle), example.reset_index(drop=True)


#: Rows turned into requests at a time while looking for complete example rows.
EXAMPLE_SCAN_ROWS = 10_000


__all__ = [
    "MAX_REQUEST_ROWS",
    "MODEL_DIR_ARTIFACT",
    "EV_RATES_ARTIFACT",
    "POLICY_ARTIFACT",
    "REASONS_ARTIFACT",
    "PDPyfuncModel",
    "RequestError",
    "ServingBundle",
    "ServingConfig",
    "ServingSpec",
    "request_columns",
    "signature_and_example",
    "signature_for",
    "to_request_frame",
]

"""The register stage's work: read what train, features and explain wrote, build the gate's
evidence on the current test rows and the development hold-out the train stage recorded, and log,
register and gate the model (`run_register`). No training param is read here: the run's params
are the ones the train stage saved with the model (model_meta.json `train_config`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.contracts import check_samples
from core.errors import DataValidationError, PipelineError
from core.io import read_json
from models.gate import GateConfig, GateEvidence
from models.registry.provenance import (
    data_hashes,
    file_md5,
    portable_tracking_uri,
    tracking_store,
)
from models.registry.tracking import MlflowConfig, RegistryResult, RunInputs, log_and_register

if TYPE_CHECKING:
    from core.catalogue import Catalogue
    from models.pd_model import PDModel
    from models.serving.pyfunc import ServingSpec

log = logging.getLogger(__name__)


#: The feature rows the gate reads: the out-of-time test split and the validation split (its
#: early-stopping part is the development reference and the default calibration sample).
GATE_SPLITS = ("validation", "test")
#: The scores' columns the gate reads: which validation rows stopped the booster early.
SAMPLE_COLUMNS = ["account_id", "observation_date", "split", "sample"]


@dataclass(frozen=True)
class RegisterInputs:
    """What a registration logs: the train stage's outputs and the feature table it used."""

    model_dir: Path
    metrics: dict[str, Any]  # reports/metrics.json (gate inputs: test auc/ece, score PSI)
    deciles: list[dict[str, Any]]
    plots_dir: Path
    features: pd.DataFrame  # the GATE_SPLITS rows; the gate re-scores the champion on test
    catalogue: Catalogue
    samples: pd.DataFrame  # SAMPLE_COLUMNS of the scores' validation rows (train's record)
    data_files: tuple[Path, ...]  # md5 of each goes into the run's tags
    data_reports: tuple[Path, ...] = ()  # logged under data/ when present
    explanations: ExplainOutputs | None = None  # the explain stage's report and tables


@dataclass(frozen=True)
class ExplainOutputs:
    """What the explain stage wrote; the register stage attaches it to the model's run."""

    report_dir: Path  # report.html and its PNGs
    tables_dir: Path  # shap_values, reasons and the global views (Parquet)
    summary: dict[str, Any]  # reports/explain.json

    @classmethod
    def read(cls, report_dir: Path, tables_dir: Path, summary: Path) -> ExplainOutputs:
        for path in (report_dir, tables_dir, summary):
            if not path.exists():
                raise PipelineError(f"'{path}' not found; run the explain stage first")
        return cls(report_dir, tables_dir, read_json(summary))

    def run_entries(
        self, max_shap_values_mb: float
    ) -> tuple[dict[str, Path | tuple[Path, ...]], dict[str, str], dict[str, float]]:
        """Artifacts, tags and metrics for the run. shap_values.parquet (rows x features) goes
        only up to `max_shap_values_mb`; above it a tag says where it lives (the DVC out)."""
        from core.contracts import SHAP_VALUES

        shap = self.tables_dir / SHAP_VALUES.file
        if not shap.is_file():
            with_shap, note = False, f"not logged: no {shap.name}"
        else:
            shap_mb = shap.stat().st_size / 2**20
            with_shap = shap_mb <= max_shap_values_mb
            note = (
                "logged"
                if with_shap
                else f"not logged: {shap_mb:.1f} MB > mlflow.max_shap_values_mb "
                f"{max_shap_values_mb:g} MB; see {shap.name} in the explain stage's DVC out"
            )
        tables = tuple(
            p for p in sorted(self.tables_dir.glob("*.parquet")) if p != shap or with_shap
        )
        s = self.summary
        tags = {
            "explain.top_features": ",".join(s.get("top_features", [])),
            "explain.population": str(s.get("population", {}).get("mode", "")),
            "explain.shap_values": note,
        }
        metrics = {
            f"explain_{k}": float(s[k])
            for k in ("check_max_abs_diff", "additivity_max_abs_err", "rows")
            if isinstance(s.get(k), int | float)
        }
        artifacts = {"explain/report": self.report_dir, "explain/tables": tables}
        return artifacts, tags, metrics


def read_register_inputs(
    model_dir: Path,
    features_dir: Path,
    scores: Path,
    metrics: Path,
    deciles: Path,
    plots_dir: Path,
    data_reports: Sequence[Path] = (),
    explanations: ExplainOutputs | None = None,
) -> RegisterInputs:
    """Read what the train and features stages wrote; a missing file names the stage to run.

    Of the scores only the validation rows' keys and `sample` are read (a Parquet filter): which
    rows stopped the booster early, as the train stage recorded it."""
    from core.catalogue import CATALOGUE_FILE, read_catalogue
    from core.contracts import FEATURES, SCORES
    from models.training import read_features

    for path in (metrics, deciles, plots_dir):
        if not path.exists():
            raise PipelineError(f"'{path}' not found; run the train stage first")
    samples = SCORES.read(
        scores, columns=SAMPLE_COLUMNS, stage="train", filters=[("split", "==", "validation")]
    )
    # the gate reads keys, labels, model and policy inputs; protected columns are never inputs
    protected = set(read_catalogue(features_dir).protected)
    present = FEATURES.read_schema(features_dir / FEATURES.file, stage="features")
    columns = [c for c in present if c not in protected]
    table, catalogue = read_features(features_dir, splits=GATE_SPLITS, columns=columns)
    return RegisterInputs(
        model_dir=model_dir,
        metrics=read_json(metrics),
        deciles=read_json(deciles),
        plots_dir=plots_dir,
        features=table,
        catalogue=catalogue,
        samples=samples,
        data_files=(features_dir / FEATURES.file, features_dir / CATALOGUE_FILE),
        data_reports=tuple(data_reports),
        explanations=explanations,
    )


@dataclass(frozen=True)
class Registration:
    """A registered version, its gate verdict and where it was tracked (portable form)."""

    result: RegistryResult
    model_name: str
    tracking_uri: str  # a local store relative to the repository; never a machine's own path
    tracking_store: str  # environment | params | default

    def promotion(self) -> dict[str, Any]:
        """reports/promotion.json: the gate's verdict and the version it concerns. A tracked report
        holds no run id: the version (and its MLflow tags) identify the run."""
        return {
            **self.result.decision.to_dict(),
            "model_name": self.model_name,
            "tracking_uri": self.tracking_uri,
            "tracking_store": self.tracking_store,
        }

    def record(self) -> dict[str, Any]:
        """data/registry/registered.json (not tracked by git): which version this run registered,
        its run and where, so a fresh clone (which lacks the file) runs the register stage."""
        return {
            "model_name": self.model_name,
            "version": int(self.result.version),
            "run_id": self.result.run_id,
            "model_uri": self.result.model_uri,
            "promote": self.result.decision.promote,
            "tracking_uri": self.tracking_uri,
        }

    def headline(self) -> dict[str, Any]:
        """reports/headline/register.json: the verdict and the version it concerns."""
        return {
            "promote": self.result.decision.promote,
            "gate_passed": self.result.decision.passed,
            "version": int(self.result.version),
        }


def development_holdout(
    valid: pd.DataFrame, samples: pd.DataFrame, id_column: str, source: str
) -> pd.DataFrame:
    """The rows of `valid` that stopped the booster early, in `valid`'s order.

    `samples` are the scores' validation rows with the `sample` the train stage recorded
    ("early_stopping" or "calibration"). The two must hold the same rows: scores of another
    feature table would silently measure other rows, so a row of either side without a match
    stops the stage, named.
    """
    keys = [id_column, "observation_date"]

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[keys].reset_index(drop=True)
        out["observation_date"] = pd.to_datetime(out["observation_date"]).astype("datetime64[ns]")
        return out

    check_samples(samples, source)
    matched = keyed(valid).merge(
        keyed(samples).assign(sample=samples["sample"].astype(str).to_numpy()),
        on=keys,
        how="left",
        validate="one_to_one",
    )
    unmatched = matched["sample"].isna().to_numpy()
    if unmatched.any() or len(samples) != len(valid):
        row = int(np.flatnonzero(unmatched)[0]) if unmatched.any() else None
        raise DataValidationError(
            source,
            f"the scores' validation rows ({len(samples)}) are not the feature table's "
            f"({len(valid)} outside default): scores and features come from different runs",
            column=id_column,
            row=row,
            hint="Rerun the train stage (dvc repro train), then register.",
        )
    return valid[matched["sample"].eq("early_stopping").to_numpy()]


def gate_evidence(
    model: PDModel,
    features: pd.DataFrame,
    samples: pd.DataFrame,
    catalogue: Catalogue,
    gate: GateConfig,
) -> tuple[pd.DataFrame, GateEvidence]:
    """The gate's rows and the challenger's numbers on them: (test rows, evidence).

    Test = the out-of-time split; the development reference and the default calibration sample
    are the validation hold-out the model stopped early on (out of sample for its calibrator), as
    the train stage recorded it in the scores' `sample` column (`development_holdout`). Accounts
    in default at their snapshot leave both, as they left training. The run's own logistic
    baseline, saved in the model's meta by the train stage, scores the same test rows (check
    `vs_baseline`); a model saved without one gives no baseline PD.
    """
    from models.baseline import LogisticBaseline
    from models.training import drop_defaulted_labelled

    test = drop_defaulted_labelled(features[features["split"] == "test"], "register: test")
    valid = drop_defaulted_labelled(
        features[features["split"] == "validation"], "register: validation"
    )
    holdout = development_holdout(valid, samples, catalogue.id_column, "register: scores")
    on_test = model.predict_frame(test, source="register: test")
    on_holdout = model.predict_frame(holdout, source="register: validation hold-out")
    sample, scored = (test, on_test) if gate.calibration_sample == "test" else (holdout, on_holdout)
    saved_baseline = model.meta.get("baseline")
    baseline_pd = (
        None
        if saved_baseline is None
        else LogisticBaseline.from_dict(saved_baseline, catalogue).predict_pd(test)
    )
    evidence = GateEvidence(
        test_y=test["default"].astype("int8").to_numpy(),
        test_pd=on_test["pd"].to_numpy(dtype="float64"),
        test_score=on_test["score"].to_numpy(dtype="float64"),
        calibration_y=sample["default"].astype("int8").to_numpy(),
        calibration_pd=scored["pd"].to_numpy(dtype="float64"),
        calibration_grade=scored["grade"].astype(str).to_numpy(dtype=object),
        reference_score=on_holdout["score"].to_numpy(dtype="float64"),
        grade_order=model.grade_order,
        baseline_pd=baseline_pd,
    )
    return test, evidence


def run_register(
    inputs: RegisterInputs,
    mlflow_config: MlflowConfig,
    serving: ServingSpec | None,
    repo_root: str | Path,
) -> Registration:
    """Log the training run, register the serving model as `challenger` and run the gate.

    `serving` bundles the collection policy and reason dictionary into the registered model;
    without it the model answers PD, score and grade only. MLflow and I/O failures become a
    PipelineError (one message); the caller writes its reports only after this returns.
    """
    from mlflow.exceptions import MlflowException

    from models.pd_estimator import FitReport
    from models.pd_model import META_FILE, PDModel

    model = PDModel.load(inputs.model_dir)
    if "train_config" not in model.meta:
        raise PipelineError(
            f"{inputs.model_dir / META_FILE} has no train_config (the run's training params); "
            "rerun the train stage"
        )
    test, evidence = gate_evidence(
        model, inputs.features, inputs.samples, inputs.catalogue, mlflow_config.gate
    )
    hashes = data_hashes(inputs.data_files)
    combined = hashlib.md5("".join(sorted(hashes.values())).encode()).hexdigest()
    artifacts: dict[str, Path | tuple[Path, ...]] = {"plots": inputs.plots_dir}
    for report in inputs.data_reports:
        if report.is_file():
            artifacts[f"data/{report.name}"] = report
    params: dict[str, Any] = {
        **model.meta["train_config"],  # the train stage's settings, as it saved them
        **{f"gate.{k}": v for k, v in asdict(mlflow_config.gate).items()},
    }
    if serving is not None:
        params.update(
            {
                "serving.tier_mode": serving.config.tier_mode,
                "serving.top_k": serving.config.top_k,
                "serving.policy": str(serving.policy_path),
                "serving.reasons": str(serving.reasons_path),
            }
        )
    tags = {f"data_md5.{Path(k).name}": v for k, v in hashes.items()}
    tags["model_md5"] = file_md5(inputs.model_dir / "booster.txt")
    extra_metrics: dict[str, float] = {}
    if inputs.explanations is not None:
        explain_artifacts, explain_tags, extra_metrics = inputs.explanations.run_entries(
            mlflow_config.max_shap_values_mb
        )
        artifacts.update(explain_artifacts)
        tags.update(explain_tags)
    metrics = inputs.metrics
    run_inputs = RunInputs(
        model_dir=inputs.model_dir,
        metrics=metrics,
        params=params,
        test_frame=test,
        gate=evidence,
        catalogue=inputs.catalogue.to_dict(),
        artifacts=artifacts,
        json_artifacts={
            "deciles.json": inputs.deciles,
            "fit_report.json": FitReport.from_meta(model.meta).to_dict(),
            "data_hashes.json": hashes,
        },
        tags=tags,
        extra_metrics=extra_metrics,
        data_hash=combined,
        training_window=str(model.meta.get("training_window", "")),
        serving=serving,
    )
    store = tracking_store(mlflow_config.tracking_uri)  # before MLflow exports its URI to the env
    try:
        result = log_and_register(run_inputs, mlflow_config, repo_root)
    except (MlflowException, OSError) as exc:
        raise PipelineError(f"MLflow tracking/registry failed: {exc}") from exc
    return Registration(
        result=result,
        model_name=mlflow_config.model_name,
        tracking_uri=portable_tracking_uri(result.tracking_uri, repo_root),
        tracking_store=store,
    )

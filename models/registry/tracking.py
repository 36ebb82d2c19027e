"""The MLflow run and the registered version: `log_and_register` logs a training run (params,
metrics, artifacts, tags), logs the served model (its signature, input example, pinned
requirements and the repository packages it imports as code) as a new version with alias
`challenger`, re-scores the current `champion` on the same test rows, applies the gate
(`models.gate`) and moves the aliases. MLflow is imported inside the functions that use it."""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataValidationError
from models.gate import (
    AWAITING_APPROVAL,
    PROMOTED,
    ChampionEvidence,
    Decision,
    GateConfig,
    GateEvidence,
    decide_promotion,
)
from models.registry.provenance import git_commit, resolve_tracking_uri
from models.registry.stale_runs import end_stale_runs, process_tags

log = logging.getLogger(__name__)

#: The repository root: the packages in `CODE_PACKAGES` are its folders.
REPO_ROOT = Path(__file__).resolve().parents[2]

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_ARTIFACT_NAME = "model"
#: The repository packages the served model imports; they travel with it as code_paths.
CODE_PACKAGES = ("core", "features", "models", "collection_policy")
# What the served model imports from PyPI.
SERVING_REQUIREMENTS = (
    "mlflow",
    "lightgbm",
    "pandas",
    "numpy",
    "scikit-learn",
    "pyarrow",
    "pyyaml",
    "tqdm",
)


@dataclass(frozen=True)
class MlflowConfig:
    """Where runs and versions go (params `mlflow`); tracking_uri None = the repo's SQLite file."""

    tracking_uri: str | None
    experiment: str
    model_name: str
    gate: GateConfig
    max_shap_values_mb: float  # attach shap_values.parquet to the run only up to this size


def serving_requirements() -> list[str]:
    """Pinned requirements for the logged model (passing them skips MLflow's slow inference)."""
    reqs = []
    for dist in SERVING_REQUIREMENTS:
        try:
            reqs.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            reqs.append(dist)
    return reqs


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """{"test": {"auc": .9}} -> {"test_auc": .9}; drops non-finite and non-numeric values."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_metrics(v, f"{key}_"))
        elif (
            isinstance(v, int | float | np.floating | np.integer)
            and not isinstance(v, bool)
            and math.isfinite(float(v))
        ):
            out[key] = float(v)
    return out


@dataclass
class RunInputs:
    """Everything a registration hands to tracking and the gate (built by `run_register`)."""

    model_dir: Path
    metrics: dict[str, Any]
    params: dict[str, Any]
    test_frame: pd.DataFrame  # the gate's test rows (signature example; the champion scores them)
    gate: GateEvidence  # the challenger on the test rows and the calibration sample
    catalogue: dict[str, Any]
    artifacts: dict[str, Path | tuple[Path, ...]] = field(default_factory=dict)  # dir -> files/dirs
    json_artifacts: dict[str, Any] = field(default_factory=dict)  # file name -> object
    tags: dict[str, str] = field(default_factory=dict)
    extra_metrics: dict[str, float] = field(default_factory=dict)  # e.g. the explain checks
    data_hash: str = ""
    training_window: str = ""
    serving: Any = (
        None  # models.serving.pyfunc.ServingSpec: policy + reasons bundled; None = PD only
    )


@dataclass
class RegistryResult:
    run_id: str
    model_uri: str
    version: str
    decision: Decision
    tracking_uri: str


def alias_version(client: Any, name: str, alias: str) -> Any | None:
    """The version behind `alias` of model `name`, or None when the alias is not set."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def ensure_experiment(mlflow: Any, name: str, tracking_uri: str) -> str:
    """The experiment's id, created on first use (artifacts beside an SQLite store)."""
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if tracking_uri.startswith("sqlite:///"):
        # Keep artifacts beside the database rather than wherever the process happens to run.
        db = Path(tracking_uri[len("sqlite:///") :])
        location = (db.parent / "mlruns").resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def champion_test_pd(model_uri: str, frame: pd.DataFrame) -> np.ndarray:
    """A registered version's PD on `frame`, from its saved files with the current code."""
    import mlflow
    import yaml

    from models.pd_model import PDModel

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        conf = yaml.safe_load((local / "MLmodel").read_text())
        rel = conf["flavors"]["python_function"]["artifacts"]["model_dir"]["path"]
        model = PDModel.load(local / rel)
        return model.predict_pd(frame, source=model_uri)


def champion_evidence(
    client: Any, name: str, version: str, frame: pd.DataFrame
) -> ChampionEvidence:
    """The champion re-scored on today's test rows, or why it cannot score them.

    Only a data mismatch (a feature it needs is gone, a column it cannot read) counts as "cannot
    score": the gate then refuses unless params allow a feature-set change. Anything else (I/O, a
    lost server) fails the stage rather than skip the comparison.
    """
    try:
        return ChampionEvidence(version, champion_test_pd(f"models:/{name}/{version}", frame))
    except (DataValidationError, KeyError) as exc:
        log.warning("champion v%s could not score the current test data: %s", version, exc)
        return ChampionEvidence(version, None, error=str(exc))


def log_and_register(
    inputs: RunInputs,
    config: MlflowConfig,
    repo_root: str | Path,
    code_paths: Sequence[str | Path] | None = None,
) -> RegistryResult:
    """Log the run, register the model, apply the gate, move aliases, tag the version."""
    import mlflow
    from mlflow import MlflowClient

    from models.serving.pyfunc import (
        EV_RATES_ARTIFACT,
        MODEL_DIR_ARTIFACT,
        POLICY_ARTIFACT,
        REASONS_ARTIFACT,
        PDPyfuncModel,
        ServingBundle,
        signature_and_example,
    )

    tracking_uri = resolve_tracking_uri(config.tracking_uri, repo_root)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    exp_id = ensure_experiment(mlflow, config.experiment, tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if code_paths is None:
        code_paths = [REPO_ROOT / package for package in CODE_PACKAGES]
    name = config.model_name
    log.info("MLflow tracking at %s, experiment '%s'", tracking_uri, config.experiment)

    end_stale_runs(client, exp_id)
    with mlflow.start_run(experiment_id=exp_id, tags=process_tags()) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in inputs.params.items()})
        mlflow.log_metrics(flatten_metrics(inputs.metrics))
        tags = dict(inputs.tags)
        commit = git_commit(repo_root)
        if commit:
            tags["git_commit"] = commit
        if inputs.data_hash:
            tags["data_hash"] = inputs.data_hash
        if inputs.training_window:
            tags["training_window"] = inputs.training_window
        mlflow.set_tags(tags)
        mlflow.log_dict(inputs.catalogue, "catalogue.json")
        mlflow.log_dict(inputs.metrics, "metrics.json")
        for fname, obj in inputs.json_artifacts.items():
            mlflow.log_dict(obj, fname)
        for art_name, paths in inputs.artifacts.items():
            for p in map(Path, paths if isinstance(paths, tuple) else (paths,)):
                if p.is_dir():
                    mlflow.log_artifacts(str(p), art_name)
                elif p.is_file():
                    mlflow.log_artifact(str(p), art_name)
        if inputs.extra_metrics:
            mlflow.log_metrics(inputs.extra_metrics)

        spec = inputs.serving
        model_artifacts = {MODEL_DIR_ARTIFACT: str(inputs.model_dir)}
        model_config = None
        if spec is None:
            bundle = ServingBundle.load(inputs.model_dir)
        else:
            bundle = ServingBundle.load(
                inputs.model_dir,
                spec.policy_path,
                spec.reasons_path,
                spec.config,
                spec.ev_rates_path,
            )
            model_artifacts[POLICY_ARTIFACT] = str(spec.policy_path)
            model_artifacts[REASONS_ARTIFACT] = str(spec.reasons_path)
            if spec.ev_rates_path is not None:  # the tiers stage's rates travel with the model
                model_artifacts[EV_RATES_ARTIFACT] = str(spec.ev_rates_path)
            model_config = spec.config.to_dict()
        signature, example = signature_and_example(inputs.test_frame, bundle)
        info = mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT_NAME,
            python_model=PDPyfuncModel(),
            artifacts=model_artifacts,
            model_config=model_config,
            code_paths=[str(p) for p in code_paths],
            signature=signature,
            input_example=example,
            pip_requirements=serving_requirements(),
            registered_model_name=name,
        )
        version = str(info.registered_model_version)
        client.set_registered_model_alias(name, CHALLENGER, version)

        champ = alias_version(client, name, CHAMPION)
        champion = None
        if champ is not None and str(champ.version) != version:
            champion = champion_evidence(client, name, str(champ.version), inputs.test_frame)
        decision = decide_promotion(inputs.gate, champion, config.gate)
        decision.champion_version = None if champ is None else str(champ.version)
        decision.challenger_version = version
        if decision.status == PROMOTED:
            client.set_registered_model_alias(name, CHAMPION, version)
            log.info("gate passed: %s v%s is the new champion", name, version)
        elif decision.status == AWAITING_APPROVAL:
            log.info(
                "gate passed: %s v%s stays challenger until approved "
                "(python -m pipelines.promote --version %s --approved-by NAME --reason ...)",
                name,
                version,
                version,
            )
        else:
            failed = [r for r in decision.reasons if r.startswith("FAIL")]
            log.warning("gate failed: %s v%s stays challenger (%s)", name, version, failed)

        verdict = decision.status
        mlflow.set_tags({"gate_verdict": verdict, "model_version": version})
        mlflow.log_dict(decision.to_dict(), "promotion.json")
        mlflow.log_metric("gate_promote", 1.0 if decision.promote else 0.0)

        test = inputs.metrics.get("test", {})
        version_tags = {
            "gate_verdict": verdict,
            "data_hash": inputs.data_hash,
            "training_window": inputs.training_window,
            "run_id": run.info.run_id,
            **{
                f"test_{k}": f"{float(v):.6g}"
                for k, v in test.items()
                if isinstance(v, int | float)
            },
        }
        if commit:
            version_tags["git_commit"] = commit
        for k, v in version_tags.items():
            client.set_model_version_tag(name, version, k, str(v))
        desc = (
            f"Calibrated LightGBM PD. Test AUC {test.get('auc', float('nan')):.4f}, "
            f"ECE {test.get('ece', float('nan')):.4f}, n={test.get('n')}. "
            f"Training window {inputs.training_window or 'n/a'}; data md5 {inputs.data_hash or 'n/a'}. "
            f"Gate: {verdict} ({'; '.join(decision.reasons)})."
        )
        client.update_model_version(name, version, description=desc)
        return RegistryResult(
            run_id=run.info.run_id,
            model_uri=f"models:/{name}/{version}",
            version=version,
            decision=decision,
            tracking_uri=tracking_uri,
        )

"""Experiment tracking, model registry and the promotion gate.

Every training run is logged (params, metrics, plots, catalogue, data summary, git commit, data
hashes) and its model registered as a new version with alias `challenger`. The gate then compares
the challenger with the current `champion` *on the same current test data*: the champion's saved
model is re-scored here rather than trusting the metrics it was registered with, which came from
older data. `champion` moves only when the gate passes; a failed gate is a verdict, not an error.
Registry stages are deprecated in MLflow, so only aliases are used.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import ConfigError, DataValidationError

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_ARTIFACT_NAME = "model"
# What the served model imports (features/ and models/ travel as code_paths).
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
class GateConfig:
    auc_tolerance: float = 0.005
    max_ece: float = 0.02
    max_psi: float = 0.25
    min_auc: float = 0.60

    def __post_init__(self) -> None:
        for key in ("auc_tolerance", "max_ece", "max_psi", "min_auc"):
            v = getattr(self, key)
            if not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"mlflow.gate.{key}", "must be a non-negative number", v)
        if self.min_auc > 1:
            raise ConfigError("mlflow.gate.min_auc", "must not exceed 1", self.min_auc)


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str | None = None
    experiment: str = "credit-pd"
    model_name: str = "credit-pd"
    gate: GateConfig = field(default_factory=GateConfig)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MlflowConfig:
        if not isinstance(data, Mapping):
            raise ConfigError("mlflow", "must be a mapping", data)
        unknown = sorted(set(data) - {"tracking_uri", "experiment", "model_name", "gate"})
        if unknown:
            raise ConfigError("mlflow", f"has unknown key(s) {unknown}")
        gate_raw = data.get("gate") or {}
        if not isinstance(gate_raw, Mapping):
            raise ConfigError("mlflow.gate", "must be a mapping", gate_raw)
        bad_gate = sorted(set(gate_raw) - set(GateConfig.__dataclass_fields__))
        if bad_gate:
            raise ConfigError("mlflow.gate", f"has unknown key(s) {bad_gate}")
        for key in ("experiment", "model_name"):
            v = data.get(key, getattr(cls, key))
            if not isinstance(v, str) or not v.strip():
                raise ConfigError(f"mlflow.{key}", "must be a non-empty string", v)
        uri = data.get("tracking_uri")
        if uri is not None and not isinstance(uri, str):
            raise ConfigError("mlflow.tracking_uri", "must be a string or null", uri)
        return cls(
            tracking_uri=uri or None,
            experiment=data.get("experiment", "credit-pd"),
            model_name=data.get("model_name", "credit-pd"),
            gate=GateConfig(**{k: float(v) for k, v in gate_raw.items()}),
        )


def resolve_tracking_uri(configured: str | None, repo_root: str | Path) -> str:
    """MLFLOW_TRACKING_URI wins, then the params value, else an SQLite file at the repo root."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    if configured:
        return configured
    return f"sqlite:///{Path(repo_root).resolve() / 'mlflow.db'}"


@dataclass
class Decision:
    promote: bool
    reasons: list[str]
    challenger: dict[str, float] = field(default_factory=dict)
    champion: dict[str, float] | None = None
    champion_version: str | None = None
    challenger_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def decide_promotion(
    challenger: Mapping[str, float], champion: Mapping[str, float] | None, gate: GateConfig
) -> Decision:
    """The promotion gate, a pure function of metrics on the same test data.

    `challenger` needs auc, ece and psi (train-vs-test score PSI); `champion` needs auc, or is None
    when no version holds the alias yet. Absolute limits (AUC floor, ECE, PSI) always apply; with a
    champion the challenger's AUC must also be no lower than the champion's minus the tolerance.
    Every check leaves a reason, passed or failed, so the verdict can be audited.
    """
    reasons: list[str] = []
    ok = True

    def check(passed: bool, text: str) -> None:
        nonlocal ok
        ok = ok and passed
        reasons.append(("PASS: " if passed else "FAIL: ") + text)

    auc = float(challenger.get("auc", float("nan")))
    ece = float(challenger.get("ece", float("nan")))
    psi = float(challenger.get("psi", float("nan")))
    check(
        math.isfinite(auc) and auc >= gate.min_auc, f"test AUC {_fmt(auc)} >= floor {gate.min_auc}"
    )
    check(math.isfinite(ece) and ece <= gate.max_ece, f"test ECE {_fmt(ece)} <= {gate.max_ece}")
    check(
        math.isfinite(psi) and psi <= gate.max_psi,
        f"score PSI train->test {_fmt(psi)} <= {gate.max_psi}",
    )
    if champion is None:
        reasons.append("INFO: no champion yet; first version judged on the absolute limits only")
    else:
        champ_auc = float(champion.get("auc", float("nan")))
        if not math.isfinite(champ_auc):
            reasons.append(
                "INFO: champion AUC unavailable on the current test data; absolute limits only"
            )
        else:
            need = champ_auc - gate.auc_tolerance
            check(
                math.isfinite(auc) and auc >= need,
                f"test AUC {_fmt(auc)} >= champion AUC {_fmt(champ_auc)} - {gate.auc_tolerance}",
            )
    return Decision(
        promote=ok,
        reasons=reasons,
        challenger={k: float(v) for k, v in challenger.items()},
        champion=None if champion is None else {k: float(v) for k, v in champion.items()},
    )


def file_md5(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def data_hashes(paths: Sequence[str | Path]) -> dict[str, str]:
    """md5 of each existing input file (the same digest DVC records for single files)."""
    return {str(p): file_md5(p) for p in paths if Path(p).is_file()}


def git_commit(repo_root: str | Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


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
    """Everything the train stage hands to tracking and the gate."""

    model_dir: Path
    metrics: dict[str, Any]
    params: dict[str, Any]
    test_frame: pd.DataFrame
    test_target: np.ndarray
    gate_metrics: dict[str, float]
    catalogue: dict[str, Any]
    artifacts: dict[str, Path] = field(default_factory=dict)  # name -> file or directory
    json_artifacts: dict[str, Any] = field(default_factory=dict)  # file name -> object
    tags: dict[str, str] = field(default_factory=dict)
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


def _client_alias_version(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _ensure_experiment(mlflow: Any, name: str, tracking_uri: str) -> str:
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if tracking_uri.startswith("sqlite:///"):
        # Keep artifacts beside the database rather than wherever the process happens to run.
        db = Path(tracking_uri[len("sqlite:///") :])
        location = (db.parent / "mlruns").resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def score_registered_model(model_uri: str, frame: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """Re-score a registered version on `frame` with the current code and its saved files."""
    import mlflow
    import yaml

    from models import metrics
    from models.pd_model import PDModel

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        conf = yaml.safe_load((local / "MLmodel").read_text())
        rel = conf["flavors"]["python_function"]["artifacts"]["model_dir"]["path"]
        model = PDModel.load(local / rel)
        pd_values = model.predict_pd(frame, source=model_uri)
    return {"auc": metrics.auc(y, pd_values), "ece": metrics.ece(y, pd_values)}


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
    exp_id = _ensure_experiment(mlflow, config.experiment, tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if code_paths is None:
        root = Path(__file__).resolve().parents[1]
        code_paths = [root / "features", root / "models"]
    name = config.model_name
    log.info("MLflow tracking at %s, experiment '%s'", tracking_uri, config.experiment)

    with mlflow.start_run(experiment_id=exp_id) as run:
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
        for art_name, path in inputs.artifacts.items():
            p = Path(path)
            if p.is_dir():
                mlflow.log_artifacts(str(p), art_name)
            elif p.is_file():
                mlflow.log_artifact(str(p), art_name)

        spec = inputs.serving
        model_artifacts = {MODEL_DIR_ARTIFACT: str(inputs.model_dir)}
        model_config = None
        if spec is None:
            bundle = ServingBundle.load(inputs.model_dir)
        else:
            bundle = ServingBundle.load(
                inputs.model_dir, spec.policy_path, spec.reasons_path, spec.config
            )
            model_artifacts[POLICY_ARTIFACT] = str(spec.policy_path)
            model_artifacts[REASONS_ARTIFACT] = str(spec.reasons_path)
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

        champ = _client_alias_version(client, name, CHAMPION)
        champ_metrics = None
        champ_note = None
        if champ is not None and str(champ.version) != version:
            try:
                champ_metrics = score_registered_model(
                    f"models:/{name}/{champ.version}", inputs.test_frame, inputs.test_target
                )
            except (DataValidationError, KeyError, ValueError) as exc:
                # an old version may not read today's features: judge on absolute limits.
                # Anything else (I/O, a lost server) fails the stage rather than skip the comparison.
                champ_note = (
                    f"INFO: champion v{champ.version} could not score the current test data ({exc})"
                )
                log.warning(champ_note)
                champ_metrics = {"auc": float("nan")}
        decision = decide_promotion(inputs.gate_metrics, champ_metrics, config.gate)
        if champ_note:
            decision.reasons.append(champ_note)
        decision.champion_version = None if champ is None else str(champ.version)
        decision.challenger_version = version
        if decision.promote:
            client.set_registered_model_alias(name, CHAMPION, version)
            log.info("gate passed: %s v%s is the new champion", name, version)
        else:
            log.warning(
                "gate failed: %s v%s stays challenger (%s)", name, version, decision.reasons
            )

        verdict = "promoted" if decision.promote else "rejected"
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

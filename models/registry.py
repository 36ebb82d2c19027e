"""Experiment tracking, model registry and the promotion gate.

The register stage (`register_pd`) logs every training run (params, metrics, plots, catalogue,
data summary, git commit, data hashes) and registers its model as a new version with alias
`challenger`. The gate then compares the challenger with the current `champion` *on the same
current test data*: the champion's saved model is re-scored here rather than trusting the metrics
it was registered with, which came from older data. `champion` moves only when the gate passes; a
failed gate is a verdict, not an error. Registry stages are deprecated in MLflow, so only aliases
are used.
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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd

from features.errors import DataValidationError, PipelineError
from features.io import read_json

if TYPE_CHECKING:
    from features.catalogue import Catalogue
    from models.pd_model import TrainConfig
    from models.serving.pyfunc import ServingSpec

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_ARTIFACT_NAME = "model"
#: The repository packages the served model imports; they travel with it as code_paths.
CODE_PACKAGES = ("features", "models", "collection_policy")
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
class GateConfig:
    """Promotion limits (params `mlflow.gate`, checked by its reader)."""

    auc_tolerance: float  # challenger AUC >= champion AUC - tolerance
    max_ece: float
    max_psi: float
    min_auc: float  # absolute floor, also for the first version


@dataclass(frozen=True)
class MlflowConfig:
    """Where runs and versions go (params `mlflow`); tracking_uri None = the repo's SQLite file."""

    tracking_uri: str | None
    experiment: str
    model_name: str
    gate: GateConfig
    max_shap_values_mb: float  # attach shap_values.parquet to the run only up to this size


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
    """Everything a registration hands to tracking and the gate (built by `register_pd`)."""

    model_dir: Path
    metrics: dict[str, Any]
    params: dict[str, Any]
    test_frame: pd.DataFrame
    test_target: np.ndarray
    gate_metrics: dict[str, float]
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

    from models.metrics import auc, ece
    from models.pd_model import PDModel

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp))
        conf = yaml.safe_load((local / "MLmodel").read_text())
        rel = conf["flavors"]["python_function"]["artifacts"]["model_dir"]["path"]
        model = PDModel.load(local / rel)
        pd_values = model.predict_pd(frame, source=model_uri)
    return {"auc": auc(y, pd_values), "ece": ece(y, pd_values)}


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
        code_paths = [root / package for package in CODE_PACKAGES]
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


# ------------------------------------------------------------------------------ the register stage
@dataclass(frozen=True)
class RegisterInputs:
    """What a registration logs: the train stage's outputs and the feature table it used."""

    model_dir: Path
    metrics: dict[str, Any]  # reports/metrics.json (gate inputs: test auc/ece, score PSI)
    deciles: list[dict[str, Any]]
    plots_dir: Path
    features: pd.DataFrame  # the whole table; the gate re-scores the champion on its test split
    catalogue: Catalogue
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
        from features.contracts import SHAP_VALUES

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
    metrics: Path,
    deciles: Path,
    plots_dir: Path,
    data_reports: Sequence[Path] = (),
    explanations: ExplainOutputs | None = None,
) -> RegisterInputs:
    """Read what the train and features stages wrote; a missing file names the stage to run."""
    from features.catalogue import CATALOGUE_FILE
    from features.contracts import FEATURES
    from models.training import read_features

    for path in (metrics, deciles, plots_dir):
        if not path.exists():
            raise PipelineError(f"'{path}' not found; run the train stage first")
    table, catalogue = read_features(features_dir)
    return RegisterInputs(
        model_dir=model_dir,
        metrics=read_json(metrics),
        deciles=read_json(deciles),
        plots_dir=plots_dir,
        features=table,
        catalogue=catalogue,
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

    def headline(self) -> dict[str, Any]:
        """reports/headline/register.json: the verdict and the version it concerns."""
        return {
            "promote": self.result.decision.promote,
            "version": int(self.result.version),
        }


def tracking_store(configured: str | None) -> str:
    """Which setting chose the tracking URI (the order `resolve_tracking_uri` applies)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return "environment"
    return "params" if configured else "default"


def portable_tracking_uri(uri: str, repo_root: str | Path) -> str:
    """The URI as a report may record it: a local store relative to the repository root (or
    named only by its file when it lies elsewhere); a server URI without user credentials."""
    root = Path(repo_root).resolve()
    for prefix in ("sqlite:///", "file://"):
        if uri.startswith(prefix):
            path = Path(uri[len(prefix) :])
            if not path.is_absolute():
                return uri
            try:
                return prefix + path.resolve().relative_to(root).as_posix()
            except ValueError:
                return f"{prefix}<outside the repository>/{path.name}"
    parts = urlsplit(uri)
    if parts.scheme and parts.netloc and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return uri


def _number(value: Any) -> float:
    """A metric read back from JSON, where NaN was written as null."""
    return float("nan") if value is None else float(value)


def register_pd(
    inputs: RegisterInputs,
    train_config: TrainConfig,
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

    from models.pd_model import FitReport, PDModel

    model = PDModel.load(inputs.model_dir)
    frame = inputs.features
    test = frame[frame["split"] == "test"]
    hashes = data_hashes(inputs.data_files)
    combined = hashlib.md5("".join(sorted(hashes.values())).encode()).hexdigest()
    artifacts: dict[str, Path | tuple[Path, ...]] = {"plots": inputs.plots_dir}
    for report in inputs.data_reports:
        if report.is_file():
            artifacts[f"data/{report.name}"] = report
    params: dict[str, Any] = {
        **train_config.to_flat_dict(),
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
        test_target=test["default"].astype("int8").to_numpy(),
        gate_metrics={
            "auc": _number(metrics["test"]["auc"]),
            "ece": _number(metrics["test"]["ece"]),
            "psi": _number(metrics["score_psi_train_test"]),
        },
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

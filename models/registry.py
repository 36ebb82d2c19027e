"""Experiment tracking, model registry and the promotion gate.

The register stage (`run_register`) logs every training run (params, metrics, plots, catalogue,
data summary, git commit, data hashes) and registers its model as a new version with alias
`challenger`. The gate (`models.gate`) then compares the challenger with the current `champion`
*on the same current test data*: the champion's saved model is re-scored here rather than
trusting the metrics it was registered with, which came from older data. `champion` moves only
when the gate passes (and, in approval mode, when a person approves: `approve_version`); a failed
gate is a verdict, not an error. Registry stages are deprecated in MLflow, so only aliases are
used.
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

from core.errors import DataValidationError, PipelineError
from core.io import read_json
from models.gate import (
    AWAITING_APPROVAL,
    PROMOTED,
    ChampionEvidence,
    Decision,
    GateConfig,
    GateEvidence,
    decide_promotion,
)

if TYPE_CHECKING:
    from core.catalogue import Catalogue
    from models.pd_model import PDModel, TrainConfig
    from models.serving.pyfunc import ServingSpec

log = logging.getLogger(__name__)

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


def resolve_tracking_uri(configured: str | None, repo_root: str | Path) -> str:
    """MLFLOW_TRACKING_URI wins, then the params value, else an SQLite file at the repo root."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    if configured:
        return configured
    return f"sqlite:///{Path(repo_root).resolve() / 'mlflow.db'}"


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


#: Run tags naming the process that owns a run, so a later run can tell a killed one from a live one.
PID_TAG = "creditrisk.pid"
HOST_TAG = "creditrisk.host"


def process_tags() -> dict[str, str]:
    """Tags set at run start: this process's id and host."""
    import socket

    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def end_stale_runs(client: Any, experiment_id: str) -> list[str]:
    """Mark this experiment's runs left RUNNING by a dead process of this host as KILLED.

    A run counts as stale only when it carries our pid/host tags, its host is this machine and no
    process has that pid any more (a killed `dvc repro`); runs of other hosts, live processes or
    without the tags (other tools) are left alone. Returns the run ids ended.
    """
    import socket

    from mlflow.entities import ViewType

    host = socket.gethostname()
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
        run_view_type=ViewType.ACTIVE_ONLY,
        max_results=1000,
    )
    ended = []
    for run in runs:
        pid = run.data.tags.get(PID_TAG, "")
        if not pid.isdigit() or int(pid) == os.getpid() or _process_alive(int(pid)):
            continue
        client.set_terminated(run.info.run_id, status="KILLED")
        ended.append(run.info.run_id)
    if ended:
        log.warning(
            "marked %d run(s) left RUNNING by a killed process as KILLED: %s", len(ended), ended
        )
    return ended


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
    exp_id = _ensure_experiment(mlflow, config.experiment, tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if code_paths is None:
        root = Path(__file__).resolve().parents[1]
        code_paths = [root / package for package in CODE_PACKAGES]
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

        champ = _client_alias_version(client, name, CHAMPION)
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


# ------------------------------------------------------------------------------ the register stage
#: The feature rows the gate reads: the out-of-time test split and the validation split (its
#: holdout is the development reference and the default calibration sample).
GATE_SPLITS = ("validation", "test")


@dataclass(frozen=True)
class RegisterInputs:
    """What a registration logs: the train stage's outputs and the feature table it used."""

    model_dir: Path
    metrics: dict[str, Any]  # reports/metrics.json (gate inputs: test auc/ece, score PSI)
    deciles: list[dict[str, Any]]
    plots_dir: Path
    features: pd.DataFrame  # the GATE_SPLITS rows; the gate re-scores the champion on test
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
    metrics: Path,
    deciles: Path,
    plots_dir: Path,
    data_reports: Sequence[Path] = (),
    explanations: ExplainOutputs | None = None,
) -> RegisterInputs:
    """Read what the train and features stages wrote; a missing file names the stage to run."""
    from core.catalogue import CATALOGUE_FILE, read_catalogue
    from core.contracts import FEATURES
    from models.training import read_features

    for path in (metrics, deciles, plots_dir):
        if not path.exists():
            raise PipelineError(f"'{path}' not found; run the train stage first")
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


def gate_evidence(
    model: PDModel,
    features: pd.DataFrame,
    catalogue: Catalogue,
    train_config: TrainConfig,
    gate: GateConfig,
) -> tuple[pd.DataFrame, GateEvidence]:
    """The gate's rows and the challenger's numbers on them: (test rows, evidence).

    Test = the out-of-time split; the development reference and the default calibration sample
    are the validation hold-out the model stopped early on (out of sample for its calibrator,
    `models.pd_model.split_validation` with the train stage's own fraction and seed). Accounts in
    default at their snapshot leave both, as they left training. The run's own logistic baseline,
    saved in the model's meta by the train stage, scores the same test rows (check `vs_baseline`);
    a model saved without one gives no baseline PD.
    """
    from models.baseline import LogisticBaseline
    from models.pd_model import split_validation
    from models.training import drop_defaulted_labelled

    test = drop_defaulted_labelled(features[features["split"] == "test"], "register: test")
    valid = drop_defaulted_labelled(
        features[features["split"] == "validation"], "register: validation"
    )
    holdout, _ = split_validation(
        valid, catalogue.id_column, train_config.calibration_fraction, train_config.seed
    )
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
    test, evidence = gate_evidence(
        model, inputs.features, inputs.catalogue, train_config, mlflow_config.gate
    )
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


# ------------------------------------------------------------------------------------ approval
@dataclass(frozen=True)
class Approval:
    """A person's approval of a version that passed the gate in `approval` mode."""

    version: str
    approved_by: str
    reason: str
    approved_at: str  # UTC, ISO 8601
    previous_champion: str | None


def approve_version(
    tracking_uri: str, model_name: str, version: str, approved_by: str, reason: str
) -> Approval:
    """Move `champion` to `version` and record who, when and why as version tags.

    Only a version the gate passed and left waiting (`gate_verdict` = awaiting_approval) can be
    approved: a rejected version, or one already promoted, is refused with the reason. The
    previous champion keeps its version; its tag `replaced_by` names the new one.
    """
    from datetime import UTC, datetime

    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if not approved_by.strip() or not reason.strip():
        raise PipelineError("an approval needs a non-empty --approved-by and --reason")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        mv = client.get_model_version(model_name, version)
    except MlflowException as exc:
        raise PipelineError(f"{model_name} v{version} not found at {tracking_uri}: {exc}") from exc
    verdict = mv.tags.get("gate_verdict")
    if verdict != AWAITING_APPROVAL:
        raise PipelineError(
            f"{model_name} v{version} has gate_verdict '{verdict}'; only a version the gate "
            f"passed in approval mode ('{AWAITING_APPROVAL}') can be approved"
        )
    previous = _client_alias_version(client, model_name, CHAMPION)
    approval = Approval(
        version=str(version),
        approved_by=approved_by.strip(),
        reason=reason.strip(),
        approved_at=datetime.now(UTC).isoformat(timespec="seconds"),
        previous_champion=None if previous is None else str(previous.version),
    )
    client.set_registered_model_alias(model_name, CHAMPION, str(version))
    tags = {
        "gate_verdict": PROMOTED,
        "approved_by": approval.approved_by,
        "approved_at": approval.approved_at,
        "approval_reason": approval.reason,
        "previous_champion": approval.previous_champion or "",
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(version), key, value)
    if previous is not None and str(previous.version) != str(version):
        client.set_model_version_tag(model_name, str(previous.version), "replaced_by", str(version))
    log.info("%s v%s approved by %s: now champion", model_name, version, approval.approved_by)
    return approval

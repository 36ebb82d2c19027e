"""DVC stage `train`: calibrated LightGBM PD + logistic baseline, metrics, plots, registry and gate.

python -m pipelines.train --features-dir data/features --truth data/truth/true_pd.parquet \
    --model-dir data/model --scores data/scores/scores.parquet --metrics reports/metrics.json \
    --deciles reports/deciles.json --plots-dir reports/plots --promotion reports/promotion.json

The registered model bundles the collection policy (params `tiers.policy`) and the reason
dictionary (params `explain.reasons`), the same files the tiers and explain stages read.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.catalogue import Catalogue
from features.errors import ConfigError, DataValidationError, PipelineError
from features.io import atomic_dir, read_json, write_json, write_parquet
from features.split import SPLITS
from models import metrics as M
from models.baseline import LogisticBaseline
from models.pd_model import TrainConfig, fit_pd_model
from models.registry import MlflowConfig
from pipelines.common import base_parser, load_params, run_stage, section

if TYPE_CHECKING:
    from models.serving.pyfunc import ServingSpec

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
LABELLED = ("train", "validation", "test")


@dataclass(frozen=True)
class TrainPaths:
    features_dir: Path
    model_dir: Path
    scores: Path
    metrics: Path
    deciles: Path
    plots_dir: Path
    promotion: Path
    truth: Path | None = None
    ingest_summary: Path | None = None
    data_quality: Path | None = None


def read_features(features_dir: Path) -> tuple[pd.DataFrame, Catalogue]:
    table_path, cat_path = features_dir / "features.parquet", features_dir / "catalogue.json"
    for p in (table_path, cat_path):
        if not p.exists():
            raise PipelineError(f"'{p}' not found: run the features stage first")
    catalogue = Catalogue.from_dict(read_json(cat_path))
    if not catalogue.features:
        raise DataValidationError(str(cat_path), "catalogue lists no features")
    df = pd.read_parquet(table_path)
    src = str(table_path)
    for col in ("split", "default", catalogue.id_column):
        if col not in df.columns:
            raise DataValidationError(src, "required column is missing", column=col)
    bad = ~df["split"].isin(SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataValidationError(
            src, f"split must be one of {list(SPLITS)}, got {df['split'].iloc[row]!r}", "split", row
        )
    for s in LABELLED:
        part = df.loc[df["split"] == s, "default"]
        if part.empty:
            raise DataValidationError(src, f"split '{s}' has no rows", column="split")
        if part.isna().any():
            row = int(np.flatnonzero((df["split"].eq(s) & df["default"].isna()).to_numpy())[0])
            raise DataValidationError(src, f"split '{s}' has a missing label", "default", row)
    if "observation_date" not in df.columns:
        df["observation_date"] = pd.NaT
    return df, catalogue


def _truth_metrics(
    test: pd.DataFrame, test_pd: np.ndarray, truth_path: Path | None, id_col: str
) -> dict[str, Any]:
    if truth_path is None or not truth_path.exists():
        return {}
    truth = pd.read_parquet(truth_path)
    keys = [id_col, "observation_date"]
    missing = [c for c in [*keys, "true_pd"] if c not in truth.columns]
    if missing:
        raise DataValidationError(str(truth_path), "required column is missing", column=missing[0])
    left = test[keys].reset_index(drop=True).assign(_pd=test_pd, _y=test["default"].to_numpy())
    merged = left.merge(truth[[*keys, "true_pd"]], on=keys, how="left")
    have = merged["true_pd"].notna()
    if not have.any():
        log.warning("no test row matched %s; oracle metrics skipped", truth_path)
        return {}
    if not have.all():
        log.warning("%d test rows lack a true PD; oracle metrics use the rest", int((~have).sum()))
    m = merged[have]
    y = m["_y"].astype("float64").to_numpy()
    tp = m["true_pd"].to_numpy(dtype="float64")
    return {
        "oracle_test": {"auc": M.auc(y, tp), "brier": M.brier(y, tp)},
        "pd_vs_true_mae": float(np.mean(np.abs(m["_pd"].to_numpy() - tp))),
    }


def _window(frame: pd.DataFrame) -> str:
    dates = pd.to_datetime(frame["observation_date"], errors="coerce").dropna()
    if dates.empty:
        return ""
    return f"{dates.min().date()}..{dates.max().date()}"


def run_training(
    paths: TrainPaths,
    config: TrainConfig,
    mlflow_config: MlflowConfig | None,
    repo_root: Path = REPO_ROOT,
    extra_params: dict[str, Any] | None = None,
    serving: ServingSpec | None = None,
) -> dict[str, Any]:
    """The whole stage; returns the metrics document (plus the gate decision under '_promotion').

    `serving` bundles the collection policy and reason dictionary into the registered model (the
    DVC stage always passes it); without it the registered model answers PD, score and grade only.
    """
    df, catalogue = read_features(paths.features_dir)
    src = str(paths.features_dir / "features.parquet")
    parts = {s: df[df["split"] == s] for s in SPLITS}
    y = {s: parts[s]["default"].astype("int8").to_numpy() for s in LABELLED}

    model, fit_report = fit_pd_model(
        parts["train"], parts["validation"], catalogue, config, source=src
    )
    base_train = parts["train"]
    if len(base_train) > config.baseline_max_rows:  # a seeded sample: same rows every run
        base_train = base_train.sample(config.baseline_max_rows, random_state=config.seed)
    baseline = LogisticBaseline(catalogue).fit(
        base_train, base_train["default"].astype("int8").to_numpy()
    )

    scored = model.predict_frame(df, source=src)
    by_split = {s: scored.loc[parts[s].index] for s in SPLITS}
    test_pd = by_split["test"]["pd"].to_numpy()
    doc: dict[str, Any] = {
        "test": M.summary(y["test"], test_pd),
        "validation": M.summary(y["validation"], by_split["validation"]["pd"].to_numpy()),
        "baseline_test": M.summary(y["test"], baseline.predict_pd(parts["test"])),
    }
    doc.update(_truth_metrics(parts["test"], test_pd, paths.truth, catalogue.id_column))
    doc["score_psi_train_test"] = M.psi(
        by_split["train"]["score"].to_numpy(), by_split["test"]["score"].to_numpy()
    )
    log.info(
        "test AUC %.4f (baseline %.4f, oracle %s), ECE %.4f, PSI %.4f",
        doc["test"]["auc"],
        doc["baseline_test"]["auc"],
        f"{doc['oracle_test']['auc']:.4f}" if "oracle_test" in doc else "n/a",
        doc["test"]["ece"],
        doc["score_psi_train_test"],
    )
    deciles = M.decile_table(y["test"], test_pd)
    grades_test = by_split["test"]["grade"].to_numpy()
    plots = M.curve_bundle(y["test"], test_pd, grades_test, model.grade_order)
    window = _window(parts["train"])

    model.meta.update(
        {
            "metrics": {k: doc[k] for k in ("test", "validation")},
            "training_window": window,
            "n_train": fit_report.n_train,
            "n_validation": fit_report.n_validation,
        }
    )
    with atomic_dir(paths.model_dir) as tmp:
        model.save(tmp)

    out = pd.DataFrame(
        {
            "account_id": df[catalogue.id_column].to_numpy(),
            "observation_date": pd.to_datetime(df["observation_date"]).to_numpy(),
            "split": df["split"].astype(str).to_numpy(),
            "default": df["default"].astype("Int8").array,
            "raw_score": scored["raw_score"].to_numpy(),
            "pd": scored["pd"].to_numpy(),
            "score": scored["score"].to_numpy(),
            "grade": scored["grade"].astype(str).to_numpy(),
        }
    )
    write_parquet(out, paths.scores)
    write_json(deciles, paths.deciles)
    paths.plots_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in plots.items():
        write_json(rows, paths.plots_dir / f"{name}.json")
    write_json(doc, paths.metrics)

    if mlflow_config is None:
        promotion: dict[str, Any] = {
            "promote": None,
            "reasons": ["registry skipped (--no-registry)"],
        }
    else:
        promotion = _register(
            paths,
            config,
            mlflow_config,
            repo_root,
            doc,
            deciles,
            parts["test"],
            y["test"],
            catalogue,
            window,
            fit_report.to_dict(),
            extra_params or {},
            serving,
        )
    write_json(promotion, paths.promotion)
    return {**doc, "_promotion": promotion}


def _register(
    paths: TrainPaths,
    config: TrainConfig,
    mlflow_config: MlflowConfig,
    repo_root: Path,
    doc: dict[str, Any],
    deciles: list[dict[str, Any]],
    test: pd.DataFrame,
    y_test: np.ndarray,
    catalogue: Catalogue,
    window: str,
    fit_report: dict[str, Any],
    extra_params: dict[str, Any],
    serving: ServingSpec | None = None,
) -> dict[str, Any]:
    from mlflow.exceptions import MlflowException

    from models.registry import RunInputs, data_hashes, log_and_register

    hashes = data_hashes(
        [paths.features_dir / "features.parquet", paths.features_dir / "catalogue.json"]
    )
    combined = hashlib.md5("".join(sorted(hashes.values())).encode()).hexdigest()
    artifacts: dict[str, Path] = {"plots": paths.plots_dir}
    for name, p in (("data", paths.ingest_summary), ("data", paths.data_quality)):
        if p is not None and p.exists():
            artifacts[f"{name}/{p.name}"] = p
    params = {
        **config.to_flat_dict(),
        **{f"gate.{k}": v for k, v in vars(mlflow_config.gate).items()},
    }
    params.update(extra_params)
    if serving is not None:
        params.update(
            {
                "serving.tier_mode": serving.config.tier_mode,
                "serving.top_k": serving.config.top_k,
                "serving.policy": str(serving.policy_path),
                "serving.reasons": str(serving.reasons_path),
            }
        )
    inputs = RunInputs(
        model_dir=paths.model_dir,
        metrics=doc,
        params=params,
        test_frame=test,
        test_target=y_test,
        gate_metrics={
            "auc": doc["test"]["auc"],
            "ece": doc["test"]["ece"],
            "psi": doc["score_psi_train_test"],
        },
        catalogue=catalogue.to_dict(),
        artifacts={k: Path(v) for k, v in artifacts.items()},
        json_artifacts={
            "deciles.json": deciles,
            "fit_report.json": fit_report,
            "data_hashes.json": hashes,
        },
        tags={f"data_md5.{Path(k).name}": v for k, v in hashes.items()},
        data_hash=combined,
        training_window=window,
        serving=serving,
    )
    try:
        result = log_and_register(inputs, mlflow_config, repo_root)
    except MlflowException as exc:
        raise PipelineError(f"MLflow tracking/registry failed: {exc}") from exc
    return {
        **result.decision.to_dict(),
        "model_name": mlflow_config.model_name,
        "run_id": result.run_id,
        "tracking_uri": result.tracking_uri,
    }


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    train_cfg = TrainConfig.from_mapping(section(params, "train"), seed=int(params.get("seed", 42)))
    ml_cfg = None if args.no_registry else MlflowConfig.from_mapping(section(params, "mlflow"))
    paths = TrainPaths(
        features_dir=Path(args.features_dir),
        model_dir=Path(args.model_dir),
        scores=Path(args.scores),
        metrics=Path(args.metrics),
        deciles=Path(args.deciles),
        plots_dir=Path(args.plots_dir),
        promotion=Path(args.promotion),
        truth=Path(args.truth) if args.truth else None,
        ingest_summary=Path(args.ingest_summary) if args.ingest_summary else None,
        data_quality=Path(args.data_quality) if args.data_quality else None,
    )
    serving = None if ml_cfg is None else serving_spec(params, args.policy, args.reasons)
    run_training(paths, train_cfg, ml_cfg, serving=serving)


def serving_spec(
    params: dict[str, Any], policy: str | None = None, reasons: str | None = None
) -> ServingSpec:
    """Policy, reason dictionary, tier mode and reasons per account for the registered model."""
    from models.serving.pyfunc import ServingConfig, ServingSpec

    tiers = params.get("tiers") or {}
    explain = params.get("explain") or {}
    # The same files the tiers and explain stages use (params), unless overridden on the command line.
    policy = policy or tiers.get("policy", "configs/collection_policy.yaml")
    reasons = reasons or explain.get("reasons", "configs/reasons.yaml")
    for key, path in (("tiers.policy", policy), ("explain.reasons", reasons)):
        if not Path(path).is_file():
            raise ConfigError(key, "file not found", path)
    top_k = explain.get("top_k", 4)
    if isinstance(top_k, bool) or not isinstance(top_k, int):
        raise ConfigError("explain.top_k", "must be an integer", top_k)
    batch = explain.get("batch_rows", 20_000)
    if isinstance(batch, bool) or not isinstance(batch, int):
        raise ConfigError("explain.batch_rows", "must be an integer", batch)
    config = ServingConfig(
        tier_mode=str(tiers.get("mode", "rules")), top_k=top_k, shap_batch_rows=batch
    )
    return ServingSpec(Path(policy), Path(reasons), config)


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(
        "Train the calibrated LightGBM PD model and register it behind a promotion gate."
    )
    p.add_argument("--features-dir", default="data/features")
    p.add_argument("--truth", default=None, help="true_pd.parquet (synthetic book only; optional)")
    p.add_argument("--model-dir", default="data/model")
    p.add_argument("--scores", default="data/scores/scores.parquet")
    p.add_argument("--metrics", default="reports/metrics.json")
    p.add_argument("--deciles", default="reports/deciles.json")
    p.add_argument("--plots-dir", default="reports/plots")
    p.add_argument("--promotion", default="reports/promotion.json")
    p.add_argument("--ingest-summary", default="reports/ingest.json")
    p.add_argument("--data-quality", default="reports/data_quality.json")
    p.add_argument("--no-registry", action="store_true", help="skip MLflow tracking and the gate")
    p.add_argument(
        "--policy",
        default=None,
        help="collection policy bundled into the registered model (default: params tiers.policy)",
    )
    p.add_argument(
        "--reasons",
        default=None,
        help="reason dictionary bundled into the registered model (default: params explain.reasons)",
    )
    return p


if __name__ == "__main__":
    run_stage(main, build_parser())

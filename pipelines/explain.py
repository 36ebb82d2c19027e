"""DVC stage `explain`: SHAP values, reason codes, global plots and the reviewer report.

Explains the out-of-time test split and the current book (split 'score'); a table-mode run without
a current book explains the test split. Reads params sections `explain`, `mlflow` and `seed`.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.catalogue import Catalogue, to_model_frame
from features.errors import ConfigError, DataValidationError, PipelineError
from features.io import atomic_dir, read_json, write_json, write_parquet
from pipelines.common import base_parser, load_params, run_stage, section

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
ID_COLUMNS = ["account_id", "observation_date", "split"]
EXPLAIN_SPLITS = ("test", "score")


@dataclass(frozen=True)
class ExplainConfig:
    top_k: int = 4
    sample_check_rows: int = 200
    check_tolerance: float = 1e-6
    batch_rows: int = 20_000
    reasons: str = "configs/reasons.yaml"
    dependence_features: int = 6
    plot_rows: int = 5000
    report_top_pd: int = 5
    raw_score_tolerance: float = 1e-6
    seed: int = 42

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], seed: int = 42) -> ExplainConfig:
        known = set(cls.__dataclass_fields__) - {"seed"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError("explain", f"has unknown key(s) {unknown}; allowed: {sorted(known)}")
        ints = {
            "top_k": (1, 20),
            "sample_check_rows": (0, 1_000_000),
            "batch_rows": (1, 10_000_000),
            "dependence_features": (0, 50),
            "plot_rows": (100, 1_000_000),
            "report_top_pd": (0, 100),
        }
        values: dict[str, Any] = {"seed": int(seed)}
        for key, (lo, hi) in ints.items():
            if key in data:
                v = data[key]
                if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                    raise ConfigError(f"explain.{key}", f"must be an integer in [{lo}, {hi}]", v)
                values[key] = v
        for key in ("check_tolerance", "raw_score_tolerance"):
            if key in data:
                v = data[key]
                if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
                    raise ConfigError(f"explain.{key}", "must be a number in (0, 1)", v)
                values[key] = float(v)
        if "reasons" in data:
            if not isinstance(data["reasons"], str) or not data["reasons"]:
                raise ConfigError(
                    "explain.reasons", "must be a path to the reason dictionary", data["reasons"]
                )
            values["reasons"] = data["reasons"]
        return cls(**values)


@dataclass(frozen=True)
class ExplainPaths:
    model_dir: Path
    features_dir: Path
    scores: Path
    metrics: Path | None
    out_dir: Path
    report_dir: Path
    summary: Path
    promotion: Path | None = None


# ------------------------------------------------------------------------------------- inputs
def read_inputs(paths: ExplainPaths) -> tuple[pd.DataFrame, Catalogue, pd.DataFrame]:
    """The rows to explain (test + current book, or test only) with their scores; the catalogue."""
    cat_path = paths.features_dir / "catalogue.json"
    feat_path = paths.features_dir / "features.parquet"
    for p in (cat_path, feat_path, paths.scores):
        if not p.exists():
            raise DataValidationError(
                str(p), "file not found", hint="Run the upstream stages first."
            )
    catalogue = Catalogue.from_dict(read_json(cat_path))
    id_col = catalogue.id_column
    wanted = [id_col, "observation_date", "split", *catalogue.model_columns]
    df = pd.read_parquet(feat_path, filters=[("split", "in", list(EXPLAIN_SPLITS))])
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise DataValidationError(str(feat_path), f"missing column(s) {missing}", column=missing[0])
    df = df[wanted].rename(columns={id_col: "account_id"}).reset_index(drop=True)
    df["split"] = df["split"].astype(str)
    if df.empty:
        raise DataValidationError(
            str(feat_path), "no rows in the 'test' or 'score' split", column="split"
        )
    if not (df["split"] == "score").any():
        log.info("no current-book rows (split 'score'): explaining the test split only")

    scores = pd.read_parquet(paths.scores)
    need = ["account_id", "observation_date", "split", "pd", "grade"]
    gone = [c for c in need if c not in scores.columns]
    if gone:
        raise DataValidationError(str(paths.scores), f"missing column(s) {gone}", column=gone[0])
    keep = [c for c in ["raw_score", "pd", "score", "grade"] if c in scores.columns]
    scores = scores[["account_id", "observation_date", "split", *keep]].copy()
    scores["split"] = scores["split"].astype(str)
    scores["observation_date"] = pd.to_datetime(scores["observation_date"])
    df["observation_date"] = pd.to_datetime(df["observation_date"])
    dup = scores.duplicated(ID_COLUMNS)
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataValidationError(
            str(paths.scores), "duplicate (account_id, observation_date, split)", row=row
        )
    merged = df[ID_COLUMNS].merge(scores, on=ID_COLUMNS, how="left", validate="one_to_one")
    unscored = merged["pd"].isna()
    if unscored.any():
        row = int(np.flatnonzero(unscored.to_numpy())[0])
        raise DataValidationError(
            str(paths.scores),
            f"{int(unscored.sum())} explained row(s) have no score (first: account "
            f"{merged['account_id'].iloc[row]})",
            column="pd",
            hint="Scores and features are from different runs: re-run the train stage.",
        )
    return df, catalogue, merged


def check_raw_scores(raw: np.ndarray, scored: pd.DataFrame, tol: float, source: str) -> float:
    """Our raw scores must equal the train stage's: same model, same inputs, same rows."""
    if "raw_score" not in scored:
        log.warning("%s has no raw_score column: cannot cross-check the model", source)
        return float("nan")
    theirs = scored["raw_score"].to_numpy(dtype=np.float64)
    diff = np.abs(raw - theirs)
    worst = float(np.nanmax(diff, initial=0.0))
    if not worst <= tol:
        row = int(np.nanargmax(diff))
        raise DataValidationError(
            source,
            f"raw_score differs from the model's prediction by {worst:.3g} (> {tol:g})",
            column="raw_score",
            row=row,
            hint="The model, features and scores are not from the same run.",
        )
    return worst


def run_id_for(paths: ExplainPaths) -> str | None:
    """The train stage's MLflow run: model_meta.json 'mlflow_run_id', else the promotion record."""
    meta_path = paths.model_dir / "model_meta.json"
    if meta_path.exists():
        rid = read_json(meta_path).get("mlflow_run_id")
        if rid:
            return str(rid)
    if paths.promotion is not None and paths.promotion.exists():
        rid = read_json(paths.promotion).get("run_id")
        if rid:
            return str(rid)
    return None


# ---------------------------------------------------------------------------------- the stage
def run_explain(
    paths: ExplainPaths,
    config: ExplainConfig,
    tracking_uri: str | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """The whole stage; returns the summary document (also written to `paths.summary`)."""
    import matplotlib

    matplotlib.use("Agg")
    from models import explain as E
    from models import reasons as R

    t0 = time.perf_counter()
    dictionary = R.load_reason_dictionary(config.reasons)
    df, catalogue, scored = read_inputs(paths)
    R.validate_dictionary(dictionary, catalogue)
    feat_src = str(paths.features_dir / "features.parquet")
    X = to_model_frame(df, catalogue, source=feat_src)
    booster = E.load_booster(str(paths.model_dir / "booster.txt"))
    E.check_model_columns(booster, catalogue.model_columns, str(paths.model_dir / "booster.txt"))
    log.info("explaining %d rows (%s)", len(X), df["split"].value_counts().to_dict())

    t_shap = time.perf_counter()
    result = E.shap_values(booster, X, batch_rows=config.batch_rows, progress=progress)
    shap_seconds = time.perf_counter() - t_shap
    raw_diff = check_raw_scores(
        result.raw_score, scored, config.raw_score_tolerance, str(paths.scores)
    )
    check_diff = E.check_against_shap(
        booster,
        X,
        result.values,
        result.base_value,
        n_rows=config.sample_check_rows,
        tol=config.check_tolerance,
        seed=config.seed,
    )
    stored_additivity = E.additivity_error(result.values, result.base_value, result.raw_score)

    reasons = R.reason_codes(result.values, X, catalogue, dictionary, top_k=config.top_k)
    ids = (
        df[["account_id", "observation_date"]]
        .iloc[reasons["row"].to_numpy()]
        .reset_index(drop=True)
    )
    reasons_out = pd.concat([ids, reasons.drop(columns="row")], axis=1)

    shap_out = pd.concat([df[ID_COLUMNS], result.frame(index=df.index)], axis=1)
    importance = E.global_importance(result.values, result.feature_names)
    by_grade = E.shap_by_grade(result.values, result.feature_names, scored["grade"])
    distribution = R.reason_distribution(reasons, rank=1)

    with atomic_dir(paths.out_dir) as tmp:
        write_parquet(shap_out, tmp / "shap_values.parquet")
        write_parquet(reasons_out, tmp / "reasons.parquet")
        write_parquet(importance, tmp / "importance.parquet")
        write_parquet(by_grade, tmp / "shap_by_grade.parquet")
        write_parquet(distribution, tmp / "reason_distribution.parquet")

    top = importance["feature"].head(config.dependence_features).tolist()
    summary: dict[str, Any] = {
        "rows": int(len(X)),
        "rows_by_split": {k: int(v) for k, v in df["split"].value_counts().items()},
        "features": int(X.shape[1]),
        "base_value": result.base_value,
        "shap_seconds": round(shap_seconds, 3),
        "shap_rows_per_s": round(len(X) / shap_seconds, 1) if shap_seconds > 0 else None,
        "check_rows": int(min(config.sample_check_rows, len(X))),
        "check_max_abs_diff": check_diff,
        "additivity_max_abs_err": result.additivity_max_abs_err,
        "additivity_max_abs_err_float32": stored_additivity,
        "raw_score_max_abs_diff": raw_diff,
        "accounts_with_reasons": int(reasons["row"].nunique()),
        "reason_rows": int(len(reasons)),
        "top_features": top,
        "top_reason_1": distribution["feature"].head(5).tolist(),
    }
    write_report(
        paths,
        config,
        X,
        df,
        scored,
        result,
        importance,
        by_grade,
        distribution,
        reasons,
        summary,
        booster,
    )
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    write_json(summary, paths.summary)
    log_to_mlflow(paths, summary, tracking_uri)
    log.info("explain done in %.1f s; top features %s", summary["seconds"], top)
    return summary


def write_report(
    paths: ExplainPaths,
    config: ExplainConfig,
    X: pd.DataFrame,
    df: pd.DataFrame,
    scored: pd.DataFrame,
    result: Any,
    importance: pd.DataFrame,
    by_grade: pd.DataFrame,
    distribution: pd.DataFrame,
    reasons: pd.DataFrame,
    summary: dict[str, Any],
    booster: Any,
) -> None:
    """PNGs and report.html into the report directory (swapped in atomically)."""
    from models import report as P

    values = result.values
    top = importance["feature"].head(config.dependence_features).tolist()
    with atomic_dir(paths.report_dir) as tmp:
        images = {
            "importance": P.save_png(P.plot_importance(importance), tmp / "importance.png"),
            "beeswarm": P.save_png(
                P.plot_beeswarm(
                    values, X, result.base_value, max_rows=config.plot_rows, seed=config.seed
                ),
                tmp / "beeswarm.png",
            ),
            "by_grade": P.save_png(
                P.plot_shap_by_grade(by_grade, top[:6]), tmp / "shap_by_grade.png"
            ),
            "reasons": P.save_png(
                P.plot_reason_distribution(distribution), tmp / "reason_distribution.png"
            ),
        }
        dependence = {
            f: P.save_png(
                P.plot_dependence(values, X, f, max_rows=config.plot_rows, seed=config.seed),
                tmp / f"dependence_{f}.png",
            )
            for f in top
        }
        importance.to_csv(tmp / "importance.csv", index=False)

        # drill-down: current book when present, else the test split
        book = "score" if (df["split"] == "score").any() else "test"
        frame = scored.assign(split=df["split"].to_numpy())
        pick = P.select_drilldown(frame[frame["split"] == book], n_top=config.report_top_pd)
        accounts = []
        by_row = {int(r): g for r, g in reasons[reasons["row"].isin(pick.index)].groupby("row")}
        for pos, row in pick.iterrows():
            pos = int(pos)
            facts = {
                "case": row["case"],
                "account_id": int(row["account_id"]),
                "observation_date": _date(row["observation_date"]),
                "split": row["split"],
                "PD": f"{row['pd']:.4f}",
                "score": _maybe(row.get("score")),
                "grade": row["grade"],
            }
            rs = by_row.get(pos)
            texts = (
                []
                if rs is None
                else [
                    f"{t} (value {v}, +{c:.3f} log-odds)"
                    for t, v, c in zip(rs["text"], rs["value"], rs["contribution"], strict=True)
                ]
            )
            png = P.save_png(
                P.plot_waterfall(
                    values[pos],
                    X.iloc[pos],
                    result.base_value,
                    title=f"Account {facts['account_id']} ({row['case']})",
                )
            )
            accounts.append(P.Account(facts=facts, reasons=texts, waterfall_png=png))

        metrics = read_json(paths.metrics) if paths.metrics and paths.metrics.exists() else None
        meta_path = paths.model_dir / "model_meta.json"
        meta = read_json(meta_path) if meta_path.exists() else {}
        model_summary = {
            "model": str(paths.model_dir / "booster.txt"),
            "trees": booster.num_trees(),
            "features": X.shape[1],
            "best_iteration": meta.get("best_iteration", "n/a"),
            "training_window": meta.get("training_window", "n/a"),
            "explained rows": f"{len(X):,} ({summary['rows_by_split']})",
            "base value (log-odds)": f"{result.base_value:.4f}",
            "reasons per account (top-k)": config.top_k,
        }
        checks = {
            "shap.TreeExplainer agreement (max |diff|)": f"{summary['check_max_abs_diff']:.2e} "
            f"on {summary['check_rows']} rows (tolerance {config.check_tolerance:g})",
            "additivity (max |sum + base - raw|)": f"{summary['additivity_max_abs_err']:.2e}",
            "raw score vs scores.parquet": f"{summary['raw_score_max_abs_diff']:.2e}",
            "TreeSHAP speed": f"{summary['shap_rows_per_s']} rows/s",
        }
        html_text = P.build_html(
            title="PD model explanations",
            summary=model_summary,
            metrics=metrics,
            importance=importance,
            images=images,
            dependence=dependence,
            distribution=distribution,
            accounts=accounts,
            checks=checks,
        )
        (tmp / "report.html").write_text(html_text, encoding="utf-8")


def _date(v: Any) -> str:
    return "n/a" if pd.isna(v) else str(pd.Timestamp(v).date())


def _maybe(v: Any) -> Any:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else v


def log_to_mlflow(paths: ExplainPaths, summary: dict[str, Any], tracking_uri: str | None) -> None:
    """Attach the report and SHAP tables to the train stage's MLflow run, when there is one."""
    run_id = run_id_for(paths)
    if run_id is None:
        log.info(
            "no MLflow run id in %s: skipping MLflow logging", paths.model_dir / "model_meta.json"
        )
        return
    if tracking_uri is None:
        log.info("MLflow logging disabled: skipping")
        return
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    try:
        with mlflow.start_run(run_id=run_id):
            mlflow.log_artifacts(str(paths.report_dir), artifact_path="explain/report")
            mlflow.log_artifacts(str(paths.out_dir), artifact_path="explain/tables")
            mlflow.log_metrics(
                {
                    "explain_check_max_abs_diff": float(summary["check_max_abs_diff"]),
                    "explain_additivity_max_abs_err": float(summary["additivity_max_abs_err"]),
                    "explain_rows": float(summary["rows"]),
                }
            )
            mlflow.set_tag("explain.top_features", ",".join(summary["top_features"]))
    except MlflowException as exc:
        log.warning(
            "MLflow run %s not usable at %s (%s): skipping MLflow logging",
            run_id,
            tracking_uri,
            exc,
        )
        return
    log.info("logged explanations to MLflow run %s at %s", run_id, tracking_uri)


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    config = ExplainConfig.from_mapping(
        section(params, "explain"), seed=int(params.get("seed", 42))
    )
    if args.reasons:
        config = ExplainConfig(**{**config.__dict__, "reasons": args.reasons})
    tracking_uri = None
    if not args.no_mlflow:
        from models.registry import resolve_tracking_uri

        ml = params.get("mlflow") or {}
        if not isinstance(ml, Mapping):
            raise ConfigError("mlflow", "must be a mapping section", ml)
        tracking_uri = resolve_tracking_uri(ml.get("tracking_uri"), Path.cwd())
    paths = ExplainPaths(
        model_dir=Path(args.model_dir),
        features_dir=Path(args.features_dir),
        scores=Path(args.scores),
        metrics=Path(args.metrics) if args.metrics else None,
        out_dir=Path(args.out_dir),
        report_dir=Path(args.report_dir),
        summary=Path(args.summary),
        promotion=Path(args.promotion) if args.promotion else None,
    )
    try:
        run_explain(paths, config, tracking_uri, progress=None if os.isatty(2) else False)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"explain stage failed: {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    p = base_parser("Explain the PD model: SHAP values, reason codes and the reviewer report.")
    p.add_argument("--model-dir", default="data/model")
    p.add_argument("--features-dir", default="data/features")
    p.add_argument("--scores", default="data/scores/scores.parquet")
    p.add_argument("--metrics", default="reports/metrics.json", help="train metrics (optional)")
    p.add_argument(
        "--promotion",
        default="reports/promotion.json",
        help="train's promotion record: fallback source of the MLflow run id",
    )
    p.add_argument("--out-dir", default="data/explanations")
    p.add_argument("--report-dir", default="reports/explain")
    p.add_argument("--summary", default="reports/explain.json", help="stage metrics (JSON)")
    p.add_argument("--reasons", default=None, help="override params explain.reasons")
    p.add_argument("--no-mlflow", action="store_true", help="skip logging to MLflow")
    return p


if __name__ == "__main__":
    run_stage(main, build_parser())

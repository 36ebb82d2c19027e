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
from models.explain.treeshap import POPULATIONS
from pipelines.common import base_parser, load_params, run_stage, section

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
ID_COLUMNS = ["account_id", "observation_date", "split"]
EXPLAIN_SPLITS = ("test", "score")
DPD_COLUMN = "policy__days_past_due"


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
    population: str = "actionable"
    actionable_min_pd: float = 0.10
    test_sample_rows: int | None = 20_000
    mlflow_max_shap_mb: float = 50.0
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
        if "population" in data:
            if data["population"] not in POPULATIONS:
                raise ConfigError(
                    "explain.population", f"must be one of {list(POPULATIONS)}", data["population"]
                )
            values["population"] = data["population"]
        if "actionable_min_pd" in data:
            v = data["actionable_min_pd"]
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                raise ConfigError("explain.actionable_min_pd", "must be a PD in [0, 1]", v)
            values["actionable_min_pd"] = float(v)
        if "test_sample_rows" in data:
            v = data["test_sample_rows"]
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 100):
                raise ConfigError(
                    "explain.test_sample_rows", "must be an integer >= 100, or null for all rows", v
                )
            values["test_sample_rows"] = v
        if "mlflow_max_shap_mb" in data:
            v = data["mlflow_max_shap_mb"]
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise ConfigError("explain.mlflow_max_shap_mb", "must be a size in MB >= 0", v)
            values["mlflow_max_shap_mb"] = float(v)
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
    import pyarrow.parquet as pq

    catalogue = Catalogue.from_dict(read_json(cat_path))
    id_col = catalogue.id_column
    wanted = [id_col, "observation_date", "split", *catalogue.model_columns]
    present = set(pq.read_schema(feat_path).names)
    missing = [c for c in wanted if c not in present]
    if missing:
        raise DataValidationError(str(feat_path), f"missing column(s) {missing}", column=missing[0])
    # only the columns used: the file also holds train/validation rows and policy/protected columns
    extra = [c for c in ("default", DPD_COLUMN) if c in present and c not in wanted]
    df = pd.read_parquet(
        feat_path, columns=wanted + extra, filters=[("split", "in", list(EXPLAIN_SPLITS))]
    )
    df = df.rename(columns={id_col: "account_id"}).reset_index(drop=True)
    df["split"] = df["split"].astype(str)
    if df.empty:
        raise DataValidationError(
            str(feat_path), "no rows in the 'test' or 'score' split", column="split"
        )
    if not (df["split"] == "score").any():
        log.info("no current-book rows (split 'score'): explaining the test split only")

    have = set(pq.read_schema(paths.scores).names)
    need = ["account_id", "observation_date", "split", "pd", "grade"]
    gone = [c for c in need if c not in have]
    if gone:
        raise DataValidationError(str(paths.scores), f"missing column(s) {gone}", column=gone[0])
    keep = [c for c in ["raw_score", "pd", "score", "grade"] if c in have]
    scores = pd.read_parquet(
        paths.scores,
        columns=["account_id", "observation_date", "split", *keep],
        filters=[("split", "in", list(EXPLAIN_SPLITS))],
    )
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
def choose_rows(
    df: pd.DataFrame, scored: pd.DataFrame, config: ExplainConfig
) -> tuple[Any, pd.DataFrame]:
    """Which rows to explain (models.explain.select_rows) and the report's drill-down accounts.

    The drill-down (highest PD, either side of each grade boundary) is picked on the whole current
    book before selection and always explained, so the report shows the same accounts in either
    population mode. Returns the selection and the drill-down rows (positions into `df`).
    """
    from models.explain import report as P
    from models.explain import treeshap as E

    book = "score" if (df["split"] == "score").any() else "test"
    frame = pd.DataFrame(
        {
            "split": df["split"].to_numpy(),
            "pd": scored["pd"].to_numpy(),
            "grade": scored["grade"].to_numpy(),
        }
    )
    if "default" in df:
        frame["default"] = df["default"].to_numpy()
    if DPD_COLUMN in df:
        frame["days_past_due"] = df[DPD_COLUMN].to_numpy()
    shown = scored.assign(split=df["split"].to_numpy())
    pick = P.select_drilldown(shown[shown["split"] == book], n_top=config.report_top_pd)
    sel = E.select_rows(
        frame,
        population=config.population,
        actionable_min_pd=config.actionable_min_pd,
        test_sample_rows=config.test_sample_rows,
        seed=config.seed,
        always=pick.index.to_numpy(dtype=np.int64),
    )
    return sel, pick


def run_explain(
    paths: ExplainPaths,
    config: ExplainConfig,
    tracking_uri: str | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """The whole stage; returns the summary document (also written to `paths.summary`)."""
    import matplotlib

    matplotlib.use("Agg")
    from models.explain import reasons as R
    from models.explain import treeshap as E

    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 3)
        return now

    dictionary = R.load_reason_dictionary(config.reasons)
    df, catalogue, scored = read_inputs(paths)
    R.validate_dictionary(dictionary, catalogue)
    t = lap("read_inputs", t0)

    sel, pick = choose_rows(df, scored, config)
    pos = sel.positions
    candidates = {k: int(v) for k, v in df["split"].value_counts().items()}
    df = df.iloc[pos].reset_index(drop=True)
    scored = scored.iloc[pos].reset_index(drop=True)
    new_pos = pd.Series(np.arange(len(pos)), index=pos)
    pick = pick.set_axis(new_pos.loc[pick.index.to_numpy()].to_numpy())
    t = lap("select_rows", t)

    feat_src = str(paths.features_dir / "features.parquet")
    X = to_model_frame(df, catalogue, source=feat_src)
    booster = E.load_booster(str(paths.model_dir / "booster.txt"))
    E.check_model_columns(booster, catalogue.model_columns, str(paths.model_dir / "booster.txt"))
    rows_by_split = {k: int(v) for k, v in df["split"].value_counts().items()}
    log.info(
        "explaining %d of %d candidate rows (%s; population %s)",
        len(X),
        sum(candidates.values()),
        rows_by_split,
        config.population,
    )
    t = lap("model_frame", t)

    result = E.shap_values(booster, X, batch_rows=config.batch_rows, progress=progress)
    t = lap("treeshap", t)
    shap_seconds = timings["treeshap"]
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
    t = lap("checks", t)

    reasons = R.reason_codes(result.values, X, catalogue, dictionary, top_k=config.top_k)
    ids = (
        df[["account_id", "observation_date"]]
        .iloc[reasons["row"].to_numpy()]
        .reset_index(drop=True)
    )
    reasons_out = pd.concat([ids, reasons.drop(columns="row")], axis=1)
    t = lap("reason_codes", t)

    # global views on the representative test sample (the current book's explained rows are the
    # actionable tail, not the book); reason distribution over the accounts actually owed reasons
    split = df["split"].to_numpy()
    book = "score" if (split == "score").any() else "test"
    glob = np.flatnonzero(split == "test") if (split == "test").any() else np.arange(len(df))
    glob_values = result.values[glob]
    importance = E.global_importance(glob_values, result.feature_names)
    by_grade = E.shap_by_grade(
        glob_values, result.feature_names, scored["grade"].iloc[glob].reset_index(drop=True)
    )
    distribution = R.reason_distribution(
        reasons[reasons["row"].isin(np.flatnonzero(split == book))], rank=1
    )
    shap_out = pd.concat([df[ID_COLUMNS], result.frame(index=df.index)], axis=1)
    t = lap("global_views", t)

    with atomic_dir(paths.out_dir) as tmp:
        write_parquet(shap_out, tmp / "shap_values.parquet")
        write_parquet(reasons_out, tmp / "reasons.parquet")
        write_parquet(importance, tmp / "importance.parquet")
        write_parquet(by_grade, tmp / "shap_by_grade.parquet")
        write_parquet(distribution, tmp / "reason_distribution.parquet")
    t = lap("write_tables", t)

    top = importance["feature"].head(config.dependence_features).tolist()
    summary: dict[str, Any] = {
        "rows": int(len(X)),
        "rows_by_split": rows_by_split,
        "candidate_rows_by_split": candidates,
        "population": sel.counts,
        "explained_by_reason": {k: int(v) for k, v in pd.Series(sel.why).value_counts().items()},
        "global_views_rows": int(len(glob)),
        "global_views_split": "test" if (split == "test").any() else book,
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
        glob,
        importance,
        by_grade,
        distribution,
        reasons,
        summary,
        booster,
        pick,
    )
    t = lap("report", t)
    summary["mlflow"] = log_to_mlflow(paths, summary, config, tracking_uri)
    lap("mlflow", t)
    summary["timings_s"] = timings
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["stage_rows_per_s"] = round(len(X) / summary["seconds"], 1)
    write_json(summary, paths.summary)
    log.info("explain done in %.1f s; top features %s", summary["seconds"], top)
    return summary


def write_report(
    paths: ExplainPaths,
    config: ExplainConfig,
    X: pd.DataFrame,
    df: pd.DataFrame,
    scored: pd.DataFrame,
    result: Any,
    glob: np.ndarray,
    importance: pd.DataFrame,
    by_grade: pd.DataFrame,
    distribution: pd.DataFrame,
    reasons: pd.DataFrame,
    summary: dict[str, Any],
    booster: Any,
    pick: pd.DataFrame,
) -> None:
    """PNGs and report.html into the report directory (swapped in atomically).

    Global plots use the rows in `glob` (the test sample); `pick` holds the drill-down accounts
    (index = positions into `df`, chosen on the whole book by `choose_rows`).
    """
    from models.explain import report as P

    values = result.values
    gv, gX = values[glob], X.iloc[glob]
    top = importance["feature"].head(config.dependence_features).tolist()
    with atomic_dir(paths.report_dir) as tmp:
        images = {
            "importance": P.save_png(P.plot_importance(importance), tmp / "importance.png"),
            "beeswarm": P.save_png(
                P.plot_beeswarm(
                    gv, gX, result.base_value, max_rows=config.plot_rows, seed=config.seed
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
                P.plot_dependence(gv, gX, f, max_rows=config.plot_rows, seed=config.seed),
                tmp / f"dependence_{f}.png",
            )
            for f in top
        }
        importance.to_csv(tmp / "importance.csv", index=False)

        accounts = []
        by_row = {int(r): g for r, g in reasons[reasons["row"].isin(pick.index)].groupby("row")}
        for pos, row in pick.iterrows():
            pos = int(pos)
            facts = {
                "case": row["case"],
                "account_id": row["account_id"],  # int on the built-in book, text for a table
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
        pop = summary["population"]
        model_summary = {
            "model": str(paths.model_dir / "booster.txt"),
            "trees": booster.num_trees(),
            "features": X.shape[1],
            "best_iteration": meta.get("best_iteration", "n/a"),
            "training_window": meta.get("training_window", "n/a"),
            "explained rows": f"{len(X):,} of {sum(summary['candidate_rows_by_split'].values()):,}"
            f" ({summary['rows_by_split']})",
            "population": "; ".join(
                f"{k}: {v['explained']:,} of {v['rows']:,} ({v['rule']})"
                for k, v in pop.items()
                if isinstance(v, dict)
            )
            + f" [mode {pop['mode']}]",
            "global views computed on": f"{summary['global_views_rows']:,} rows of the "
            f"{summary['global_views_split']} split",
            "reason distribution over": "explained accounts of the current book"
            if summary["global_views_split"] == "test" and "score" in summary["rows_by_split"]
            else "explained accounts",
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


SMALL_TABLES = ("reasons", "importance", "shap_by_grade", "reason_distribution")


def log_to_mlflow(
    paths: ExplainPaths,
    summary: dict[str, Any],
    config: ExplainConfig,
    tracking_uri: str | None,
) -> dict[str, Any]:
    """Attach the report, PNGs and tables to the train stage's MLflow run, when there is one.

    Goes through MlflowClient (no start_run/end_run: the train run's status is left alone).
    shap_values.parquet (rows x features float32) is attached only up to
    `mlflow_max_shap_mb`; above that a tag says where it lives (the DVC-tracked out).
    Returns what was logged, for the summary.
    """
    run_id = run_id_for(paths)
    if run_id is None:
        log.info(
            "no MLflow run id in %s: skipping MLflow logging", paths.model_dir / "model_meta.json"
        )
        return {"logged": False, "why": "no train run id"}
    if tracking_uri is None:
        log.info("MLflow logging disabled: skipping")
        return {"logged": False, "why": "disabled"}
    shap_path = paths.out_dir / "shap_values.parquet"
    shap_mb = shap_path.stat().st_size / 2**20 if shap_path.exists() else 0.0
    with_shap = shap_path.exists() and shap_mb <= config.mlflow_max_shap_mb
    note = (
        "logged"
        if with_shap
        else f"not logged: {shap_mb:.1f} MB > explain.mlflow_max_shap_mb "
        f"{config.mlflow_max_shap_mb:g} MB; see {shap_path} (DVC out)"
    )

    import mlflow
    from mlflow.entities import Metric, RunTag
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    now = int(time.time() * 1000)
    metrics = {
        "explain_check_max_abs_diff": float(summary["check_max_abs_diff"]),
        "explain_additivity_max_abs_err": float(summary["additivity_max_abs_err"]),
        "explain_rows": float(summary["rows"]),
    }
    try:
        client.log_artifacts(run_id, str(paths.report_dir), artifact_path="explain/report")
        for name in SMALL_TABLES:
            p = paths.out_dir / f"{name}.parquet"
            if p.exists():
                client.log_artifact(run_id, str(p), artifact_path="explain/tables")
        if with_shap:
            client.log_artifact(run_id, str(shap_path), artifact_path="explain/tables")
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
            tags=[
                RunTag("explain.top_features", ",".join(summary["top_features"])),
                RunTag("explain.population", str(summary["population"]["mode"])),
                RunTag("explain.shap_values", note),
            ],
        )
    except MlflowException as exc:
        log.warning(
            "MLflow run %s not usable at %s (%s): skipping MLflow logging",
            run_id,
            tracking_uri,
            exc,
        )
        return {"logged": False, "why": f"run not usable: {exc}"[:200]}
    log.info(
        "logged explanations to MLflow run %s at %s (shap values %s)", run_id, tracking_uri, note
    )
    return {"logged": True, "run_id": run_id, "shap_values": note}


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
        tracking_uri = resolve_tracking_uri(ml.get("tracking_uri"), REPO_ROOT)
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

"""DVC stage `explain`: SHAP values, reason codes, global plots and the reviewer report.

Explains a stratified sample of the out-of-time test split and the current book's actionable
accounts (models.explain.selection); a table-mode run without a current book explains the test
split. Reads params `explain`, `tiers.policy` and `seed`. MLflow is the register stage's job: it
attaches this stage's report and tables to the model's run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.errors import PipelineError
from features.io import atomic_dir, read_json, write_json, write_parquet
from models.explain.html import render_report
from models.explain.inputs import read_inputs
from models.explain.run import ExplainConfig, explain_book
from pipelines.common import base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.explain import read_explain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplainPaths:
    model_dir: Path
    features_dir: Path
    scores: Path
    metrics: Path | None  # train metrics shown in the report (None: not shown)
    out_dir: Path
    report_dir: Path
    summary: Path
    headline: Path


def run_explain(
    paths: ExplainPaths, config: ExplainConfig, progress: bool | None = None
) -> dict[str, Any]:
    """Read, explain, write tables, report, summary and headline; returns the summary."""
    import matplotlib

    matplotlib.use("Agg")  # files only, whatever the environment's display
    start = time.perf_counter()
    inputs = read_inputs(paths.features_dir, paths.scores, paths.model_dir, config.reasons)
    read_s = time.perf_counter() - start
    result = explain_book(inputs, config, progress=progress)
    timings = {"read_inputs": round(read_s, 3), **result.timings}

    lap = time.perf_counter()
    with atomic_dir(paths.out_dir) as tmp:
        for name, table in result.tables.items():
            write_parquet(table, tmp / name)
    timings["write_tables"] = round(time.perf_counter() - lap, 3)

    lap = time.perf_counter()
    metrics = read_json(paths.metrics) if paths.metrics and paths.metrics.exists() else None
    meta_path = paths.model_dir / "model_meta.json"
    files = render_report(
        result,
        config,
        metrics=metrics,
        model_meta=read_json(meta_path) if meta_path.exists() else {},
        model_path=inputs.model_source,
    )
    with atomic_dir(paths.report_dir) as tmp:
        for name, content in files.items():
            (tmp / name).write_bytes(content)
    timings["report"] = round(time.perf_counter() - lap, 3)
    timings["total"] = round(time.perf_counter() - start, 3)

    rows = result.summary["rows"]
    log.info("explain timings (s): %s; %.1f rows/s", json.dumps(timings), rows / timings["total"])
    summary = result.summary
    write_json(summary, paths.summary)
    write_json(result.headline, paths.headline)
    log.info("explained %d rows; top features %s", rows, summary["top_features"])
    return summary


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    config = read_explain(params)
    if args.reasons:
        config = dataclasses.replace(config, reasons=Path(args.reasons))
    paths = ExplainPaths(
        model_dir=Path(args.model_dir),
        features_dir=Path(args.features_dir),
        scores=Path(args.scores),
        metrics=Path(args.metrics) if args.metrics else None,
        out_dir=Path(args.out_dir),
        report_dir=Path(args.report_dir),
        summary=Path(args.summary),
        headline=Path(args.headline),
    )
    try:
        run_explain(paths, config, progress=None if os.isatty(2) else False)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"explain stage failed: {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    p = base_parser("Explain the PD model: SHAP values, reason codes and the reviewer report.")
    p.add_argument("--model-dir", default="data/model")
    p.add_argument("--features-dir", default="data/features")
    p.add_argument("--scores", default="data/scores/scores.parquet")
    p.add_argument("--metrics", default="reports/metrics.json", help="train metrics (optional)")
    p.add_argument("--out-dir", default="data/explanations")
    p.add_argument("--report-dir", default="reports/explain")
    p.add_argument("--summary", default="reports/explain.json", help="detailed report (JSON)")
    p.add_argument(
        "--headline", default="reports/headline/explain.json", help="headline metrics (JSON)"
    )
    p.add_argument("--reasons", default=None, help="override params explain.reasons")
    return p


if __name__ == "__main__":
    run_stage(main, build_parser())

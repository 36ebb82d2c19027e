"""DVC stage `explain`: SHAP values, reason codes, global plots and the reviewer report.

Explains a stratified sample of the out-of-time test split and the current book's actionable
accounts (models.explain.selection); a table-mode run without a current book explains the test
split. Reads params `explain`, `tiers.policy` and `seed`. The work is
`models.explain.from_files.explain_files`; this module parses, calls and writes. MLflow is the register
stage's job: it attaches this stage's report and tables to the model's run.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.io import atomic_dir, write_json, write_parquet
from models.explain.explainer import ExplainConfig
from models.explain.from_files import ExplainSources, explain_files
from pipelines.common import add_output, base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.explain import read_explain


@dataclass(frozen=True)
class ExplainPaths:
    sources: ExplainSources
    out_dir: Path
    report_dir: Path
    summary: Path
    headline: Path


def run_explain(
    paths: ExplainPaths, config: ExplainConfig, progress: bool | None = None
) -> dict[str, Any]:
    """Explain, then write tables, report, summary and headline; returns the summary."""
    explained = explain_files(paths.sources, config, progress=progress)
    result = explained.result
    with atomic_dir(paths.out_dir) as tmp:
        for name, table in result.tables.items():
            write_parquet(table, tmp / name)
    with atomic_dir(paths.report_dir) as tmp:
        for name, content in explained.report_files.items():
            (tmp / name).write_bytes(content)
    write_json(result.summary, paths.summary)
    write_json(result.headline, paths.headline)
    return result.summary


def main(args: argparse.Namespace) -> None:
    config = read_explain(load_params(args.params))
    paths = ExplainPaths(
        sources=ExplainSources(
            model_dir=Path(args.model_dir),
            features_dir=Path(args.features_dir),
            scores=Path(args.scores),
            metrics=Path(args.metrics) if args.metrics else None,
            data_quality=Path(args.data_quality) if args.data_quality else None,
        ),
        out_dir=Path(args.out_dir),
        report_dir=Path(args.report_dir),
        summary=Path(args.summary),
        headline=Path(args.headline),
    )
    run_explain(paths, config, progress=None if os.isatty(2) else False)


def build_parser() -> argparse.ArgumentParser:
    p = base_parser("Explain the PD model: SHAP values, reason codes and the reviewer report.")
    p.add_argument("--model-dir", default="data/model")
    p.add_argument("--features-dir", default="data/features")
    p.add_argument("--scores", default="data/scores/scores.parquet")
    p.add_argument(
        "--data-quality",
        default="reports/data_quality.json",
        help="the features stage's report: its leak suspects get a section ('': not shown)",
    )
    p.add_argument(
        "--metrics", default="reports/metrics.json", help="train metrics ('': not shown)"
    )
    add_output(p, "--out-dir", default="data/explanations")
    add_output(p, "--report-dir", default="reports/explain")
    add_output(p, "--summary", default="reports/explain.json", help="detailed report (JSON)")
    add_output(
        p, "--headline", default="reports/headline/explain.json", help="headline metrics (JSON)"
    )
    return p


if __name__ == "__main__":
    run_stage(main, build_parser())

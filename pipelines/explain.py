"""DVC stage `explain`: SHAP values, reason codes, global plots and the reviewer report.

Explains a stratified sample of the out-of-time test split and the current book's actionable
accounts (models.explain.selection: those the collection policy `tiers.policy` contacts); a
table-mode run without a current book explains the test split. The work is
`models.explain.from_files.run_explain`; this module calls it and writes what it returns. MLflow
is the register stage's job: it attaches this stage's report and tables to the model's run.
"""

from __future__ import annotations

import os
from typing import Any

from core.io import write_json, write_parquet
from models.explain.explainer import ExplainConfig
from models.explain.from_files import ExplainSources, run_explain
from pipelines.params import Params
from pipelines.params.explain import read_explain, read_explain_policy
from pipelines.stage import Input, Stage, StagePaths

STAGE = Stage(
    "explain",
    "Explain the PD model: SHAP values, reason codes and the reviewer report.",
    inputs=(
        "model_dir",
        "features_dir",
        "scores",
        Input("metrics", optional=True, help="train metrics shown in the report ('' = not shown)"),
        Input(
            "data_quality",
            optional=True,
            help="the features stage's report: its leak suspects get a section ('' = not shown)",
        ),
    ),
    outputs=("explanations_dir", "report_dir", "summary", "headline"),
)


def run(
    paths: StagePaths,
    config: ExplainConfig,
    policy: os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Explain, then write tables, report, summary and headline together; returns the summary."""
    sources = ExplainSources(
        model_dir=paths.model_dir,
        features_dir=paths.features_dir,
        scores=paths.scores,
        metrics=paths.metrics,
        data_quality=paths.data_quality,
        policy=policy,
    )
    explained = run_explain(sources, config, progress=progress)
    result = explained.result
    with STAGE.writing(paths) as out:
        tables = out.dir("explanations_dir")
        for name, table in result.tables.items():
            write_parquet(table, tables / name)
        report = out.dir("report_dir")
        for name, content in explained.report_files.items():
            (report / name).write_bytes(content)
        write_json(result.summary, out.file("summary"))
        write_json(result.headline, out.file("headline"))
    return result.summary


def main(paths: StagePaths, params: Params) -> None:
    config = read_explain(params)
    run(paths, config, read_explain_policy(params), progress=None if os.isatty(2) else False)


if __name__ == "__main__":
    STAGE.main(main)

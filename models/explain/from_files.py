"""Explain the book a train run left on disk: read its inputs, explain, render the report.

`run_explain` is what the explain stage calls: it reads the features, scores, model and reason
dictionary (through the contracts), the train stage's model_meta.json and (when a path is given)
reports/metrics.json, runs `explain_book` and renders the report's files. Step timings go to the
log only, never to a tracked report. The stage writes what it returns.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import PipelineError
from core.io import read_json
from models.explain.explain_report import leak_suspects_from_quality, render_report
from models.explain.explainer import ExplainConfig, ExplainResult, explain_book
from models.explain.inputs import read_inputs

log = logging.getLogger(__name__)

MODEL_META_FILE = "model_meta.json"


@dataclass(frozen=True)
class ExplainSources:
    """The train and features stages' outputs the explain stage reads."""

    model_dir: Path  # booster.txt and model_meta.json
    features_dir: Path  # features.parquet and catalogue.json
    scores: Path  # scores.parquet
    metrics: Path | None  # reports/metrics.json shown in the report; None: not shown
    #: reports/data_quality.json: its leak suspects get a section of the report; None: not read
    data_quality: Path | None = None
    #: the collection policy whose contact rules pick the actionable accounts; needed when the
    #: config does not state `actionable_min_pd` itself
    policy: Path | None = None


@dataclass(frozen=True)
class ExplainedBook:
    """One explain run: the result (tables, summary, headline) and the report's files."""

    result: ExplainResult
    report_files: dict[str, bytes]  # file name -> content, for the report directory
    timings: dict[str, float]  # seconds per step: for the log only


def run_explain(
    sources: ExplainSources, config: ExplainConfig, progress: bool | None = None
) -> ExplainedBook:
    """Read, explain and render (see module doc); a missing input names the stage to run."""
    import matplotlib

    matplotlib.use("Agg")  # files only, whatever the environment's display
    start = time.perf_counter()
    config = with_contact_line(config, sources.policy)
    inputs = read_inputs(sources.features_dir, sources.scores, sources.model_dir, config.reasons)
    metrics = None if sources.metrics is None else _read_train_json(sources.metrics)
    model_meta = _read_train_json(sources.model_dir / MODEL_META_FILE)
    timings = {"read_inputs": round(time.perf_counter() - start, 3)}
    result = explain_book(inputs, config, progress=progress)
    timings.update(result.timings)

    lap = time.perf_counter()
    suspects = None
    if sources.data_quality is not None:
        quality = _read_train_json(sources.data_quality, stage="features")
        suspects = leak_suspects_from_quality(quality.get("features", []))
    files = render_report(
        result,
        config,
        metrics=metrics,
        model_meta=model_meta,
        model_path=inputs.model_source,
        leak_suspects=suspects,
    )
    timings["report"] = round(time.perf_counter() - lap, 3)
    timings["total"] = round(time.perf_counter() - start, 3)
    rows = result.summary["rows"]
    log.info("explain timings (s): %s; %.1f rows/s", json.dumps(timings), rows / timings["total"])
    log.info("explained %d rows; top features %s", rows, result.summary["top_features"])
    return ExplainedBook(result=result, report_files=files, timings=timings)


def with_contact_line(config: ExplainConfig, policy: Path | None) -> ExplainConfig:
    """The config with `actionable_min_pd` read from the collection policy's own contact rules
    (`selection.lowest_contact_pd`) when the config leaves it open."""
    if config.actionable_min_pd is not None:
        return config
    if policy is None:
        raise PipelineError(
            "explain needs the collection policy (params tiers.policy) to know which current "
            "accounts are contacted"
        )
    from collection_policy.loader import load_policy
    from models.explain.selection import lowest_contact_pd

    return dataclasses.replace(config, actionable_min_pd=lowest_contact_pd(load_policy(policy)))


def _read_train_json(path: Path, stage: str = "train") -> Any:
    if not path.is_file():
        raise PipelineError(f"'{path}' not found; run the {stage} stage first")
    return read_json(path)

"""Reader of params.yaml `explain` (-> ExplainConfig), plus `tiers.policy`: the collection
policy whose contact line picks the actionable accounts the stage explains (the library reads
the line from the policy: `models.explain.from_files.run_explain`)."""

from __future__ import annotations

from pathlib import Path

from models.explain.explainer import ExplainConfig
from models.explain.selection import POPULATIONS
from pipelines.params import Params
from pipelines.params.shared import batch_rows, policy_path, reasons_path, top_k

EXPLAIN_KEYS: tuple[str, ...] = (
    "top_k",
    "sample_check_rows",
    "check_tolerance",
    "raw_score_tolerance",
    "batch_rows",
    "reasons",
    "dependence_features",
    "plot_rows",
    "report_top_pd",
    "population",
    "test_sample_rows",
)


def read_explain(params: Params) -> ExplainConfig:
    """The explain section, exact keys; `actionable_min_pd` is left to the library, which reads
    it from the policy (`read_explain_policy`)."""
    sec = params.section("explain", keys=EXPLAIN_KEYS)
    return ExplainConfig(
        top_k=top_k(sec),
        sample_check_rows=sec.integer("sample_check_rows", lo=0, hi=1_000_000),
        check_tolerance=sec.number("check_tolerance", lo=0, hi=1, lo_open=True, hi_open=True),
        raw_score_tolerance=sec.number(
            "raw_score_tolerance", lo=0, hi=1, lo_open=True, hi_open=True
        ),
        batch_rows=batch_rows(sec),
        reasons=reasons_path(sec),
        dependence_features=sec.integer("dependence_features", lo=0, hi=50),
        plot_rows=sec.integer("plot_rows", lo=100, hi=1_000_000),
        report_top_pd=sec.integer("report_top_pd", lo=0, hi=100),
        population=sec.choice("population", POPULATIONS),
        actionable_min_pd=None,
        test_sample_rows=sec.optional_integer("test_sample_rows", lo=100),
        seed=params.seed(),
    )


def read_explain_policy(params: Params) -> Path:
    """tiers.policy: the collection policy whose contact rules pick the actionable accounts."""
    return policy_path(params.keys("tiers", ("policy",)))

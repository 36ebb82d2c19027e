"""The served model never imports the simulated world.

The tier engine runs inside the registered MLflow model (`models/serving/pyfunc.py`), which
carries whole packages as code: whatever the engine or the serving modules import ships and runs
in production. The built-in book's generator, the response truth that simulates how past-due
accounts answer treatment, and the collection experiment (arms, reports) are for the pipeline's
own book and its measurements, never for scoring a lender's account. Read statically (`ast`, lazy
imports inside functions included), so the check costs nothing and imports nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.pipelines.imports import closure, module_file

#: What the served model runs: the engine and the serving entry points.
SERVED = (
    "collection_policy.engine",
    "models.serving.pyfunc",
    "models.serving.batch",
    "models.serving.request",
)
#: Modules of the simulated world and the experiment (a package stands for all its files).
FORBIDDEN_MODULES = (
    "features.synthetic",  # the generator of the built-in book
    "core.truth",  # the reader of the generator's truth tables
    "collection_policy.simulated",  # the response truth, simulated histories and experiments
    "collection_policy.experiment",  # arms, holdout, the arm report
)
#: Names only the simulator or the experiment define: a module defining one of them at top level
#: is part of that world wherever it lives (so a move or a merge cannot slip it back in).
FORBIDDEN_DEFINITIONS = frozenset(
    {
        "ResponseModel",
        "true_outcome_probabilities",
        "simulate_outcomes",
        "simulate_history",
        "simulated_history",
        "logging_tiers",
        "cure_effects_for",
        "assign_arms",
        "arm_report",
        "run_experiment",
        "book_experiment",
        "ExperimentConfig",
    }
)


def _forbidden_files() -> set[Path]:
    files: set[Path] = set()
    for module in FORBIDDEN_MODULES:
        path = module_file(module)
        assert path is not None, f"{module} does not exist: update FORBIDDEN_MODULES"
        files |= set(path.parent.rglob("*.py")) if path.name == "__init__.py" else {path}
    return files


def _top_level_definitions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def _relative(paths: set[Path]) -> list[str]:
    return sorted(str(p.relative_to(REPO)) for p in paths)


@pytest.mark.parametrize("module", SERVED)
def test_the_served_path_reaches_no_simulated_module(module):
    reached = closure(module)
    leaked = reached & _forbidden_files()
    assert not leaked, f"{module} reaches the simulated world: {_relative(leaked)}"


@pytest.mark.parametrize("module", SERVED)
def test_no_module_on_the_served_path_defines_the_simulator_or_the_experiment(module):
    found = {
        str(path.relative_to(REPO)): sorted(_top_level_definitions(path) & FORBIDDEN_DEFINITIONS)
        for path in closure(module)
    }
    leaked = {path: names for path, names in found.items() if names}
    assert not leaked, f"{module} reaches modules defining simulator/experiment code: {leaked}"


def test_the_check_sees_what_it_guards():
    """Not vacuous: the served path does reach the engine and its rates, and every forbidden name
    is still defined somewhere outside it (a rename must update this test)."""
    assert module_file("collection_policy.ev_rates") in closure("models.serving.pyfunc")
    assert module_file("collection_policy.engine") in closure("models.serving.pyfunc")
    defined: set[str] = set()
    for package in ("collection_policy", "features"):
        for path in (REPO / package).rglob("*.py"):
            defined |= _top_level_definitions(path)
    assert defined >= FORBIDDEN_DEFINITIONS, sorted(FORBIDDEN_DEFINITIONS - defined)

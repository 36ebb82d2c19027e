"""What a run logs: flat metrics, pinned requirements, and the code the served model carries."""

from __future__ import annotations

from pathlib import Path

from models.registry.tracking import (
    CODE_PACKAGES,
    REPO_ROOT,
    flatten_metrics,
    serving_requirements,
)


def test_flatten_metrics_and_requirements():
    flat = flatten_metrics({"test": {"auc": 0.8, "n": 10, "x": float("inf")}, "psi": 0.1, "s": "a"})
    assert flat == {"test_auc": 0.8, "test_n": 10.0, "psi": 0.1}
    assert all("==" in r for r in serving_requirements() if r.startswith(("mlflow", "lightgbm")))


def test_the_served_model_carries_every_package_it_imports():
    """`code_paths` are the repository's package folders: the registry package's own location
    must not shift the root (it moved into models/registry/)."""
    assert Path(__file__).resolve().parents[3] == REPO_ROOT
    for package in CODE_PACKAGES:
        assert (REPO_ROOT / package / "__init__.py").is_file(), package
    # the pyfunc's own imports all live in those packages
    from tests.pipelines.imports import closure

    needed = closure("models.serving.pyfunc")
    tops = {p.relative_to(REPO_ROOT).parts[0] for p in needed}
    assert tops <= set(CODE_PACKAGES)

"""The project's own import graph, read with `ast` (nothing is imported): which source files a
module needs, lazy imports inside functions included. Used by the DVC wiring and the serving
isolation tests."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from tests.helpers import REPO

PACKAGES = ("core", "features", "models", "collection_policy", "pipelines")


def module_file(module: str) -> Path | None:
    """The file of a project module (`a.b` -> a/b.py or a/b/__init__.py), None if not ours."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = REPO.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@cache
def direct_imports(path: Path) -> frozenset[str]:
    """Project modules `path` imports anywhere in its body (package __init__s of each included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # a.b.c also runs a/__init__ and a/b/__init__
                if module_file(".".join(parts[:i])) is not None:
                    found.add(".".join(parts[:i]))
    return frozenset(found)


def closure(module: str) -> set[Path]:
    """Every project source file importing `module` runs (transitively)."""
    start = module_file(module)
    assert start is not None, module
    seen: set[Path] = set()
    todo = [start]
    for part in range(1, len(module.split("."))):
        parent = module_file(".".join(module.split(".")[:part]))
        if parent is not None:
            todo.append(parent)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in direct_imports(path):
            file = module_file(name)
            if file is not None and file not in seen:
                todo.append(file)
    return seen

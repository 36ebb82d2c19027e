"""dvc.yaml and the stage modules say the same thing, once: every path a stage reads or writes is
a flag its module declares and a dep/out dvc.yaml lists; every project file a stage imports is a
dep; every output is persistent."""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path

import pytest

from models.registry.tracking import CODE_PACKAGES
from pipelines.stage import Stage, flag
from tests.helpers import REPO, dvc_stages
from tests.pipelines.imports import closure

STAGES = dvc_stages()
DATA_ROOTS = ("data/", "reports/")


def _declared(name: str) -> Stage:
    return importlib.import_module(f"pipelines.{name}").STAGE


def _entries(items: list) -> list[str]:
    return [next(iter(item)) if isinstance(item, dict) else item for item in items]


def _outs(stage: dict) -> list[str]:
    return _entries(stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", []))


def _cmd_flags(stage: dict) -> dict[str, str]:
    argv = shlex.split(stage["cmd"])
    assert argv[:3] == ["python", "-m", argv[2]]
    flags = {}
    for i in range(3, len(argv), 2):
        assert argv[i].startswith("--"), argv
        flags[argv[i]] = argv[i + 1]
    return flags


def test_the_resolver_agrees_with_dvc():
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        resolved = {stage.name: stage for stage in repo.index.stages}
    assert set(resolved) == set(STAGES)
    for name, stage in STAGES.items():
        assert resolved[name].cmd == stage["cmd"]
        assert sorted(str(o.def_path) for o in resolved[name].outs) == sorted(_outs(stage))


@pytest.mark.parametrize("name", list(STAGES))
def test_the_command_passes_exactly_the_declared_paths(name):
    stage, declared = STAGES[name], _declared(name)
    assert declared.name == name
    flags = _cmd_flags(stage)
    outputs = {flag(o) for o in declared.outputs}
    inputs = {flag(i.name) for i in declared.input_specs}
    required = {flag(i.name) for i in declared.input_specs if not i.optional}
    assert set(flags) <= inputs | outputs, "the command passes a flag the stage does not declare"
    assert outputs | required <= set(flags), "the command leaves out a declared path"
    deps, outs = set(_entries(stage["deps"])), set(_outs(stage))
    for option, path in flags.items():
        if option in outputs:
            assert path in outs, f"{name}: {option} {path} is not an out of the stage"
        else:  # an input: the file itself or a folder holding it is a dep
            assert any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps), (
                f"{name}: {option} {path} is not a dep of the stage"
            )


@pytest.mark.parametrize("name", list(STAGES))
def test_every_imported_project_file_is_a_dep_and_every_code_dep_is_imported(name):
    # an empty package __init__ runs nothing (DVC also warns on an empty dependency)
    needed = {str(p.relative_to(REPO)) for p in closure(f"pipelines.{name}") if p.read_text()}
    code_deps = [
        d for d in _entries(STAGES[name]["deps"]) if not d.startswith((*DATA_ROOTS, "configs/"))
    ]

    def covers(dep: str, file: str) -> bool:
        return file == dep or file.startswith(dep.rstrip("/") + "/")

    uncovered = sorted(f for f in needed if not any(covers(d, f) for d in code_deps))
    assert not uncovered, f"{name}: add these imported files (or their folder) to its deps"
    if name == "register":  # the served model carries whole packages as code
        assert set(CODE_PACKAGES) <= set(code_deps)
        return
    unused = [d for d in code_deps if not any(covers(d, f) for f in needed)]
    assert not unused, f"{name}: deps {unused} are not imported by the stage"


def test_every_output_is_persistent():
    for name, stage in STAGES.items():
        for out in stage.get("outs", []) + stage.get("metrics", []):
            path, flags = next(iter(out.items())) if isinstance(out, dict) else (out, {})
            assert flags.get("persist") is True, f"{name}: {path} is not persist"


def test_paths_are_stated_once_in_dvc_yaml():
    """No stage module gives a path a default: dvc.yaml's command line is the one source."""
    for name in STAGES:
        parser = _declared(name).parser()
        for action in parser._actions:
            if action.dest in ("help", "params", "verbose"):
                continue
            assert action.default is None, f"{name}: --{action.dest} has a default"
    text = (REPO / "dvc.yaml").read_text()
    for path in ("data/model", "reports/metrics.json", "data/scores/scores.parquet"):
        assert text.count(f": {path}\n") == 1 and text.count(path) == 1, path


def test_a_fresh_clone_runs_register():
    """register's `registered` record is not tracked by git, so a clone lacks it and DVC runs the
    stage: the clone's own registry then holds the champion."""
    registered = [o for o in _outs(STAGES["register"]) if "registered" in o]
    assert registered and registered[0].startswith("data/")
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "/data/*" in ignored


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_modules_have_no_entry_of_their_own(name):
    """One way to wire: each stage module's entry is `STAGE.main(main)`."""
    text = Path(REPO / "pipelines" / f"{name}.py").read_text()
    assert 'if __name__ == "__main__":\n    STAGE.main(main)\n' in text
    assert "argparse" not in text and "sys.exit" not in text

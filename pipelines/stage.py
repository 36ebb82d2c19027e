"""The one way to wire a DVC stage: declare its inputs and outputs, then read, call, write.

    STAGE = Stage("train", "Train the calibrated PD model.", inputs=("features_dir", "truth"),
                  outputs=("model_dir", "scores", "metrics", "headline"))

    def run(paths: StagePaths, config: TrainConfig) -> TrainResult:
        result = run_train(...)                        # the library does the work
        with STAGE.writing(paths) as out:              # staged aside, swapped in together
            result.model.save(out.dir("model_dir"))
            write_json(result.metrics, out.file("metrics"))
        return result

    def main(paths: StagePaths, params: Params) -> None:
        run(paths, read_train(params))

    if __name__ == "__main__":
        STAGE.main(main)

Every input and output is a required command-line flag named after it (`--features-dir`); the
paths themselves are written once, in dvc.yaml (`vars: paths`), which passes them. An optional
input (`Input("truth", optional=True)`) may be left out or given as '' (none).

`STAGE.main` parses the flags, configures logging, makes SIGTERM unwind like Ctrl-C, and, before
the stage runs, repairs what a killed run of the same stage left: a half-done swap is undone from
its journal (`core.io.recover`) and stale temp siblings of every output are removed. A
`PipelineError` prints one `error: ...` line; any other exception prints one line and the path of
a log file holding the traceback. Outputs are all or nothing (`core.io.StagedOutputs`): a failed
run leaves every last good output in place.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shutil
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import PipelineError
from core.io import StagedOutputs, recover
from pipelines.params import DEFAULT_PARAMS, Params, load_params

log = logging.getLogger(__name__)

#: tempfile's random part: 8 characters of [a-z0-9_] (`tempfile._RandomNameSequence`).
_RANDOM = r"[a-z0-9_]{8}"
#: Test hook: a fault injected in the middle of a commit (see `StagedOutputs.commit`).
FAULT_ENV = "CREDITRISK_FAULT"
#: Where the traceback of an unexpected error goes (default: data/logs under the repo root).
LOG_DIR_ENV = "CREDITRISK_LOG_DIR"
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Input:
    """A path the stage reads. Optional inputs may be omitted or given as '' (none)."""

    name: str
    optional: bool = False
    help: str = ""


@dataclass(frozen=True)
class Option:
    """A command-line option that is not a path (e.g. `--chunk-rows`)."""

    flag: str
    kwargs: dict[str, Any] = field(default_factory=dict)


class StagePaths:
    """The parsed paths and options of one run: attribute access by declared name."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only called for names never set
        raise AttributeError(f"no input, output or option named {name!r}")

    def __repr__(self) -> str:
        return f"StagePaths({self.__dict__!r})"

    def replace(self, **changes: Any) -> StagePaths:
        """A copy with some paths changed (paths are kept as Path; '' or None = none)."""
        unknown = sorted(set(changes) - set(self.__dict__))
        if unknown:
            raise AttributeError(f"no input, output or option named {unknown}")
        values = dict(self.__dict__)
        for key, value in changes.items():
            values[key] = Path(value) if isinstance(value, str) and value else value or None
        return StagePaths(values)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Stage:
    """A stage's declaration: its name, what it reads, what it writes (see the module doc)."""

    name: str
    description: str
    inputs: tuple[str | Input, ...] = ()
    outputs: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()

    @property
    def input_specs(self) -> tuple[Input, ...]:
        return tuple(i if isinstance(i, Input) else Input(i) for i in self.inputs)

    def parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog=f"python -m pipelines.{self.name}",
            description=self.description,
            allow_abbrev=False,
        )
        parser.add_argument("--params", default=DEFAULT_PARAMS, help="path to params.yaml")
        parser.add_argument("-v", "--verbose", action="store_true")
        for spec in self.input_specs:
            parser.add_argument(
                flag(spec.name),
                dest=spec.name,
                required=not spec.optional,
                default=None,
                help=spec.help or ("input (optional: '' = none)" if spec.optional else "input"),
            )
        for name in self.outputs:
            parser.add_argument(flag(name), dest=name, required=True, help="output")
        for option in self.options:
            parser.add_argument(option.flag, **option.kwargs)
        return parser

    def paths(self, **values: Any) -> StagePaths:
        """Paths for an in-process run (tests, benchmarks): every required input and every
        output by name; options by their dest."""
        known = {i.name for i in self.input_specs} | set(self.outputs)
        known |= {
            o.kwargs.get("dest") or o.flag.lstrip("-").replace("-", "_") for o in self.options
        }
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"stage {self.name!r} has no input/output/option {unknown}")
        missing = [i.name for i in self.input_specs if not i.optional and i.name not in values]
        missing += [o for o in self.outputs if o not in values]
        if missing:
            raise TypeError(f"stage {self.name!r} needs {missing}")
        resolved: dict[str, Any] = {}
        for spec in self.input_specs:
            value = values.get(spec.name)
            resolved[spec.name] = Path(value) if value not in (None, "") else None
        for name in self.outputs:
            resolved[name] = Path(values[name])
        for key in known - resolved.keys():
            resolved[key] = values.get(key)
        return StagePaths(resolved)

    def parse(self, argv: list[str] | None = None) -> tuple[StagePaths, argparse.Namespace]:
        args = self.parser().parse_args(argv)
        values = {k: v for k, v in vars(args).items() if k not in ("params", "verbose")}
        return self.paths(**values), args

    @contextlib.contextmanager
    def writing(self, paths: StagePaths) -> Iterator[StagedOutputs]:
        """Stage the outputs aside; swap them in together when the block succeeds, else discard
        them (the last good outputs stay)."""
        staged = StagedOutputs(self.name, {n: getattr(paths, n) for n in self.outputs})
        try:
            yield staged
        except BaseException:
            staged.discard()
            raise
        staged.commit(fault=os.environ.get(FAULT_ENV))

    def diagnostic(self, name: str) -> Path:
        """A file beside the stage's error log for what explains a stop (not a DVC output: the
        stage's outputs stay as they were)."""
        directory = log_dir()
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"{self.name}.{name}"

    def repair(self, paths: StagePaths) -> list[str]:
        """Undo what a killed run of this stage left (see the module doc)."""
        targets = [getattr(paths, n) for n in self.outputs]
        restored = recover(self.name, targets[0]) if targets else []
        if restored:
            log.warning(
                "a killed run of %s left a half-done swap: restored %s", self.name, restored
            )
        remove_stale_temps(targets)
        return restored

    def invoke(self, main: Callable[[StagePaths, Params], None], argv: list[str]) -> StagePaths:
        """Run the stage in this process as its command line would (tests, notebooks): parse
        `argv`, repair, run; errors propagate instead of exiting."""
        paths, args = self.parse(argv)
        self.repair(paths)
        main(paths, load_params(args.params))
        return paths

    def main(
        self, main: Callable[[StagePaths, Params], None], argv: list[str] | None = None
    ) -> None:
        """The command line: parse, repair, run `main(paths, params)`, exit cleanly."""
        paths, args = self.parse(argv)
        setup_logging(args.verbose)
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            self.repair(paths)
            main(paths, load_params(args.params))
        except PipelineError as exc:
            sys.stderr.write(f"error: {exc}\n")
            sys.exit(1)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # a bug or an environment failure: one line, traceback in a file
            where = _write_traceback(self.name)
            sys.stderr.write(
                f"error: {self.name} failed unexpectedly: {type(exc).__name__}: {one_line(exc)}"
                f" (traceback in {where}); its last good outputs are unchanged\n"
            )
            sys.exit(2)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def remove_stale_temps(outputs: Iterable[str | os.PathLike[str] | None]) -> list[Path]:
    """Remove what a killed run left beside each output; returns the paths removed or restored.

    `.<name>.<random>` folders and `.<name>.<random>.tmp` files are half-written outputs: removed.
    `.<name>.old` is a last good output moved aside just before a swap: when the output itself is
    gone (killed between the two renames) it is put back, else removed.
    """
    swept: list[Path] = []
    for out in outputs:
        if not out:
            continue
        target = Path(out)
        parent = target.parent if str(target.parent) else Path(".")
        if not parent.is_dir():
            continue
        pattern = re.compile(rf"^\.{re.escape(target.name)}\.{_RANDOM}(\.tmp)?$")
        for sibling in parent.iterdir():
            if pattern.match(sibling.name):
                _remove(sibling)
                swept.append(sibling)
        old = parent / f".{target.name}.old"
        if old.exists() or old.is_symlink():
            if not target.exists():
                os.replace(old, target)
                log.warning("restored %s from %s (a killed run left it aside)", target, old.name)
            else:
                _remove(old)
            swept.append(old)
    if swept:
        log.info("removed temp files of an interrupted run: %s", [p.name for p in swept])
    return swept


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type when the message is empty, whitespace collapsed,
    at most 300 characters."""
    text = " ".join(str(getattr(exc, "message", None) or exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def log_dir() -> Path:
    """Where stages leave error logs and diagnostics: $CREDITRISK_LOG_DIR, else data/logs."""
    return Path(os.environ.get(LOG_DIR_ENV) or REPO_ROOT / "data" / "logs")


def _write_traceback(stage: str) -> Path:
    directory = log_dir()
    path = directory / f"{stage}.log"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc())
    except OSError:  # nowhere to write: the traceback goes to stderr after all
        sys.stderr.write(traceback.format_exc())
        return Path("<stderr>")
    return path


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds the stack: staged outputs are discarded, an MLflow run ends FAILED.
    raise SystemExit(128 + signum)

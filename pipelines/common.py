"""Wiring shared by the stage entrypoints: the command line, logging, clean error exits.

Params are read by `pipelines.params`. Outputs a stage declares with `add_output` are swept of
stale temp siblings (left by a killed run of the same stage, `core.io` names them
`.<name>.<random>[.tmp]` and `.<name>.old`) before the stage runs."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from core.errors import PipelineError
from pipelines.params import DEFAULT_PARAMS

log = logging.getLogger(__name__)

#: argparse dests that are outputs, recorded per parser by `add_output`.
_OUTPUTS_ATTR = "_stage_outputs"
#: tempfile's random part: 8 characters of [a-z0-9_] (`tempfile._RandomNameSequence`).
_RANDOM = r"[a-z0-9_]{8}"


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    parser.add_argument("--params", default=DEFAULT_PARAMS, help="path to params.yaml")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def add_output(parser: argparse.ArgumentParser, flag: str, **kwargs: object) -> None:
    """`parser.add_argument` for a path the stage writes: stale temps beside it are swept."""
    action = parser.add_argument(flag, **kwargs)  # type: ignore[arg-type]
    outputs = getattr(parser, _OUTPUTS_ATTR, [])
    outputs.append(action.dest)
    setattr(parser, _OUTPUTS_ATTR, outputs)


def remove_stale_temps(outputs: Iterable[str | os.PathLike[str] | None]) -> list[Path]:
    """Remove what a killed run left beside each output; returns the paths removed or restored.

    `.<name>.<random>` folders and `.<name>.<random>.tmp` files are half-written outputs: removed.
    `.<name>.old` is the last good output moved aside by `atomic_dir` just before the swap: when
    the output itself is gone (killed between the two renames) it is put back, else removed.
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
    """An exception as one line: its type when the message is empty, whitespace collapsed."""
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    return text or type(exc).__name__


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds the stack: atomic writes remove their temps, an MLflow run ends FAILED.
    raise SystemExit(128 + signum)


def run_stage(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser) -> None:
    """Parse args, sweep stale temps of the declared outputs, configure logging and turn
    PipelineErrors into one-paragraph messages. SIGTERM unwinds like Ctrl-C (cleanup runs);
    only SIGKILL leaves temps behind, and the next run of the stage sweeps them."""
    args = parser.parse_args()
    setup_logging(args.verbose)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        remove_stale_temps(getattr(args, dest, None) for dest in getattr(parser, _OUTPUTS_ATTR, ()))
        main(args)
    except PipelineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)

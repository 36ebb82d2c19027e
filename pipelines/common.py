"""Wiring shared by the stage entrypoints: the command line, logging, clean error exits.

Params are read by `pipelines.params`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from features.errors import PipelineError
from pipelines.params import DEFAULT_PARAMS

log = logging.getLogger(__name__)


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


def run_stage(main: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser) -> None:
    """Parse args, configure logging and turn PipelineErrors into one-paragraph messages."""
    args = parser.parse_args()
    setup_logging(args.verbose)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        main(args)
    except PipelineError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)

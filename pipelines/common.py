"""Wiring shared by the stage entrypoints: params loading, logging, clean error exits."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from features.errors import ConfigError, PipelineError

log = logging.getLogger(__name__)

DEFAULT_PARAMS = "params.yaml"


def load_params(path: str | os.PathLike[str] = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read params.yaml; only entrypoints call this."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("params", f"file not found at {p}", source=str(p))
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError("params", f"is not valid YAML: {exc}", source=str(p)) from None
    if not isinstance(data, dict):
        raise ConfigError("params", "must be a mapping at the top level", source=str(p))
    return data


def section(params: dict[str, Any], key: str) -> dict[str, Any]:
    """Return params[key] as a mapping, with a clear error if absent."""
    value = params.get(key)
    if not isinstance(value, dict):
        raise ConfigError(key, "must be a mapping section", value)
    return value


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
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

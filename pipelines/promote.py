"""Approve a gated version: `champion` moves to it, with who, when and why recorded.

python -m pipelines.promote --version N --approved-by NAME --reason "..."

Used when params `mlflow.gate.mode` is `approval`: the register stage leaves a passing version
as `challenger` (tag gate_verdict=awaiting_approval) until a person runs this. Not a DVC stage:
an approval is a decision, not a computation.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from models.registry import approve_version, resolve_tracking_uri
from pipelines.common import base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.mlflow import read_mlflow

REPO_ROOT = Path(__file__).resolve().parents[1]


def main(args: argparse.Namespace) -> None:
    config = read_mlflow(load_params(args.params))
    uri = resolve_tracking_uri(config.tracking_uri, REPO_ROOT)
    approval = approve_version(uri, config.model_name, args.version, args.approved_by, args.reason)
    sys.stdout.write(json.dumps(asdict(approval), indent=2) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("Approve a model version that passed the gate: it becomes champion.")
    parser.add_argument("--version", required=True, help="registered model version to approve")
    parser.add_argument("--approved-by", required=True, help="who approves (name or id)")
    parser.add_argument("--reason", required=True, help="why (recorded as a version tag)")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())

"""Approve a gated version: `champion` moves to it, with who, when and why recorded.

python -m pipelines.promote --version N --approved-by NAME --reason "..."

Used when params `mlflow.gate.mode` is `approval`: the register stage leaves a passing version
as `challenger` (tag gate_verdict=awaiting_approval) until a person runs this. Not a DVC stage:
an approval is a decision, not a computation.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from models.registry.approval import approve_version
from models.registry.provenance import resolve_tracking_uri
from pipelines.params import Params
from pipelines.params.mlflow import read_mlflow
from pipelines.stage import REPO_ROOT, Option, Stage, StagePaths

STAGE = Stage(
    "promote",
    "Approve a model version that passed the gate: it becomes champion.",
    options=(
        Option("--version", {"required": True, "help": "registered model version to approve"}),
        Option("--approved-by", {"required": True, "help": "who approves (name or id)"}),
        Option("--reason", {"required": True, "help": "why (recorded as a version tag)"}),
    ),
)


def main(paths: StagePaths, params: Params) -> None:
    config = read_mlflow(params)
    uri = resolve_tracking_uri(config.tracking_uri, REPO_ROOT)
    approval = approve_version(
        uri, config.model_name, paths.version, paths.approved_by, paths.reason
    )
    sys.stdout.write(json.dumps(asdict(approval), indent=2) + "\n")


if __name__ == "__main__":
    STAGE.main(main)

"""DVC stage `check_policy`: validate the collection policy before anything trains.

    python -m pipelines.check_policy --out reports/policy_check.json

Reads params `tiers` (a typo there, or at the top level, fails here) and fully validates the
policy file it names (`collection_policy.load_policy`: schema, rule space, monotone tiers). The
output is constant (`{"valid": true}`): `train` depends on it, so an invalid policy stops
`dvc repro` before training, while a valid policy edit reruns this stage without making `train`
stale (its output hash does not change). Register and tiers still read the policy itself.
"""

from __future__ import annotations

import argparse
import logging

from collection_policy.loader import load_policy
from core.io import read_json, write_json
from pipelines.common import add_output, base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.tiers import read_tiers

log = logging.getLogger(__name__)

#: The whole output: no version, fingerprint or time, so a valid edit leaves its hash alone.
VALID = {"valid": True}


def main(args: argparse.Namespace) -> None:
    config = read_tiers(load_params(args.params))
    policy = load_policy(config.policy)
    log.info("policy %s %s (%s) is valid", policy.name, policy.version, policy.fingerprint())
    try:
        unchanged = read_json(args.out) == VALID
    except (OSError, ValueError):
        unchanged = False
    if not unchanged:  # leave the file (and its mtime) alone when it already says so
        write_json(VALID, args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser("Validate the collection policy (params tiers.policy) before training.")
    add_output(parser, "--out", default="reports/policy_check.json")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())

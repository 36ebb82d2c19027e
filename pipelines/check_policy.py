"""DVC stage `check_policy`: validate the collection policy before anything trains.

Reads params `tiers` (a typo there, or at the top level, fails here) and fully validates the
policy file it names (`collection_policy.load_policy`: schema, rule space, monotone tiers). The
output is constant (`{"valid": true}`): `train` depends on it, so an invalid policy stops
`dvc repro` before training, while a valid policy edit reruns this stage without making `train`
stale (its output hash does not change). Register and tiers still read the policy itself.
"""

from __future__ import annotations

import logging

from collection_policy.loader import load_policy
from core.io import read_json, write_json
from pipelines.params import Params
from pipelines.params.tiers import read_tiers
from pipelines.stage import Stage, StagePaths

log = logging.getLogger(__name__)

#: The whole output: no version, fingerprint or time, so a valid edit leaves its hash alone.
VALID = {"valid": True}

STAGE = Stage(
    "check_policy",
    "Validate the collection policy (params tiers.policy) before training.",
    outputs=("out",),
)


def main(paths: StagePaths, params: Params) -> None:
    policy = load_policy(read_tiers(params).policy)
    log.info("policy %s %s (%s) is valid", policy.name, policy.version, policy.fingerprint())
    try:
        unchanged = read_json(paths.out) == VALID
    except (OSError, ValueError):
        unchanged = False
    if not unchanged:  # leave the file (and its mtime) alone when it already says so
        with STAGE.writing(paths) as out:
            write_json(VALID, out.file("out"))


if __name__ == "__main__":
    STAGE.main(main)

"""DVC stage `collection_rates`: learn the expected-value mode's cure rates from an outcome history.

The history is the lender's collection outcome log (params `tiers.history_file`); on the built-in
book, without one, a history simulated on the back-test split's past-due account-months from the
generator's truth; with neither, the file says so and the policy's assumed rates stand. The
register stage bundles the file into the served model and the tiers stage reads it, so both tier
with the same rates. The work is `collection_policy.tiering.run_collection_rates`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from collection_policy.ev_rates import ev_rates_json
from collection_policy.loader import load_policy
from collection_policy.population import read_tier_inputs
from collection_policy.tiering import run_collection_rates
from core.io import read_user_table, write_json
from core.truth import read_truth
from pipelines.params import Params
from pipelines.params.tiers import read_experiment, read_tiers
from pipelines.stage import Input, Stage, StagePaths

log = logging.getLogger(__name__)

#: The folder dvc.yaml lists as this stage's dependency: an outcome log kept there is tracked.
TRACKED_DIR = Path("data/external")

STAGE = Stage(
    "collection_rates",
    __doc__.splitlines()[0],
    inputs=(
        "scores",
        "features",
        Input("truth_dir", optional=True, help="the built-in book's truth ('' = none)"),
    ),
    outputs=("ev_rates",),
)


def main(paths: StagePaths, params: Params) -> None:
    config, experiment = read_tiers(params), read_experiment(params)
    policy = load_policy(config.policy)
    history, scores, features = None, None, None
    if config.history_file is not None:
        if not config.history_file.resolve().is_relative_to(TRACKED_DIR.resolve()):
            log.warning(
                "tiers.history_file %s is outside %s/: DVC does not see it change, so a new log "
                "needs `dvc repro --force collection_rates`",
                config.history_file,
                TRACKED_DIR,
            )
        history = read_user_table(config.history_file)
    truth = read_truth(paths.truth_dir, parts=("effects", "macro"))
    if history is None and truth.effects is not None:
        scores, features = read_tier_inputs(paths.scores, paths.features, config.backtest_split)
    learned = run_collection_rates(
        policy,
        experiment,
        history,
        str(config.history_file),
        scores,
        features,
        truth,
        config.backtest_split,
        str(paths.features),
    )
    if learned.rates is None:
        log.info("no outcome history: the expected-value mode keeps the policy's assumed rates")
    else:
        log.info(
            "learned expected-value rates from %d past-due rows (%s)",
            learned.rates.rows,
            learned.source,
        )
    with STAGE.writing(paths) as out:
        write_json(ev_rates_json(learned.rates), out.file("ev_rates"))


if __name__ == "__main__":
    STAGE.main(main)

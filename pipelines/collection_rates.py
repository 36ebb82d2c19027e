"""DVC stage `collection_rates`: learn the expected-value mode's cure rates from an outcome history.

    python -m pipelines.collection_rates --scores data/scores/scores.parquet \
        --features data/features/features.parquet --truth-dir data/truth \
        --out data/collection/ev_rates.json

The history is the lender's collection outcome log (params `tiers.history_file`); on the built-in
book, without one, a history simulated on the back-test split's past-due account-months from the
generator's truth; with neither, the file says so and the policy's assumed rates stand. The
register stage bundles the file into the served model and the tiers stage reads it, so both tier
with the same rates. The work is `collection_policy.ev_rates`; this module reads, calls, writes.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from collection_policy.ev_rates import EVRates, ev_rates_json, learn_ev_rates
from collection_policy.loader import load_policy
from collection_policy.population import read_tier_inputs
from collection_policy.tiering import simulated_history
from core.errors import DataValidationError
from core.io import write_json
from pipelines.common import add_output, base_parser, run_stage
from pipelines.params import load_params
from pipelines.params.tiers import read_experiment, read_tiers
from pipelines.truth import read_truth

log = logging.getLogger(__name__)

#: The folder dvc.yaml lists as this stage's dependency: an outcome log kept there is tracked.
TRACKED_DIR = Path("data/external")


def read_history(path: Path) -> pd.DataFrame:
    """A lender's outcome log (Parquet or CSV) with the `ev_rates.HISTORY_COLUMNS`."""
    if not path.is_file():
        raise DataValidationError(str(path), "file not found")
    return pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)


def main(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    config, experiment = read_tiers(params), read_experiment(params)
    policy = load_policy(config.policy)
    rates: EVRates | None = None
    if config.history_file is not None:
        if not config.history_file.resolve().is_relative_to(TRACKED_DIR.resolve()):
            log.warning(
                "tiers.history_file %s is outside %s/: DVC does not see it change, so a new log "
                "needs `dvc repro --force collection_rates`",
                config.history_file,
                TRACKED_DIR,
            )
        source = f"outcome history {config.history_file}"
        history = read_history(config.history_file)
        rates = learn_ev_rates(history, policy.n_tiers, experiment.holdout_tier, source=source)
    else:
        effects, macro = read_truth(Path(args.truth_dir) if args.truth_dir else None)
        if effects is not None:
            scores, features = read_tier_inputs(args.scores, args.features, config.backtest_split)
            simulated = simulated_history(
                scores,
                features,
                policy,
                config.backtest_split,
                effects,
                macro,
                experiment.holdout_tier,
                experiment.seed,
                str(args.features),
            )
            if simulated is not None:
                history, true_uplift = simulated
                source = (
                    f"simulated history: the {config.backtest_split} split's past-due "
                    "account-months, tiers drawn between the minimum treatment and the rules' "
                    "tier, outcomes from the generator's truth"
                )
                rates = learn_ev_rates(
                    history, policy.n_tiers, experiment.holdout_tier, source=source
                ).with_truth(true_uplift)
    if rates is None:
        log.info("no outcome history: the expected-value mode keeps the policy's assumed rates")
    else:
        log.info("learned expected-value rates from %d past-due rows (%s)", rates.rows, source)
    write_json(ev_rates_json(rates), args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--scores", default="data/scores/scores.parquet")
    parser.add_argument("--features", default="data/features/features.parquet")
    parser.add_argument("--truth-dir", default="data/truth", help="'' = none")
    add_output(parser, "--out", default="data/collection/ev_rates.json")
    return parser


if __name__ == "__main__":
    run_stage(main, build_parser())

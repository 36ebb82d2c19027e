"""One month of the collection experiment on the built-in book, its outcomes drawn from the truth.

`run_experiment` assigns the arms (`collection_policy.experiment`), evaluates the true outcome
probabilities of each arm's strategy (`simulated.response`), draws each account's outcome under
the strategy it was treated by and reports the arms beside the true uplift. A lender's book has
no truth: its outcomes are measured on the next statements and go to `experiment.arm_report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from collection_policy.experiment import (
    ExperimentConfig,
    experiment_arms,
    experiment_report,
    treatment_tiers,
)
from collection_policy.simulated.response import (
    ResponseModel,
    simulate_outcomes,
    true_outcome_probabilities,
)


@dataclass(frozen=True, eq=False)
class Experiment:
    """Everything one experiment month produced."""

    arms: np.ndarray  # arm per account
    tiers: np.ndarray  # the tier each account was treated at
    truth: dict[str, pd.DataFrame]  # true_outcome_probabilities per strategy, all accounts
    outcomes: pd.DataFrame  # simulate_outcomes of the applied tiers
    report: dict[str, Any]  # arm_report (with truth)


def run_experiment(
    accounts: pd.DataFrame,
    champion: ArrayLike,
    challenger: ArrayLike,
    response: ResponseModel,
    config: ExperimentConfig,
    slow_cure: ArrayLike | None = None,
    macro: float = 0.0,
) -> Experiment:
    """Assign arms by `accounts["account_id"]`, treat each account at its arm's tier (holdout:
    `holdout_tiers` of the champion), draw one month of outcomes from the truth and report."""
    arms, strategies = experiment_arms(accounts, champion, challenger, config, "accounts")
    truth = {
        k: true_outcome_probabilities(accounts, t, response, slow_cure, macro, f"{k} tiers")
        for k, t in strategies.items()
    }
    tiers = treatment_tiers(arms, **strategies)
    applied = truth["champion"].copy()
    for k in ("challenger", "holdout"):  # the truth of the strategy each account was treated by
        rows = arms == k
        for col in applied.columns:
            applied[col] = np.where(rows, truth[k][col].to_numpy(), applied[col].to_numpy())
    outcomes = simulate_outcomes(applied, _derived_seed(config.seed))
    report = experiment_report(outcomes, arms, config, truth)
    return Experiment(arms, tiers, truth, outcomes, report)


def _derived_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, 0x0C0]).generate_state(1)[0])

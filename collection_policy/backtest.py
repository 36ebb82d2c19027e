"""The back-test: tier a labelled split under the same policy and read the observed bad rate.

A tier order is only credible if accounts in higher tiers really default more often. The current
book has no outcomes yet, so the stage also tiers a labelled split (params `tiers.backtest_split`)
and reports the bad rate per tier; it never changes any account's tier.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from collection_policy.ev_rates import EVRates
from collection_policy.policy import CollectionPolicy
from collection_policy.population import join_policy_inputs, tier_population
from collection_policy.tiers_plot import summarise_tiers

log = logging.getLogger(__name__)


def backtest(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    policy: CollectionPolicy,
    mode: str,
    split: str,
    origin: str,
    source: str,
    ev_rates: EVRates | None = None,
) -> dict[str, Any] | None:
    """Tier summary of the labelled rows of `split`; None when that split is the population
    itself (`origin`) or holds no labelled rows. `source` names the feature table in errors."""
    labelled = scores[(scores["split"] == split) & scores["default"].notna()]
    if origin == split or labelled.empty:
        return None
    population = join_policy_inputs(labelled, features[features["split"] == split], source)
    accounts, result = tier_population(population, policy, mode, f"{split} back-test", ev_rates)
    summary = summarise_tiers(accounts, result, policy, population["default"])
    log.info(
        "back-test on %s (%d labelled): bad rate rises with rules tier: %s, with EV tier: %s",
        split,
        summary.get("labelled", 0),
        summary.get("bad_rate_rises_with_rules_tier"),
        summary.get("bad_rate_rises_with_ev_tier"),
    )
    return {"split": split, **summary}

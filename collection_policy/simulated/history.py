"""A simulated collection log for the built-in book: the stand-in for a lender's outcome history.

`simulated_history` takes the past-due account-months of an earlier (out-of-time) split, treats
each at a tier drawn between the minimum treatment and the rules' tier (`logging_tiers`: every
tier the rules reach gets randomised contrasts) and draws one month of outcomes from the
generator's truth (`simulated.response`). `collection_policy.rate_learning` learns the
expected-value rates from it, and the true uplift it returns beside them is the answer those
rates are checked against.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from collection_policy.ev_rates import segment_of
from collection_policy.policy import CollectionPolicy
from collection_policy.population import KEYS, join_policy_inputs, tier_population
from collection_policy.rate_learning import STRATUM
from collection_policy.simulated.response import (
    ResponseModel,
    cure_effects_for,
    simulate_outcomes,
    true_outcome_probabilities,
)
from core.contracts import POLICY_PREFIX
from core.dpd import COLLECTION_EDGES, collection_bucket
from core.errors import DataValidationError


def logging_tiers(rule_tiers: ArrayLike, minimum_tier: int, seed: int) -> np.ndarray:
    """The simulated history's logging policy: a tier drawn uniformly between the minimum
    treatment and the rules' tier (both already allowed by every guardrail, and so is each tier
    between: guardrails are caps), so every tier the rules reach has randomised contrasts."""
    rule = np.asarray(rule_tiers, dtype=np.int64)
    low = np.minimum(rule, int(minimum_tier))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x4157]))
    return low + np.floor(rng.random(len(rule)) * (rule - low + 1)).astype(np.int64)


def simulate_history(
    accounts: pd.DataFrame,
    rule_tiers: ArrayLike,
    slow_cure: ArrayLike,
    macro: ArrayLike,
    response: ResponseModel,
    minimum_tier: int,
    seed: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """A collection log for the built-in book: past-due account-months of earlier months treated
    at `logging_tiers` and one month of outcomes drawn from the generator's truth.

    `accounts` holds days_past_due, overdue_amount and pd (the score the lender held then) per
    row; `slow_cure` and `macro` (the month after each row's date) are truth. Returns (history
    with the `HISTORY_COLUMNS` and the stratum = the rules' tier for the past-due rows, the true
    uplift per past-due bucket and tier: in each cell (segment x stratum) of the rows treated at
    t, (mean cure_p(t) - mean cure_p(base)) / (1 - mean cure_p(base)), averaged over the bucket's
    cells with those rows' counts: the quantity `learn_ev_rates` estimates before its isotonic
    fit).
    """
    dpd = np.asarray(accounts["days_past_due"], dtype=float)
    keep = dpd > 0
    acc = accounts.loc[keep].reset_index(drop=True)
    slow = np.asarray(slow_cure, dtype=float)[keep]
    mac = np.asarray(macro, dtype=float)[keep]
    rule = np.asarray(rule_tiers, dtype=np.int64)[keep]
    tiers = logging_tiers(rule, minimum_tier, seed)
    probs = _probabilities(acc, tiers, slow, mac, response)
    drawn = simulate_outcomes(
        probs, int(np.random.SeedSequence([seed, 0x4158]).generate_state(1)[0])
    )
    history = pd.DataFrame(
        {
            "tier": tiers,
            "days_past_due": acc["days_past_due"].to_numpy(),
            "pd": acc["pd"].to_numpy(dtype=float),
            "cured": drawn["cured"].to_numpy(dtype=np.int8),
            STRATUM: rule,
        }
    )
    base = _probabilities(acc, np.full(len(acc), minimum_tier), slow, mac, response)["cure_p"]
    cells = pd.DataFrame(
        {
            "tier": tiers,
            "cell": pd.Series(segment_of(history["days_past_due"], history["pd"]))
            + "|"
            + rule.astype(str),
            "cure": probs["cure_p"].to_numpy(),
            "base": base.to_numpy(),
        }
    )
    cells["bucket"] = collection_bucket(history["days_past_due"]) - 1
    per_cell = cells.groupby(["bucket", "tier", "cell"]).agg(
        n=("cure", "size"), cure=("cure", "mean"), base=("base", "mean")
    )
    per_cell["share"] = (per_cell["cure"] - per_cell["base"]) / np.maximum(
        1.0 - per_cell["base"], 1e-9
    )
    true = np.full((len(COLLECTION_EDGES), response.n_tiers), np.nan)
    for (b, t), sub in per_cell.groupby(level=["bucket", "tier"]):
        if t >= minimum_tier:
            true[b, t] = float(np.average(sub["share"], weights=sub["n"]))
    return history, true


def _probabilities(
    acc: pd.DataFrame,
    tiers: np.ndarray,
    slow: np.ndarray,
    macro: np.ndarray,
    response: ResponseModel,
) -> pd.DataFrame:
    """`true_outcome_probabilities` with a macro factor per row (months differ in a history)."""
    parts = []
    for value in np.unique(macro):
        rows = macro == value
        parts.append(
            true_outcome_probabilities(
                acc.loc[rows], tiers[rows], response, slow[rows], float(value), "history"
            )
        )
    if not parts:
        return true_outcome_probabilities(acc, tiers, response, slow, 0.0, "history")
    return pd.concat(parts).loc[acc.index]


def simulated_history(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    policy: CollectionPolicy,
    split: str,
    effects: pd.DataFrame,
    macro: pd.DataFrame,
    minimum_tier: int,
    seed: int,
    source: str = "features",
    response: ResponseModel | None = None,
) -> tuple[pd.DataFrame, np.ndarray] | None:
    """The built-in book's stand-in for a lender's collection log: the past-due accounts of the
    earlier `split` (out-of-time) months, treated at a tier drawn between the minimum treatment
    and the rules' tier (`logging_tiers`), with one month of outcomes each from the
    generator's truth (`effects`: account_id, slow_cure; `macro`: month, macro_factor of the
    month after each row). Returns (history, true uplift per tier) or None without such rows."""
    rows = features[
        (features["split"] == split) & (features[f"{POLICY_PREFIX}days_past_due"] > 0)
    ]  # only arrears can be collected
    if rows.empty:
        return None
    population = join_policy_inputs(
        scores[scores["split"] == split].merge(rows[KEYS], on=KEYS, validate="one_to_one"),
        rows,
        source,
    )
    if len(population) != len(rows):
        raise DataValidationError(source, f"a past-due {split} row has no score", "account_id")
    accounts, result = tier_population(population, policy, "rules", f"{split} history")
    slow = cure_effects_for(population["account_id"], effects, "history account")
    month = pd.to_datetime(population["observation_date"]) + pd.offsets.MonthBegin(1)
    if pd.to_datetime(macro["month"]).duplicated().any():
        raise DataValidationError("macro", "a month appears twice", "month")
    # the month after the generator's horizon is a normal one (factor 0), as in the experiment
    factors = pd.Series(
        macro["macro_factor"].to_numpy(dtype=float),
        index=pd.to_datetime(macro["month"]),
    )
    shock = factors.reindex(month.dt.normalize()).fillna(0.0).to_numpy()
    return simulate_history(
        accounts,
        result["rule_tier"].to_numpy(),
        slow,
        shock,
        response or ResponseModel(),
        minimum_tier,
        seed,
    )

"""Tier a book: the calls behind the `tiers` and `collection_rates` stages, returning what they write.

`run_tiers`: population, join, engine, output table, summary, back-test, the collection
experiment's arms (`book_experiment`: with outcomes drawn from the truth on the built-in book) and
headline numbers, so that the stage only reads its inputs and writes this result, and a notebook
or test can tier a book exactly as the stage does.
`run_collection_rates`: the expected-value rates learned from a lender's outcome log or, on the
built-in book, from a history simulated with the generator's truth
(`simulated.history.simulated_history`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from collection_policy.backtest import backtest
from collection_policy.engine import in_policy_currency
from collection_policy.ev_rates import EVRates
from collection_policy.experiment import (
    ExperimentConfig,
    book_strategies,
    experiment_arms,
    treatment_tiers,
    unmeasured_report,
)
from collection_policy.policy import CollectionPolicy
from collection_policy.population import KEYS, select_population, tier_population
from collection_policy.rate_learning import learn_ev_rates
from collection_policy.simulated.experiment import run_experiment
from collection_policy.simulated.history import simulated_history
from collection_policy.simulated.response import ResponseModel, cure_effects_for
from collection_policy.tiers_plot import summarise_tiers, tiers_headline
from core.contracts import POLICY_INPUTS, TIERS
from core.truth import Truth, month_after

log = logging.getLogger(__name__)

#: Columns of the reasons table the tiers stage reads.
REASON_COLUMNS = [*KEYS, "rank", "text"]


@dataclass(frozen=True)
class TiersConfig:
    """The `tiers` section of params.yaml, typed (read by `pipelines.params.tiers`)."""

    policy: Path  # the collection policy file
    mode: str  # "rules" | "expected_value"
    score_file: Path | None  # tier this scored file when the scores hold no current book
    backtest_split: str  # labelled split tiered too, for the observed bad rate per tier
    history_file: Path | None = None  # a collection outcome log the EV mode learns from


@dataclass(frozen=True)
class TieredBook:
    """What the tiers stage writes: the tiers table, the detailed summary and the headline."""

    table: pd.DataFrame  # data/tiers/tiers.parquet (the TIERS contract)
    summary: dict[str, Any]  # reports/tiers.json
    headline: dict[str, Any]  # reports/headline/tiers.json
    origin: str  # where the tiered population came from


def reasons_text(reasons: pd.DataFrame) -> pd.DataFrame:
    """Top reasons as one text per account ('; ' in rank order) from the explain stage's table."""
    ranked = reasons[REASON_COLUMNS].sort_values([*KEYS, "rank"], kind="stable")
    text = ranked.groupby(KEYS, dropna=False, sort=False)["text"].agg(
        lambda s: "; ".join(map(str, s))
    )
    return text.rename("reasons").reset_index()


def tiers_table(
    population: pd.DataFrame,
    accounts: pd.DataFrame,
    result: pd.DataFrame,
    reasons: pd.DataFrame | None,
    policy: CollectionPolicy,
) -> pd.DataFrame:
    """One row per tiered account: keys, PD columns, tier and its treatment, reasons, inputs."""
    base = population[
        [c for c in ("account_id", "observation_date", "split", "default") if c in population]
    ]
    inputs = accounts[
        ["pd", "score", "grade", "days_past_due", "overdue_amount", "outstanding_balance"]
    ]
    out = pd.concat([base, inputs, result], axis=1)
    if reasons is not None:
        out = out.merge(reasons, on=KEYS, how="left", validate="many_to_one")
        out["reasons"] = out["reasons"].fillna("")
    else:
        out["reasons"] = ""
    out["policy_version"] = f"{policy.version}@{policy.fingerprint()}"
    first = ["account_id", "observation_date", "split", "pd", "score", "grade", "tier", "tier_name"]
    rest = ["channels", "caps", "offer", "rule", "guardrails", "reasons", "rule_tier", "ev_tier"]
    order = [c for c in first + ["handling"] + rest if c in out]
    return out[order + [c for c in out.columns if c not in order]]


def tier_book(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    reasons: pd.DataFrame | None,
    policy: CollectionPolicy,
    config: TiersConfig,
    source: str = "features",
    ev_rates: EVRates | None = None,
) -> TieredBook:
    """Tier the population (see `population.select_population`), join the top reasons (None:
    explain has not run, the column stays empty) and back-test on the labelled split.

    `scores` holds `population.SCORE_COLUMNS`, `features` `population.FEATURE_COLUMNS`, `reasons`
    `REASON_COLUMNS`; `source` names the feature table in errors. `ev_rates` (learned from an
    outcome history) drive the expected-value tiers; None: the policy's assumptions.
    """
    population = select_population(scores, features, config.score_file, source)
    origin = population.origin
    accounts, result = tier_population(
        population.frame, policy, config.mode, f"{origin} population", ev_rates
    )
    joined = None if reasons is None else reasons_text(reasons)
    table = TIERS.check(
        tiers_table(population.frame, accounts, result, joined, policy), "tiers table"
    )
    summary: dict[str, Any] = {
        "policy": {
            "name": policy.name,
            "version": policy.version,
            "fingerprint": policy.fingerprint(),
        },
        "population": origin,
        **summarise_tiers(accounts, result, policy, population.frame.get("default")),
        "reasons_available": reasons is not None,
        "ev_rates": ev_rates.to_dict()
        if ev_rates is not None
        else {"source": "policy assumptions"},
    }
    back = backtest(
        scores, features, policy, config.mode, config.backtest_split, origin, source, ev_rates
    )
    if back is not None:
        summary["backtest"] = back
    return TieredBook(table, summary, tiers_headline(summary), origin)


def book_experiment(
    table: pd.DataFrame,
    config: ExperimentConfig,
    effects: pd.DataFrame | None = None,
    macro: float = 0.0,
    response: ResponseModel | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Arms and treatment tiers for the tiered book, and the arms report.

    `table` is the tiers table (account_id, days_past_due, overdue_amount, pd, rule_tier,
    ev_tier): champion = the rules' tier, challenger = the expected-value tier, holdout = the
    minimum treatment. With `effects` (the built-in book's truth: account_id, slow_cure) one month
    of outcomes is drawn from the response model and the report carries each arm's cure and roll
    rates, recovered amount, contact cost and uplift over the holdout with the true uplift beside
    it; without truth (a lender's own book) the report gives the arms' sizes and says that the
    outcomes are measured when the next month's statements arrive.
    Returns (arm per row, treatment tier per row, report).
    """
    champion, challenger = book_strategies(table)
    if effects is None or effects.empty:
        arms, strategies = experiment_arms(table, champion, challenger, config, "tiers table")
        return arms, treatment_tiers(arms, **strategies), unmeasured_report(arms)
    slow = cure_effects_for(table["account_id"], effects, "tiered account")
    experiment = run_experiment(
        table, champion, challenger, response or ResponseModel(), config, slow, macro
    )
    return experiment.arms, experiment.tiers, experiment.report


def run_tiers(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    reasons: pd.DataFrame | None,
    policy: CollectionPolicy,
    config: TiersConfig,
    experiment: ExperimentConfig,
    truth: Truth,
    ev_rates: EVRates | None = None,
    source: str = "features",
    currency: str | None = None,
    fx_to_policy: float | None = None,
) -> TieredBook:
    """The tiers stage: tier the book (`tier_book`), then assign the collection experiment's
    arms (champion rules, expected-value challenger, holdout) and, on the built-in book, draw one
    month of outcomes from the truth (`book_experiment`). The table gains `arm` and
    `treatment_tier`; the summary `arms` and `experiment`.

    Amounts in another `currency` than the policy's are converted at `fx_to_policy` first (the
    tiers table shows them converted; the summary says from what)."""
    amount_columns = tuple(p.feature_column for p in POLICY_INPUTS if p.amount)
    features = in_policy_currency(features, currency, fx_to_policy, policy, amount_columns)
    book = tier_book(scores, features, reasons, policy, config, source, ev_rates)
    dates = book.table["observation_date"] if "observation_date" in book.table else pd.Series([])
    arms, treated, report = book_experiment(
        book.table, experiment, truth.effects, month_after(truth.macro, dates)
    )
    table = book.table.assign(arm=arms, treatment_tier=treated)
    summary = {**book.summary, "arms": report.pop("arms"), "experiment": report}
    if currency is not None and currency != policy.currency:
        summary["amounts"] = {
            "book_currency": currency,
            "policy_currency": policy.currency,
            "fx_to_policy": fx_to_policy,
            "note": "overdue_amount and outstanding_balance converted before tiering",
        }
    return TieredBook(table, summary, book.headline, book.origin)


@dataclass(frozen=True)
class LearnedRates:
    """What the collection_rates stage writes: the rates (None: the policy's assumptions stand)
    and where the history they were learned from came from."""

    rates: EVRates | None
    source: str


def run_collection_rates(
    policy: CollectionPolicy,
    experiment: ExperimentConfig,
    history: pd.DataFrame | None,
    history_source: str,
    scores: pd.DataFrame | None,
    features: pd.DataFrame | None,
    truth: Truth,
    backtest_split: str,
    source: str = "features",
) -> LearnedRates:
    """The expected-value mode's rates: learned from `history` (a lender's outcome log) when
    given; else, on the built-in book (`truth.effects`), from a history simulated on the
    `backtest_split`'s past-due account-months; else none (the policy's assumed rates stand)."""
    if history is not None:
        origin = f"outcome history {history_source}"
        rates = learn_ev_rates(history, policy.n_tiers, experiment.holdout_tier, source=origin)
        return LearnedRates(rates, origin)
    if truth.effects is None or scores is None or features is None:
        return LearnedRates(None, "policy assumptions")
    macro = (
        truth.macro
        if truth.macro is not None
        else pd.DataFrame({"month": pd.to_datetime([]), "macro_factor": []})
    )
    simulated = simulated_history(
        scores,
        features,
        policy,
        backtest_split,
        truth.effects,
        macro,
        experiment.holdout_tier,
        experiment.seed,
        source,
    )
    if simulated is None:
        return LearnedRates(None, "policy assumptions")
    history, true_uplift = simulated
    origin = (
        f"simulated history: the {backtest_split} split's past-due account-months, tiers drawn "
        "between the minimum treatment and the rules' tier, outcomes from the generator's truth"
    )
    rates = learn_ev_rates(history, policy.n_tiers, experiment.holdout_tier, source=origin)
    return LearnedRates(rates.with_truth(true_uplift), origin)

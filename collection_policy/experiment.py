"""The collection experiment: random arms beside the champion rules, and what they measured.

* ``assign_arms``: a seeded, hash-based split of accounts into champion / challenger / holdout,
  stable per account id whatever the row order or batch.
* ``holdout_tiers`` / ``treatment_tiers``: the holdout gets the minimum treatment (the lowest
  contacting tier, capped by what the guardrails left the champion); each arm gets its tiers.
* ``ExperimentConfig`` (the `tiers.experiment` params), ``experiment_arms`` (arms and each arm's
  strategy) and ``book_strategies`` (the tiers table's champion and challenger tiers).
* ``arm_report``: from one month of outcomes per account (cured, rolled, recovered, cost, net:
  measured on a lender's next statements, or drawn by ``collection_policy.simulated`` on the
  built-in book), per arm n, cure and roll rate, recovered, contact cost and net, and for champion
  and challenger the uplift over holdout with an interval (``core.stats``); given the true
  outcome probabilities of each strategy (the built-in book only), beside the TRUE uplift
  (definition in ``TRUE_UPLIFT_DEFINITION``) and whether the interval covers it.
  ``experiment_report`` adds the config; ``unmeasured_report`` is a book's report before its
  outcomes exist (arm sizes only).

Only past-due accounts (days_past_due > 0) can cure or roll; current accounts carry zeros and are
left out of the report (counted as ``excluded_current``). This module takes the outcomes as input:
it draws nothing and knows nothing of the generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from core.errors import DataValidationError, InvalidConfig
from core.stats import newcombe_interval, welch_interval, wilson_interval

#: Arm names, in report order.
ARMS: tuple[str, ...] = ("champion", "challenger", "holdout")
#: Metrics with an uplift over holdout (per account means).
UPLIFT_METRICS: tuple[str, ...] = ("cure_rate", "roll_rate", "net_per_account")
#: One month's outcome per account, as `arm_report` reads it: whether the account was past due
#: (only those count), cured, rolled to the next bucket, the amount recovered, the contact cost
#: and net = recovered - cost.
OUTCOME_COLUMNS: tuple[str, ...] = ("past_due", "cured", "rolled", "recovered", "cost", "net")

TRUE_UPLIFT_DEFINITION = (
    "true uplift of an arm = mean over ALL past-due accounts in the report (every arm) of the "
    "generator's expected metric under that arm's strategy minus under the holdout strategy "
    "(cure_p, roll_p, or cure_p * overdue_amount - cost, each from ResponseModel): the effect of "
    "moving the whole past-due book from the holdout treatment to the strategy this month. The "
    "measured uplift (arm mean minus holdout mean on randomly assigned accounts) estimates it "
    "without bias; its interval accounts for both the random assignment and the outcome draws."
)


def _days_past_due(accounts: pd.DataFrame, source: str) -> np.ndarray:
    if "days_past_due" not in accounts:
        raise DataValidationError(source, "required column is missing", column="days_past_due")
    v = pd.to_numeric(accounts["days_past_due"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(v)
    if bad.any():
        raise DataValidationError(
            source, "must be a finite number", column="days_past_due", row=int(np.argmax(bad))
        )
    return v


# --- arms ---------------------------------------------------------------------------------------


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _id_hash(account_ids: ArrayLike) -> np.ndarray:
    """64-bit FNV-1a of each id's text (so 10000001 and "10000001" hash alike), pure numpy."""
    ids = np.asarray(account_ids)
    if ids.dtype.kind in "iu":  # the built-in book: integer ids, converted without Python loops
        raw = ids.astype("S")
    else:
        text = pd.Series(ids.astype(object)).astype(str).str.encode("utf-8")
        raw = np.array(text.tolist(), dtype=bytes)
    width = raw.dtype.itemsize
    h = np.full(len(raw), np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    if len(raw) == 0 or width == 0:
        return h
    codes = raw.view(np.uint8).reshape(len(raw), width)
    used = np.flatnonzero(codes.any(axis=0))
    prime = np.uint64(0x100000001B3)
    with np.errstate(over="ignore"):
        for j in range(int(used[-1]) + 1 if used.size else 0):
            c = codes[:, j].astype(np.uint64)
            h = np.where(c != 0, (h ^ c) * prime, h)  # NUL padding skipped: batch-independent
    return h


def arm_uniforms(account_ids: ArrayLike, seed: int) -> np.ndarray:
    """A uniform in [0, 1) per account id, fixed by (seed, id) alone."""
    salt = _splitmix64(np.array([np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)]))[0]
    z = _splitmix64(_splitmix64(_id_hash(account_ids) ^ salt))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


def _check_shares(holdout_share: float, challenger_share: float) -> None:
    for name, v in (("holdout_share", holdout_share), ("challenger_share", challenger_share)):
        if not (isinstance(v, int | float) and 0.0 <= v < 1.0):
            raise InvalidConfig(name, "must be a number in [0, 1)", v)
    if holdout_share + challenger_share >= 1.0:
        raise InvalidConfig(
            "",
            "holdout_share + challenger_share must leave the champion a share (< 1)",
            (holdout_share, challenger_share),
        )


def assign_arms(
    account_ids: ArrayLike, seed: int, holdout_share: float, challenger_share: float
) -> np.ndarray:
    """ "champion" / "challenger" / "holdout" per account: random, seeded, stable per account id.

    u = hash(seed, id) in [0, 1): holdout when u < holdout_share, challenger when u <
    holdout_share + challenger_share, champion otherwise. The same id keeps its arm whatever the
    row order, batch or other ids; a larger holdout share only moves accounts into the holdout.
    """
    _check_shares(holdout_share, challenger_share)
    u = arm_uniforms(account_ids, seed)
    codes = (u >= holdout_share).astype(np.int8) + (u >= holdout_share + challenger_share)
    return np.array(["holdout", "challenger", "champion"], dtype=object)[codes]


def holdout_tiers(
    champion_tiers: ArrayLike, days_past_due: ArrayLike, minimum_tier: int = 1
) -> np.ndarray:
    """The holdout's minimum treatment: `minimum_tier` (T1 soft reminder) for past-due accounts,
    never above the champion's tier (which is already capped by every guardrail, so a stop-contact
    or fraud-review account stays at its T0); current accounts T0."""
    champ = np.asarray(champion_tiers, dtype=np.int64)
    past_due = np.asarray(days_past_due, dtype=float) > 0
    return np.where(past_due, np.minimum(champ, int(minimum_tier)), 0).astype(np.int64)


def treatment_tiers(
    arms: ArrayLike, champion: ArrayLike, challenger: ArrayLike, holdout: ArrayLike
) -> np.ndarray:
    """The tier each account is treated at: its arm's strategy."""
    a = np.asarray(arms, dtype=object)
    return np.select(
        [a == "champion", a == "challenger", a == "holdout"],
        [np.asarray(champion), np.asarray(challenger), np.asarray(holdout)],
        default=-1,
    ).astype(np.int64)


# --- the report ---------------------------------------------------------------------------------


def _num(x: Any) -> float | None:
    """A JSON-safe float (None for NaN / inf)."""
    v = float(x)
    return v if math.isfinite(v) else None


def _arm_summary(o: pd.DataFrame, level: float) -> dict[str, Any]:
    n = len(o)
    cures, rolls = int(o["cured"].sum()), int(o["rolled"].sum())
    recovered, cost = float(o["recovered"].sum()), float(o["cost"].sum())
    per = (lambda v: v / n) if n else (lambda v: math.nan)
    return {
        "n": n,
        "cure_rate": _num(per(cures)),
        "cure_rate_interval": [_num(v) for v in wilson_interval(cures, n, level)],
        "roll_rate": _num(per(rolls)),
        "roll_rate_interval": [_num(v) for v in wilson_interval(rolls, n, level)],
        "recovered": recovered,
        "recovered_per_account": _num(per(recovered)),
        "contact_cost": cost,
        "contact_cost_per_account": _num(per(cost)),
        "net": recovered - cost,
        "net_per_account": _num(per(recovered - cost)),
    }


def _true_means(probs: pd.DataFrame, rows: np.ndarray) -> dict[str, float]:
    p = probs[rows]
    return {
        "cure_rate": float(p["cure_p"].mean()),
        "roll_rate": float(p["roll_p"].mean()),
        "net_per_account": float(p["expected_net"].mean()),
    }


def arm_report(
    outcomes: pd.DataFrame,
    arms: ArrayLike,
    level: float = 0.9,
    truth: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """Per-arm results of one month and each strategy's uplift over the holdout (JSON-safe).

    `outcomes` holds `OUTCOME_COLUMNS`, one row per account of `arms`; only past-due rows
    count. Each arm: n, cure_rate and roll_rate (Wilson intervals), recovered, contact_cost and
    net (totals and per account). For champion and challenger, `uplift` over holdout in cure_rate
    and roll_rate (difference of proportions, Newcombe interval) and in net_per_account
    (two-sample normal interval); the six uplift intervals are simultaneous at the family `level`
    (Bonferroni), per-arm rates at `level`. With `truth` (``{arm: the true outcome probabilities
    of that arm's strategy}``, columns cure_p, roll_p, expected_net over the same rows, for all
    three arms: the built-in book's `simulated.response.true_outcome_probabilities`) each uplift
    also carries `true` (see TRUE_UPLIFT_DEFINITION) and `covers_true`, and each arm its
    `expected` (truth means over the arm's own accounts).
    """
    if not 0.0 < level < 1.0:
        raise InvalidConfig("level", "must be in (0, 1)", level)
    missing = [c for c in OUTCOME_COLUMNS if c not in outcomes.columns]
    if missing:
        raise DataValidationError("outcomes", "required column is missing", column=missing[0])
    a = np.asarray(arms, dtype=object)
    if a.shape != (len(outcomes),):
        raise DataValidationError("arms", f"must be one per outcome row ({len(outcomes)})")
    unknown = sorted(set(np.unique(a).tolist()) - set(ARMS))
    if unknown:
        raise DataValidationError("arms", f"unknown arm names {unknown}; expected {list(ARMS)}")
    if truth is not None:
        missing = [k for k in ARMS if k not in truth]
        if missing:
            raise DataValidationError(
                "truth", f"needs a probability frame per arm, missing {missing}"
            )
        for k in ARMS:
            if len(truth[k]) != len(outcomes):
                raise DataValidationError("truth", f"frame of {k!r} must match the outcome rows")
    past_due = outcomes["past_due"].to_numpy(dtype=bool)
    report: dict[str, Any] = {
        "level": level,
        "population": "past_due",
        "n": int(past_due.sum()),
        "excluded_current": int((~past_due).sum()),
        "arms": {},
    }
    rows = {k: past_due & (a == k) for k in ARMS}
    hold = outcomes[rows["holdout"]]
    # "every measured uplift agrees with the truth" is one claim about all of them at once: each
    # uplift interval is at the Bonferroni level that gives the family `level`
    family = len(UPLIFT_METRICS) * (len(ARMS) - 1)
    each = 1.0 - (1.0 - level) / family
    report["uplift_interval_level"] = each
    report["uplift_intervals"] = (
        f"simultaneous: {family} uplift intervals (cure, roll, net x champion, challenger) at "
        f"{each:.4f} each, so all cover their true values with probability >= {level} (Bonferroni)"
    )
    for k in ARMS:
        o = outcomes[rows[k]]
        entry = _arm_summary(o, level)
        if truth is not None:
            entry["expected"] = {m: _num(v) for m, v in _true_means(truth[k], rows[k]).items()}
        if k != "holdout":
            uplift: dict[str, Any] = {}
            for metric, col in (("cure_rate", "cured"), ("roll_rate", "rolled")):
                d, lo, hi = newcombe_interval(
                    int(o[col].sum()), len(o), int(hold[col].sum()), len(hold), each
                )
                uplift[metric] = {"estimate": _num(d), "interval": [_num(lo), _num(hi)]}
            d, lo, hi = welch_interval(
                o["net"].to_numpy(dtype=float), hold["net"].to_numpy(dtype=float), each
            )
            uplift["net_per_account"] = {"estimate": _num(d), "interval": [_num(lo), _num(hi)]}
            if truth is not None:
                mine, base = (
                    _true_means(truth[k], past_due),
                    _true_means(truth["holdout"], past_due),
                )
                for metric, u in uplift.items():
                    true = mine[metric] - base[metric]
                    u["true"] = _num(true)
                    lo, hi = u["interval"]
                    u["covers_true"] = None if lo is None else bool(lo <= true <= hi)
            entry["uplift"] = uplift
        report["arms"][k] = entry
    if truth is not None:
        report["true_uplift_definition"] = TRUE_UPLIFT_DEFINITION
    return report


# --- the config and the arms of a book ----------------------------------------------------------


@dataclass(frozen=True)
class ExperimentConfig:
    """The `tiers.experiment` params: arm shares, seed, holdout treatment and interval level."""

    holdout_share: float = 0.1  # share that gets only the minimum treatment
    challenger_share: float = 0.2  # share treated by the challenger (expected-value) tiers
    seed: int = 17  # arm assignment seed; outcome draws use a stream derived from it
    holdout_tier: int = 1  # the minimum contacting tier (T1 soft reminder)
    level: float = 0.9  # confidence of every interval

    def __post_init__(self) -> None:
        _check_shares(self.holdout_share, self.challenger_share)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise InvalidConfig("seed", "must be an integer >= 0", self.seed)
        if not isinstance(self.holdout_tier, int) or self.holdout_tier < 0:
            raise InvalidConfig("holdout_tier", "must be a tier id >= 0", self.holdout_tier)
        if not 0.0 < self.level < 1.0:
            raise InvalidConfig("level", "must be in (0, 1)", self.level)


def experiment_arms(
    accounts: pd.DataFrame,
    champion: ArrayLike,
    challenger: ArrayLike,
    config: ExperimentConfig,
    source: str,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The arm of each account (by `accounts["account_id"]`) and each arm's strategy: champion and
    challenger tiers as given, the holdout's minimum treatment (`holdout_tiers`)."""
    if "account_id" not in accounts:
        raise DataValidationError(source, "required column is missing", column="account_id")
    arms = assign_arms(
        accounts["account_id"].to_numpy(),
        config.seed,
        config.holdout_share,
        config.challenger_share,
    )
    dpd = _days_past_due(accounts, source)
    strategies = {
        "champion": np.asarray(champion, dtype=np.int64),
        "challenger": np.asarray(challenger, dtype=np.int64),
        "holdout": holdout_tiers(champion, dpd, config.holdout_tier),
    }
    return arms, strategies


def book_strategies(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The tiers table's champion (the rules' tier) and challenger (the expected-value tier)."""
    for col in ("account_id", "rule_tier", "ev_tier", "days_past_due"):
        if col not in table:
            raise DataValidationError("tiers table", "required column is missing", column=col)
    return table["rule_tier"].to_numpy(dtype=np.int64), table["ev_tier"].to_numpy(dtype=np.int64)


def experiment_report(
    outcomes: pd.DataFrame,
    arms: ArrayLike,
    config: ExperimentConfig,
    truth: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, Any]:
    """`arm_report` at the config's level, with the config it ran under."""
    report = arm_report(outcomes, arms, config.level, truth)
    report["config"] = {
        "holdout_share": config.holdout_share,
        "challenger_share": config.challenger_share,
        "seed": config.seed,
        "holdout_tier": config.holdout_tier,
    }
    return report


def unmeasured_report(arms: ArrayLike) -> dict[str, Any]:
    """The report of a book whose outcomes are not known yet (a lender's own book this month):
    the arms' sizes, and where the outcomes will come from."""
    a = np.asarray(arms, dtype=object)
    return {
        "arms": {k: {"n": int((a == k).sum())} for k in ARMS},
        "outcomes": "not simulated: no truth for this book; measure them on the next "
        "month's statements",
    }

"""Collection outcomes with a known answer: how past-due accounts respond to treatment.

The built-in book knows each customer's hidden cure effect (``slow_cure``, truth, never a feature).
This module turns it into the TRUE response to collection treatment, so that a strategy's effect
can be measured on a random holdout and checked against the answer the generator knows.

* ``ResponseModel``: the true one-month outcome of a past-due account treated at a tier. Cure
  logit = ``base_cure_logit[bucket] + effect(tier) - slow_cure_weight * slow_cure
  - pd_weight * (logit(pd) - logit(pd_ref)) - macro_weight * macro``, where ``effect`` is concave
  in the tier's contact intensity (diminishing returns). An account that does not cure rolls to the
  next DPD bucket with probability ``sigmoid(base_roll_logit[bucket] - roll_effect_share * effect
  + the same account terms)``, else stays in its bucket. Each tier costs ``contact_cost[tier]``
  per account-month. ``true_outcome_probabilities`` evaluates it (cure_p, roll_p, expected
  recovered = cure_p x overdue_amount, cost).
* ``assign_arms``: a seeded, hash-based split of accounts into champion / challenger / holdout,
  stable per account id whatever the row order or batch.
* ``holdout_tiers`` / ``treatment_tiers``: the holdout gets the minimum treatment (the lowest
  contacting tier, capped by what the guardrails left the champion); each arm gets its tiers.
* ``simulate_outcomes``: draws cured / rolled / recovered / cost per account from the truth.
* ``arm_report``: per arm n, cure and roll rate, recovered, contact cost and net, and for champion
  and challenger the uplift over holdout with an interval, beside the TRUE uplift (definition in
  ``TRUE_UPLIFT_DEFINITION``) and whether the interval covers it.
* ``segment_of``: the DPD bucket x PD band segment of an account, the unit in which
  ``collection_policy.ev_rates`` learns cure rates for the expected-value mode.
* ``run_experiment``: the one call for the tiers stage (arms, applied tiers, truth, draws, report).

Only past-due accounts (days_past_due > 0) can cure or roll; current accounts carry zeros and are
left out of the report (counted as ``excluded_current``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm

from core.dpd import COLLECTION_EDGES, COLLECTION_LABELS, collection_bucket
from core.errors import DataValidationError, InvalidConfig

#: Arm names, in report order.
ARMS: tuple[str, ...] = ("champion", "challenger", "holdout")
#: Metrics with an uplift over holdout (per account means).
UPLIFT_METRICS: tuple[str, ...] = ("cure_rate", "roll_rate", "net_per_account")

TRUE_UPLIFT_DEFINITION = (
    "true uplift of an arm = mean over ALL past-due accounts in the report (every arm) of the "
    "generator's expected metric under that arm's strategy minus under the holdout strategy "
    "(cure_p, roll_p, or cure_p * overdue_amount - cost, each from ResponseModel): the effect of "
    "moving the whole past-due book from the holdout treatment to the strategy this month. The "
    "measured uplift (arm mean minus holdout mean on randomly assigned accounts) estimates it "
    "without bias; its interval accounts for both the random assignment and the outcome draws."
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1.0 - 1e-6)
    return np.log(p / (1.0 - p))


def _tuple_of(name: str, values: Sequence[float], length: int | None, minimum: float | None):
    vals = tuple(float(v) for v in values)
    if length is not None and len(vals) != length:
        raise InvalidConfig(name, f"must have {length} values", vals)
    if not all(math.isfinite(v) for v in vals):
        raise InvalidConfig(name, "must be finite numbers", vals)
    if minimum is not None and any(v < minimum for v in vals):
        raise InvalidConfig(name, f"must be >= {minimum}", vals)
    return vals


@dataclass(frozen=True)
class ResponseModel:
    """The TRUE one-month response of a past-due account to the tier it is treated at.

    Defaults fit the shipped six-tier policy (T0 monitor .. T5 legal review) and are the
    generator's truth; a different policy must pass tuples of its own tier count.
    """

    #: cure logit with no treatment (T0) of an average account, per past-due bucket
    #: (1-30, 31-60, 61-89, 90-120, 121+): early arrears mostly self-cure, late ones rarely.
    base_cure_logit: tuple[float, ...] = (0.0, -1.0, -1.6, -2.2, -3.0)
    #: logit of rolling to the next bucket for an account that did not cure, per bucket 1-30 ..
    #: 90-120 (from 121+ there is no next bucket: the rest stays).
    base_roll_logit: tuple[float, ...] = (-0.5, 0.0, 0.3, 0.5)
    #: contact intensity per tier (T0..Tn); the cure effect is concave in it.
    intensity: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0, 4.0, 0.5)
    #: contact cost per account-month per tier (currency); defaults equal the policy's `ev.cost`.
    contact_cost: tuple[float, ...] = (0.0, 1.0, 8.0, 30.0, 5.0, 0.0)
    #: effect(tier) = max_effect * (1 - exp(-intensity / intensity_scale)): rises with intensity
    #: with shrinking increments (diminishing returns), never above max_effect.
    max_effect: float = 2.2
    intensity_scale: float = 2.0
    #: share of the cure effect that also lowers the roll logit of accounts that do not cure.
    roll_effect_share: float = 0.5
    #: weight of the hidden cure effect (higher slow_cure: cures less, rolls more); the generator
    #: adds slow_cure to the logit of missing again with weight 1.
    slow_cure_weight: float = 1.0
    #: weight of PD risk: the logit(pd) - logit(pd_ref) lowers the cure logit by this much.
    pd_weight: float = 0.5
    pd_ref: float = 0.2
    #: weight of the month's macro factor (0 = normal; stress lowers cures).
    macro_weight: float = 0.5

    def __post_init__(self) -> None:
        _tuple_of("base_cure_logit", self.base_cure_logit, len(COLLECTION_EDGES), None)
        _tuple_of("base_roll_logit", self.base_roll_logit, len(COLLECTION_EDGES) - 1, None)
        n = len(self.intensity)
        if n < 2:
            raise InvalidConfig(
                "intensity", "needs one value per tier (at least 2)", self.intensity
            )
        _tuple_of("intensity", self.intensity, None, 0.0)
        _tuple_of("contact_cost", self.contact_cost, n, 0.0)
        for name in ("max_effect", "roll_effect_share", "slow_cure_weight", "pd_weight"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InvalidConfig(name, "must be a finite number >= 0", v)
        if not (math.isfinite(self.intensity_scale) and self.intensity_scale > 0):
            raise InvalidConfig("intensity_scale", "must be > 0", self.intensity_scale)
        if not 0.0 < self.pd_ref < 1.0:
            raise InvalidConfig("pd_ref", "must be in (0, 1)", self.pd_ref)
        if not math.isfinite(self.macro_weight):
            raise InvalidConfig("macro_weight", "must be finite", self.macro_weight)

    @property
    def n_tiers(self) -> int:
        return len(self.intensity)

    def effects(self) -> np.ndarray:
        """Cure-logit effect per tier (T0 = 0 when its intensity is 0)."""
        x = np.asarray(self.intensity) / self.intensity_scale
        return self.max_effect * (1.0 - np.exp(-x))

    def costs(self) -> np.ndarray:
        return np.asarray(self.contact_cost, dtype=float)


def _column(accounts: pd.DataFrame, name: str, source: str) -> np.ndarray:
    if name not in accounts:
        raise DataValidationError(source, "required column is missing", column=name)
    v = pd.to_numeric(accounts[name], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(v)
    if bad.any():
        raise DataValidationError(
            source, "must be a finite number", column=name, row=int(np.argmax(bad))
        )
    return v


def _tiers_array(tiers: ArrayLike, n: int, n_tiers: int, source: str) -> np.ndarray:
    t = np.asarray(tiers)
    if t.shape != (n,):
        raise DataValidationError(source, f"tiers must be one per account ({n}), got {t.shape}")
    t = t.astype(np.int64)
    bad = (t < 0) | (t >= n_tiers)
    if bad.any():
        raise DataValidationError(
            source, f"tier outside T0..T{n_tiers - 1} of the response model", row=int(bad.argmax())
        )
    return t


def true_outcome_probabilities(
    accounts: pd.DataFrame,
    tiers: ArrayLike,
    response: ResponseModel,
    slow_cure: ArrayLike | None = None,
    macro: float = 0.0,
    source: str = "accounts",
) -> pd.DataFrame:
    """The generator's truth for one month of treatment at `tiers` (one per row of `accounts`).

    `accounts` holds days_past_due, overdue_amount and pd; `slow_cure` (one per row, truth) is
    taken from the column of that name when not passed. Returns, on the accounts' index: tier,
    past_due, bucket, overdue_amount, cure_p, roll_p (unconditional: P(not cure and roll)),
    expected_recovered = cure_p * overdue_amount, cost (contact cost of the tier) and
    expected_net = expected_recovered - cost. Current accounts get cure_p = roll_p = 0.
    """
    dpd = _column(accounts, "days_past_due", source)
    overdue = np.maximum(_column(accounts, "overdue_amount", source), 0.0)
    pd_ = _column(accounts, "pd", source)
    if slow_cure is None:
        effect = _column(accounts, "slow_cure", source)
    else:
        effect = np.asarray(slow_cure, dtype=float)
        if effect.shape != dpd.shape or not np.isfinite(effect).all():
            raise DataValidationError(source, "slow_cure must be one finite value per account")
    t = _tiers_array(tiers, len(dpd), response.n_tiers, source)
    bucket = collection_bucket(dpd)
    past_due = bucket > 0
    b = np.maximum(bucket - 1, 0)
    account = (
        response.slow_cure_weight * effect
        + response.pd_weight * (_logit(pd_) - _logit(np.array(response.pd_ref)))
        + response.macro_weight * float(macro)
    )
    tier_effect = response.effects()[t]
    cure = _sigmoid(np.asarray(response.base_cure_logit)[b] + tier_effect - account)
    roll_base = np.append(np.asarray(response.base_roll_logit), -np.inf)[b]
    roll_given = _sigmoid(roll_base - response.roll_effect_share * tier_effect + account)
    cure_p = np.where(past_due, cure, 0.0)
    roll_p = np.where(past_due, (1.0 - cure) * roll_given, 0.0)
    cost = response.costs()[t]
    expected_recovered = cure_p * overdue
    return pd.DataFrame(
        {
            "tier": t.astype(np.int8),
            "past_due": past_due,
            "bucket": bucket.astype(np.int8),
            "overdue_amount": overdue,
            "cure_p": cure_p,
            "roll_p": roll_p,
            "expected_recovered": expected_recovered,
            "cost": cost,
            "expected_net": expected_recovered - cost,
        },
        index=accounts.index,
    )


# --- arms -------------------------------------------------------------------------------------


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


# --- draws and the report -----------------------------------------------------------------------


def simulate_outcomes(probabilities: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One month of outcomes drawn from `true_outcome_probabilities`: cured, rolled (exclusive),
    recovered = overdue_amount if cured, cost = the tier's contact cost, net = recovered - cost;
    past_due carried over. Deterministic from `seed` for a given row order."""
    u = np.random.default_rng(seed).random(len(probabilities))
    cure_p = probabilities["cure_p"].to_numpy(dtype=float)
    roll_p = probabilities["roll_p"].to_numpy(dtype=float)
    cured = u < cure_p
    rolled = ~cured & (u < cure_p + roll_p)
    recovered = np.where(cured, probabilities["overdue_amount"].to_numpy(dtype=float), 0.0)
    cost = probabilities["cost"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "past_due": probabilities["past_due"].to_numpy(dtype=bool),
            "tier": probabilities["tier"].to_numpy(),
            "cured": cured,
            "rolled": rolled,
            "recovered": recovered,
            "cost": cost,
            "net": recovered - cost,
        },
        index=probabilities.index,
    )


def _num(x: Any) -> float | None:
    """A JSON-safe float (None for NaN / inf)."""
    v = float(x)
    return v if math.isfinite(v) else None


def wilson_interval(successes: int, n: int, level: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaNs when n = 0)."""
    if n == 0:
        return (math.nan, math.nan)
    z = float(norm.ppf(0.5 + level / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(
    x1: int, n1: int, x2: int, n2: int, level: float
) -> tuple[float, float, float]:
    """Difference p1 - p2 and its Newcombe hybrid-score interval (method 10)."""
    if n1 == 0 or n2 == 0:
        return (math.nan, math.nan, math.nan)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, level)
    l2, u2 = wilson_interval(x2, n2, level)
    d = p1 - p2
    return (d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2))


def welch_interval(a: np.ndarray, b: np.ndarray, level: float) -> tuple[float, float, float]:
    """Difference of means a - b and its two-sample normal (unequal variance) interval."""
    if len(a) < 2 or len(b) < 2:
        return (math.nan, math.nan, math.nan)
    d = float(a.mean() - b.mean())
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    z = float(norm.ppf(0.5 + level / 2))
    return (d, d - z * se, d + z * se)


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

    Only past-due rows of `outcomes` (from `simulate_outcomes`) count. Each arm: n, cure_rate and
    roll_rate (Wilson intervals), recovered, contact_cost and net (totals and per account). For
    champion and challenger, `uplift` over holdout in cure_rate and roll_rate (difference of
    proportions, Newcombe interval) and in net_per_account (two-sample normal interval); the six
    uplift intervals are simultaneous at the family `level` (Bonferroni), per-arm rates at
    `level`. With
    `truth` (``{arm: true_outcome_probabilities of that arm's strategy}`` over the same rows, for
    all three arms) each uplift also carries `true` (see TRUE_UPLIFT_DEFINITION) and
    `covers_true`, and each arm its `expected` (truth means over the arm's own accounts).
    """
    if not 0.0 < level < 1.0:
        raise InvalidConfig("level", "must be in (0, 1)", level)
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


# --- the one call for the tiers stage ----------------------------------------------------------


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


@dataclass(frozen=True, eq=False)
class Experiment:
    """Everything one experiment month produced."""

    arms: np.ndarray  # arm per account
    tiers: np.ndarray  # the tier each account was treated at
    truth: dict[str, pd.DataFrame]  # true_outcome_probabilities per strategy, all accounts
    outcomes: pd.DataFrame  # simulate_outcomes of the applied tiers
    report: dict[str, Any]  # arm_report (with truth)


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
    dpd = _column(accounts, "days_past_due", source)
    strategies = {
        "champion": np.asarray(champion, dtype=np.int64),
        "challenger": np.asarray(challenger, dtype=np.int64),
        "holdout": holdout_tiers(champion, dpd, config.holdout_tier),
    }
    return arms, strategies


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
    report = arm_report(outcomes, arms, config.level, truth)
    report["config"] = {
        "holdout_share": config.holdout_share,
        "challenger_share": config.challenger_share,
        "seed": config.seed,
        "holdout_tier": config.holdout_tier,
    }
    return Experiment(arms, tiers, truth, outcomes, report)


def _derived_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, 0x0C0]).generate_state(1)[0])


# --- learned cure rates for the expected-value mode ---------------------------------------------


def segment_of(
    days_past_due: ArrayLike, pd: ArrayLike, pd_edges: Sequence[float] = (0.1, 0.3)
) -> np.ndarray:
    """A segment label per account: DPD bucket and PD band, e.g. "31-60|pd 0.10-0.30"."""
    bucket = collection_bucket(days_past_due)
    edges = [float(e) for e in pd_edges]
    if edges != sorted(set(edges)) or any(not 0 < e < 1 for e in edges):
        raise InvalidConfig("pd_edges", "must be increasing values in (0, 1)", pd_edges)
    band = np.searchsorted(np.asarray(edges), np.asarray(pd, dtype=float), side="right")
    bounds = [0.0, *edges, 1.0]
    bands = [f"pd {bounds[i]:.2f}-{bounds[i + 1]:.2f}" for i in range(len(bounds) - 1)]
    labels = np.array(COLLECTION_LABELS, dtype=object)[bucket]
    return labels + "|" + np.array(bands, dtype=object)[band]


# --- the tiers stage's call ----------------------------------------------------------------------


def cure_effects_for(account_ids: pd.Series, effects: pd.DataFrame, what: str) -> np.ndarray:
    """The truth's slow_cure of each account id (an id may be an integer on one side and text on
    the other: integers are matched as they are, anything else as text); every id must have one.
    """
    ids = pd.Series(account_ids).reset_index(drop=True)
    keys = effects["account_id"]
    if not (pd.api.types.is_integer_dtype(ids) and pd.api.types.is_integer_dtype(keys)):
        ids, keys = ids.astype(str), keys.astype(str)
    lookup = pd.Series(effects["slow_cure"].to_numpy(dtype=np.float64), index=pd.Index(keys))
    repeated = lookup.index.duplicated()
    if repeated.any():
        raise DataValidationError(
            "customer_effects", "account id appears twice", "account_id", int(repeated.argmax())
        )
    slow = lookup.reindex(pd.Index(ids)).to_numpy(dtype=np.float64)
    if np.isnan(slow).any():
        row = int(np.flatnonzero(np.isnan(slow))[0])
        raise DataValidationError(
            "customer_effects", f"{what} has no cure effect in the truth", "account_id", row
        )
    return slow


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
    for col in ("account_id", "rule_tier", "ev_tier", "days_past_due"):
        if col not in table:
            raise DataValidationError("tiers table", "required column is missing", column=col)
    champion = table["rule_tier"].to_numpy(dtype=np.int64)
    challenger = table["ev_tier"].to_numpy(dtype=np.int64)
    if effects is None or effects.empty:
        arms, strategies = experiment_arms(table, champion, challenger, config, "tiers table")
        tiers = treatment_tiers(arms, **strategies)
        report: dict[str, Any] = {
            "arms": {k: {"n": int((arms == k).sum())} for k in ARMS},
            "outcomes": "not simulated: no truth for this book; measure them on the next "
            "month's statements",
        }
        return arms, tiers, report
    slow = cure_effects_for(table["account_id"], effects, "tiered account")
    experiment = run_experiment(
        table, champion, challenger, response or ResponseModel(), config, slow, macro
    )
    return experiment.arms, experiment.tiers, experiment.report

"""The true response of past-due accounts to collection treatment (built-in book only).

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
* ``simulate_outcomes``: draws cured / rolled / recovered / cost per account from the truth (the
  columns ``collection_policy.experiment.arm_report`` reads).
* ``cure_effects_for``: the truth's cure effect of each account id.

Only past-due accounts (days_past_due > 0) can cure or roll; current accounts carry zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from core.dpd import COLLECTION_EDGES, collection_bucket
from core.errors import DataValidationError, InvalidConfig


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

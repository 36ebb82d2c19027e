"""The collection policy's inputs (`POLICY_INPUTS`, by contract name), written beside the
features as `policy__` columns: they route collections and are never model inputs.

Each input is computed from the columns it needs (`POLICY_SOURCES`) when the data has them and is
left missing otherwise (NaN / pandas NA, never guessed): a required input left missing makes
`train` stop and name it (`models.training.raise_missing_policy_inputs`). Like the features, the
history-derived inputs read the look-back (`max_lookback_months`) and no further back.

| input | needs | without it |
|---|---|---|
| days_past_due | statements.days_past_due (required) | - |
| overdue_amount | statements.overdue_amount | NaN |
| first_time_delinquency | statements.days_past_due (required) | - |
| dispute, hardship, opt_out, deceased | customers.<flag> | NA |
| timezone (optional input) | customers.timezone | None: the policy's default zone, recorded by the engine |
| outstanding_balance | statements.outstanding_balance (required) | - |
| delinquency_episodes | statements.days_past_due (required) | - |
| broken_promises | no column of the book (see below) | 0 |
| never_paid | statements.paid_amount | NA |

broken_promises counts promise-to-pay arrangements, which live in a collection system's records:
neither the built-in book nor a lender's statements carry them. It is the contract's value for a
table without such records (`PolicyInput.table_default`, 0, as for a loan table), the one input
not derived from the data.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from core.contracts import POLICY_INPUT_BY_NAME, POLICY_INPUTS
from core.schema import CUSTOMERS
from features.behavioural.context import FeatureContext
from features.behavioural.definitions import delinquency_episodes, first_time_delinquent

log = logging.getLogger(__name__)

#: The policy's flags the customers table carries (the contract's boolean inputs the schema holds;
#: first_time_delinquency is computed from the statements).
POLICY_FLAGS = tuple(
    p.name for p in POLICY_INPUTS if p.dtype == "bool" and p.name in CUSTOMERS.names
)
#: The input columns (`table.column`) each policy input is computed from (besides the keys).
POLICY_SOURCES: dict[str, tuple[str, ...]] = {
    "days_past_due": ("statements.days_past_due",),
    "overdue_amount": ("statements.overdue_amount",),
    "first_time_delinquency": ("statements.days_past_due",),
    **{flag: (f"customers.{flag}",) for flag in POLICY_FLAGS},
    "timezone": ("customers.timezone",),
    "outstanding_balance": ("statements.outstanding_balance",),
    "delinquency_episodes": ("statements.days_past_due",),
    "broken_promises": (),
    "never_paid": ("statements.paid_amount",),
}


def _flag(values: pd.Series) -> np.ndarray | pd.arrays.BooleanArray:
    """A flag column as bool, or as pandas' nullable boolean where a value is missing (kept
    missing, never read as False)."""
    flags = values.astype("boolean")
    return flags.array if flags.isna().any() else flags.to_numpy(dtype=bool)


def _missing(dtype: str, n: int) -> object:
    """An input left missing: NaN for numbers, NA for flags, None for text."""
    if dtype == "bool":
        return pd.array([pd.NA] * n, dtype="boolean")
    if dtype == "str":
        return np.full(n, None, dtype=object)
    return np.full(n, np.nan)


def policy_columns(ctx: FeatureContext, available: frozenset[str]) -> dict[str, object]:
    """The `policy__` columns in contract order, each computed when `available` has its sources
    (a new contract input fails here with a KeyError until it is declared and computed)."""
    if ctx.customer is None:
        raise ValueError("the policy inputs need the customers table")
    customer = ctx.customer
    n = ctx.rows
    in_lookback = ctx.in_lookback

    def compute(name: str) -> object:
        if name == "days_past_due":
            return np.nan_to_num(ctx.last("dpd")).astype(np.int32)
        if name == "overdue_amount":
            return np.nan_to_num(ctx.last("overdue_amount"))
        if name == "first_time_delinquency":
            return first_time_delinquent(ctx)
        if name in POLICY_FLAGS:
            return _flag(customer[name])
        if name == "timezone":
            tz = customer["timezone"]
            return tz.astype(object).where(tz.notna(), None).to_numpy()
        if name == "outstanding_balance":
            return np.nan_to_num(ctx.last("outstanding_balance"))
        if name == "delinquency_episodes":
            return np.nan_to_num(delinquency_episodes(ctx)).astype(np.int32)
        if name == "broken_promises":
            default = POLICY_INPUT_BY_NAME[name].table_default
            return np.full(n, default, dtype=np.int32)
        if name == "never_paid":
            # nothing paid in the look-back's cycles (none: not known to be unpaid)
            paid = ctx.totals("paid_any", [ctx.lookback])[ctx.lookback]
            return in_lookback & (np.nan_to_num(paid) == 0)
        raise KeyError(name)

    policy: dict[str, object] = {}
    left: list[str] = []
    for spec in POLICY_INPUTS:
        lacking = [s for s in POLICY_SOURCES[spec.name] if s not in available]
        if lacking:
            left.append(f"{spec.name} ({', '.join(lacking)})")
            policy[spec.feature_column] = _missing(spec.dtype, n)
        else:
            policy[spec.feature_column] = compute(spec.name)
    if left:
        log.warning("policy inputs left missing for want of their columns: %s", "; ".join(left))
    return policy

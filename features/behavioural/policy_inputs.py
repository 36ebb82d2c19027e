"""The collection policy's inputs (`POLICY_INPUTS`, by contract name), written beside the
features as `policy__` columns: they route collections and are never model inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.contracts import POLICY_INPUTS
from core.schema import CUSTOMERS
from features.behavioural.context import FeatureContext
from features.behavioural.definitions import delinquency_episodes, first_time_delinquent

#: The policy's flags the customers table carries (the contract's boolean inputs the schema holds;
#: first_time_delinquency is computed from the statements).
POLICY_FLAGS = tuple(
    p.name for p in POLICY_INPUTS if p.dtype == "bool" and p.name in CUSTOMERS.names
)
DEFAULT_TIMEZONE = "Asia/Shanghai"


def policy_columns(ctx: FeatureContext) -> dict[str, object]:
    """The `policy__` columns in contract order (a new contract input fails here with a
    KeyError until it is computed)."""
    if ctx.customer is None:
        raise ValueError("the policy inputs need the customers table")
    customer = ctx.customer
    n = ctx.rows
    has_hist = ctx.has_history
    policy: dict[str, object] = {
        "days_past_due": np.nan_to_num(ctx.last("dpd")).astype(np.int32),
        "overdue_amount": np.nan_to_num(ctx.last("overdue_amount")),
        "first_time_delinquency": first_time_delinquent(ctx),
    }
    for flag in POLICY_FLAGS:
        col = customer[flag] if flag in customer else pd.Series(False, index=customer.index)
        policy[flag] = col.fillna(False).astype(bool).to_numpy()
    tz = customer["timezone"] if "timezone" in customer else pd.Series(None, index=customer.index)
    policy["timezone"] = tz.fillna(DEFAULT_TIMEZONE).astype(str).to_numpy()
    policy["outstanding_balance"] = np.nan_to_num(ctx.last("outstanding_balance"))
    # collection-policy v2 inputs (routes.repeat_or_wilful, routes.suspected_fraud): paid
    # anything within the data; the book has no promise-to-pay records, so none were broken
    payments = ctx.totals("paid_any", [None])[None]
    episodes = delinquency_episodes(ctx)
    policy["delinquency_episodes"] = np.where(has_hist, np.nan_to_num(episodes), 0).astype(np.int32)
    policy["broken_promises"] = np.zeros(n, dtype=np.int32)
    policy["never_paid"] = has_hist & (np.nan_to_num(payments) == 0)
    return {p.feature_column: policy[p.name] for p in POLICY_INPUTS}

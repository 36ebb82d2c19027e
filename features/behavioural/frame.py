"""One feature row per observation: check the tables, index the history, compute every declared
feature (`definitions.GROUPS`) and lay out the frame the catalogue describes."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.catalogue import Catalogue
from core.contracts import POLICY_FEATURE_COLUMNS
from core.errors import DataValidationError
from features.behavioural.context import (
    ATTRIBUTE_COLUMNS,
    CUSTOMER_COLUMNS,
    STATEMENT_COLUMNS,
    FeatureContext,
)
from features.behavioural.definitions import feature, feature_columns
from features.behavioural.point_in_time import (
    ID,
    OBSERVATION_DATE,
    Prepared,
    attribute_history,
    prepare,
)
from features.behavioural.policy_inputs import policy_columns
from features.behavioural.signals import Signals

log = logging.getLogger(__name__)

# Kept beside the features for fairness reports, never model inputs (so never a reason code):
# age is a prohibited basis under ECOA/Reg B and most fair-lending regimes.
PROTECTED_ATTRIBUTES = ("age_band",)


def _require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(name, f"missing required column(s) {missing}", column=missing[0])


def check_windows(windows: Sequence[int]) -> list[int]:
    """Sorted distinct positive month windows (ValueError otherwise)."""
    ws = sorted({int(w) for w in windows})
    if not ws or ws[0] < 1:
        raise ValueError(f"windows must be positive month counts, got {list(windows)}")
    return ws


def behavioural_catalogue(windows: Sequence[int]) -> Catalogue:
    """The catalogue `build_behavioural_features` produces for these windows."""
    return Catalogue(
        features=[col.spec for col in feature_columns(check_windows(windows))],
        protected=[f"protected__{c}" for c in PROTECTED_ATTRIBUTES],
        policy_columns=list(POLICY_FEATURE_COLUMNS),
    )


def _in_force(
    cust: pd.DataFrame,
    customer: pd.DataFrame,
    prep: Prepared,
    attributes: pd.DataFrame | None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The credit limit in force at each statement date, and the credit limit and income band in
    force at each observation date (the customers table's values when there is no history)."""
    dated: dict[str, np.ndarray] = {}
    if attributes is None:
        limit_all = cust["credit_limit"].to_numpy(np.float64)
        stmt_pos = cust.index.get_indexer(prep.stmt[ID].to_numpy())
        stmt_limit = np.where(stmt_pos >= 0, limit_all[np.maximum(stmt_pos, 0)], np.nan)
        dated["credit_limit"] = customer["credit_limit"].to_numpy(np.float64)
        dated["income_band"] = customer["income_band"].to_numpy(object)
    else:
        _require(attributes, ATTRIBUTE_COLUMNS, "attributes")
        as_of = attribute_history(attributes, prep.accounts)
        stmt_limit = as_of.values("credit_limit", as_of.position(prep.codes, prep.days))
        stmt_limit = stmt_limit.astype(np.float64)
        obs_at = as_of.position(prep.o_codes, prep.o_days)
        dated["credit_limit"] = as_of.values("credit_limit", obs_at).astype(np.float64)
        dated["income_band"] = as_of.values("income_band", obs_at)
    return stmt_limit, dated


def build_behavioural_features(
    customers: pd.DataFrame,
    statements: pd.DataFrame,
    observations: pd.DataFrame,
    windows: Sequence[int],
    attributes: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, Catalogue]:
    """One feature row per row of `observations`, from statements strictly before its date.

    `attributes` is the dated credit limit / income band history (`RAW_ATTRIBUTES`): each
    statement's utilisation uses the limit in force at its date and the observation's
    `credit_limit` / `income_band` are those in force at its date (the last change dated strictly
    before it; missing when the history has none yet). Without it the customers table's values
    hold for all dates (a book whose attributes never change).

    Returns the frame (`account_id`, `observation_date`, `default`, `is_current`, the features in
    catalogue order as float32 / category, then the `policy__` columns) and its catalogue.
    """
    ws = check_windows(windows)
    _require(customers, CUSTOMER_COLUMNS, "customers")
    _require(statements, STATEMENT_COLUMNS, "statements")
    _require(observations, (ID, OBSERVATION_DATE), "observations")
    if customers[ID].duplicated().any():
        row = int(np.flatnonzero(customers[ID].duplicated().to_numpy())[0])
        raise DataValidationError("customers", "account_id is not unique", column=ID, row=row)

    prep = prepare(statements, observations, ws)
    cust = customers.set_index(ID)
    obs_pos = cust.index.get_indexer(observations[ID].to_numpy())
    if (obs_pos < 0).any():
        row = int(np.flatnonzero(obs_pos < 0)[0])
        raise DataValidationError(
            "observations", "account_id not found in customers", column=ID, row=row
        )
    customer = cust.take(obs_pos)
    stmt_limit, dated = _in_force(cust, customer, prep, attributes)
    ctx = FeatureContext(
        prep, ws, Signals(prep.stmt, prep.codes, stmt_limit), observations, customer, dated
    )

    n = len(observations)
    catalogue = behavioural_catalogue(ws)
    out: dict[str, object] = {
        ID: observations[ID].to_numpy(),
        OBSERVATION_DATE: observations[OBSERVATION_DATE].to_numpy(),
        "default": (
            observations["default"].astype("Int8").to_numpy()
            if "default" in observations
            else pd.array([pd.NA] * n, dtype="Int8")
        ),
        "is_current": (
            observations["is_current"].fillna(False).astype(bool).to_numpy()
            if "is_current" in observations
            else np.zeros(n, dtype=bool)
        ),
    }
    for col in feature_columns(ws):
        out[col.name] = col.values(ctx)
    for name in PROTECTED_ATTRIBUTES:
        if name in cust:
            out[f"protected__{name}"] = cust[name].astype(str).to_numpy()[obs_pos]
    out.update(policy_columns(ctx))
    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    log.info(
        "behavioural features: %d rows x %d features from %d statements",
        n,
        len(catalogue.features),
        len(prep.stmt),
    )
    return frame, catalogue


#: The benchmark subset of `core_window_aggregates`, per window in this order.
CORE_AGGREGATES = ("max_dpd_{w}m", "utilisation_mean_{w}m", "late_payments_{w}m")


def core_window_aggregates(
    statements: pd.DataFrame,
    observations: pd.DataFrame,
    credit_limit: pd.Series,
    windows: Sequence[int],
) -> pd.DataFrame:
    """The benchmark subset (max dpd, mean utilisation, late payments per window) on this engine.

    `credit_limit` is indexed by account_id. Same numbers as the full build (the same feature
    definitions); exposed so the benchmark can time it against the same aggregation written as
    one SQL query.
    """
    ws = check_windows(windows)
    prep = prepare(statements, observations, ws)
    limit = credit_limit.reindex(prep.stmt[ID]).to_numpy(np.float64)
    ctx = FeatureContext(prep, ws, Signals(prep.stmt, prep.codes, limit), observations)
    out: dict[str, np.ndarray] = {}
    for w in ws:
        for pattern in CORE_AGGREGATES:
            f = feature(pattern)
            out[pattern.format(w=w)] = f.compute(ctx, w)
    return pd.DataFrame(out)

"""One feature row per observation: check the tables, index the history, compute every declared
feature (`definitions.GROUPS`) and lay out the frame the catalogue describes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from core.catalogue import Catalogue
from core.contracts import POLICY_FEATURE_COLUMNS
from core.errors import DataValidationError
from features.behavioural.context import (
    DATED_COLUMNS,
    REQUIRED_COLUMNS,
    FeatureContext,
    available_sources,
)
from features.behavioural.definitions import Column, feature, feature_columns
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


class BehaviouralFeatures(NamedTuple):
    """What a build returns: the frame, its catalogue (the features computed), and the features
    skipped for want of an input column, each as `{"feature": name, "missing": [sources]}`."""

    frame: pd.DataFrame
    catalogue: Catalogue
    skipped: list[dict[str, object]]


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


def check_lookback(max_lookback_months: int, windows: Sequence[int]) -> int:
    """The look-back in months, at least the longest window (ValueError otherwise)."""
    lookback = int(max_lookback_months)
    if lookback != max_lookback_months or lookback < max(windows):
        raise ValueError(
            f"max_lookback_months must be a whole number of months >= the longest window "
            f"({max(windows)}), got {max_lookback_months!r}"
        )
    return lookback


def plan_columns(
    windows: Sequence[int], max_lookback_months: int | None, available: frozenset[str] | None
) -> tuple[list[Column], list[dict[str, object]]]:
    """The columns a build computes and those it skips (with the sources it lacks), in catalogue
    order; `available` None: every source is there."""
    columns: list[Column] = []
    skipped: list[dict[str, object]] = []
    for col in feature_columns(windows, max_lookback_months):
        missing = [] if available is None else col.feature.missing(available)
        if missing:
            skipped.append({"feature": col.name, "missing": missing})
        else:
            columns.append(col)
    return columns, skipped


def behavioural_catalogue(
    windows: Sequence[int],
    max_lookback_months: int | None = None,
    available: frozenset[str] | None = None,
) -> Catalogue:
    """The catalogue `build_behavioural_features` produces for these windows and look-back from
    tables with the `available` sources (`context.available_sources`; None: all of them).

    `max_lookback_months` None gives the names alone (the descriptions then name the parameter),
    for callers that read no values (the reason dictionary's check).
    """
    ws = check_windows(windows)
    lookback = None if max_lookback_months is None else check_lookback(max_lookback_months, ws)
    columns, _ = plan_columns(ws, lookback, available)
    return Catalogue(
        features=[col.spec for col in columns],
        protected=[
            f"protected__{c}"
            for c in PROTECTED_ATTRIBUTES
            if available is None or f"customers.{c}" in available
        ],
        policy_columns=list(POLICY_FEATURE_COLUMNS),
    )


def _in_force(
    cust: pd.DataFrame,
    customer: pd.DataFrame,
    prep: Prepared,
    attributes: pd.DataFrame | None,
) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """The credit limit in force at each statement date (None when neither table has one), and
    the credit limit and income band in force at each observation date, each from the dated
    history when it has the column, else from the customers table (a value that never changes),
    else absent."""
    dated: dict[str, np.ndarray] = {}
    stmt_limit: np.ndarray | None = None
    as_of = attribute_history(attributes, prep.accounts) if attributes is not None else None
    obs_at = as_of.position(prep.o_codes, prep.o_days) if as_of is not None else None
    for column in DATED_COLUMNS:
        kind = np.float64 if column == "credit_limit" else object
        if as_of is not None and obs_at is not None and column in as_of.rows:
            dated[column] = as_of.values(column, obs_at).astype(kind)
            if column == "credit_limit":
                at_statement = as_of.position(prep.codes, prep.days)
                stmt_limit = as_of.values(column, at_statement).astype(np.float64)
        elif column in cust:
            dated[column] = customer[column].to_numpy(kind)
            if column == "credit_limit":
                limit_all = cust[column].to_numpy(np.float64)
                stmt_pos = cust.index.get_indexer(prep.stmt[ID].to_numpy())
                stmt_limit = np.where(stmt_pos >= 0, limit_all[np.maximum(stmt_pos, 0)], np.nan)
    return stmt_limit, dated


def build_behavioural_features(
    customers: pd.DataFrame,
    statements: pd.DataFrame,
    observations: pd.DataFrame,
    windows: Sequence[int],
    max_lookback_months: int,
    attributes: pd.DataFrame | None = None,
) -> BehaviouralFeatures:
    """One feature row per row of `observations`, from statements strictly before its date and
    no older than `max_lookback_months` (params `features.max_lookback_months`).

    The tables may carry any columns beyond the required ones (`context.REQUIRED_COLUMNS`):
    exactly the features whose `sources` are present are computed; the others are skipped and
    listed with the columns they lack, never filled. The policy inputs are computed from what
    exists; one whose source is missing is left missing (`policy_inputs`).

    `attributes` is the dated credit limit / income band history (`RAW_ATTRIBUTES`): each
    statement's utilisation uses the limit in force at its date and the observation's
    `credit_limit` / `income_band` are those in force at its date (the last change dated strictly
    before it; missing when the history has none yet). Without it (or without the column in it)
    the customers table's values hold for all dates (a book whose attributes never change).

    Returns the frame (`account_id`, `observation_date`, `default`, `is_current`, the computed
    features in catalogue order as float32 / category, then the protected and `policy__`
    columns), its catalogue and the skipped features.
    """
    ws = check_windows(windows)
    lookback = check_lookback(max_lookback_months, ws)
    _require(customers, REQUIRED_COLUMNS["customers"], "customers")
    _require(statements, REQUIRED_COLUMNS["statements"], "statements")
    _require(observations, REQUIRED_COLUMNS["observations"], "observations")
    if attributes is not None:
        _require(attributes, REQUIRED_COLUMNS["attributes"], "attributes")
    if customers[ID].duplicated().any():
        row = int(np.flatnonzero(customers[ID].duplicated().to_numpy())[0])
        raise DataValidationError("customers", "account_id is not unique", column=ID, row=row)

    available = available_sources(customers, statements, attributes)
    columns, skipped = plan_columns(ws, lookback, available)
    prep = prepare(statements, observations, sorted({*ws, lookback}))
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
        prep,
        ws,
        lookback,
        Signals(prep.stmt, prep.codes, stmt_limit),
        observations,
        customer,
        dated,
    )

    n = len(observations)
    catalogue = behavioural_catalogue(ws, lookback, available)
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
    for col in columns:
        out[col.name] = col.values(ctx)
    for name in PROTECTED_ATTRIBUTES:
        if name in cust:
            out[f"protected__{name}"] = cust[name].astype(str).to_numpy()[obs_pos]
    out.update(policy_columns(ctx, available))
    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    log.info(
        "behavioural features: %d rows x %d features from %d statements",
        n,
        len(catalogue.features),
        len(prep.stmt),
    )
    if skipped:
        log.warning(
            "skipped %d feature(s) whose input columns the data lacks: %s",
            len(skipped),
            "; ".join(f"{s['feature']} ({', '.join(map(str, s['missing']))})" for s in skipped),
        )
    return BehaviouralFeatures(frame, catalogue, skipped)


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
    # the windowed features read no look-back beyond their windows: the longest stands in for it
    ctx = FeatureContext(prep, ws, ws[-1], Signals(prep.stmt, prep.codes, limit), observations)
    out: dict[str, np.ndarray] = {}
    for w in ws:
        for pattern in CORE_AGGREGATES:
            f = feature(pattern)
            out[pattern.format(w=w)] = f.compute(ctx, w)
    return pd.DataFrame(out)

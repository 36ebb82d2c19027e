"""Labels from a stated default definition: the one place the code says what a default is.

A lender states its definition (params `data.history.default_definition`; the built-in book uses
the generator's): an account defaults when a statement shows `dpd_threshold` or more days past
due on a material amount (overdue amount at or above `materiality_abs`, in the book's currency,
and at or above `materiality_rel` of the outstanding balance) within `horizon_months` of the
observation date. For each observation (account, date) the statements say one of:

- `in_default`: already in default at the date: its last statement before the date is at or
  beyond the DPD threshold, or a default event happened in the `probation_months` before the
  date (a cured account stays in default until it has performed that long). Not trained on;
  scored as in default (PD 1, grade D).
- `defaulted` (label 1): a default event in the horizon, i.e. a statement of one of the
  `horizon_months` statement months starting with the observation date's month.
- `performing` (label 0): no default event in the horizon, and the data cover it.
- `censored`: no default event yet and the horizon runs past the data (the last statement month
  of the book is before the horizon's last month): unknown, not trained on.

Months are calendar months of the statement dates (a statement of the observation date's month is
dated on or after the date in a book whose dates fall on cycle ends after the first of the month;
the point-in-time rule for features, strictly before the date, is unchanged). Everything here is
vectorised per account with sorted arrays; a book bucketed by account is labelled bucket by bucket.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.dpd import DEFAULT_DPD
from core.errors import DataValidationError, InvalidConfig

#: The statuses `derive_labels` gives, in report order.
STATUSES: tuple[str, ...] = ("performing", "defaulted", "in_default", "censored")


@dataclass(frozen=True)
class DefaultDefinition:
    """What a default is (see the module doc); every value is stated in params.yaml."""

    dpd_threshold: int
    horizon_months: int
    materiality_abs: float
    materiality_rel: float
    probation_months: int

    def __post_init__(self) -> None:
        if self.dpd_threshold < 1:
            raise InvalidConfig("dpd_threshold", "must be at least 1 day", self.dpd_threshold)
        if self.dpd_threshold != DEFAULT_DPD:
            # the scorer treats DEFAULT_DPD+ as in default: a different threshold would label
            # and score by two rules
            raise InvalidConfig(
                "dpd_threshold",
                f"must equal the project's default threshold ({DEFAULT_DPD} days, core.dpd)",
                self.dpd_threshold,
            )
        if not 1 <= self.horizon_months <= 60:
            raise InvalidConfig("horizon_months", "must be 1 to 60 months", self.horizon_months)
        if self.materiality_abs < 0:
            raise InvalidConfig("materiality_abs", "must be >= 0", self.materiality_abs)
        if not 0 <= self.materiality_rel <= 1:
            raise InvalidConfig("materiality_rel", "must lie in [0, 1]", self.materiality_rel)
        if not 0 <= self.probation_months <= 36:
            raise InvalidConfig("probation_months", "must be 0 to 36", self.probation_months)

    @property
    def needs_amounts(self) -> bool:
        """Materiality is read from the overdue amount (and the balance, when relative)."""
        return self.materiality_abs > 0 or self.materiality_rel > 0

    def text(self, currency: str) -> str:
        """The definition in one sentence, for the model card and the reports."""
        material = ""
        if self.needs_amounts:
            parts = []
            if self.materiality_abs > 0:
                parts.append(f"at least {self.materiality_abs:g} {currency}")
            if self.materiality_rel > 0:
                parts.append(f"at least {self.materiality_rel:.1%} of the balance")
            material = " on an overdue amount of " + " and ".join(parts)
        probation = (
            f"; a cured account stays in default for {self.probation_months} months of probation"
            if self.probation_months
            else "; no probation after a cure"
        )
        return (
            f"{self.dpd_threshold}+ days past due{material} within {self.horizon_months} months "
            f"of the observation date{probation}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def month_number(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Calendar month of each date as a count (year * 12 + month - 1); -1 where missing."""
    values = np.asarray(dates, dtype="datetime64[ns]")
    months = values.astype("datetime64[M]")
    out = months.astype(np.int64) + 1970 * 12
    return np.where(np.isnat(months), -1, out).astype(np.int64)


def default_events(statements: pd.DataFrame, definition: DefaultDefinition) -> np.ndarray:
    """Per statement: does it show a default (DPD at the threshold on a material amount)?

    Materiality needs `overdue_amount` (and `outstanding_balance` for the relative part): a
    definition with materiality on a book without those columns is an error, never a guess."""
    dpd = statements["days_past_due"].to_numpy(dtype="float64", na_value=np.nan)
    event = dpd >= definition.dpd_threshold
    if definition.needs_amounts:
        if "overdue_amount" not in statements:
            raise DataValidationError(
                "statements",
                "the default definition has a materiality threshold but the statements have no "
                "overdue amount",
                column="overdue_amount",
                hint="Map the lender's overdue-amount column (data.history.columns) or set "
                "materiality_abs and materiality_rel to 0.",
            )
        overdue = statements["overdue_amount"].to_numpy(dtype="float64", na_value=np.nan)
        event &= overdue >= definition.materiality_abs
        if definition.materiality_rel > 0:
            balance = statements["outstanding_balance"].to_numpy(dtype="float64", na_value=np.nan)
            event &= overdue >= definition.materiality_rel * np.maximum(balance, 0.0)
    return event


@dataclass(frozen=True)
class Labels:
    """One row per observation: the label (Int8, NA unless performing/defaulted) and status."""

    frame: pd.DataFrame  # account_id, observation_date, default, status

    def counts(self) -> list[dict[str, Any]]:
        """Per observation date: observations and each status (what ingest reports)."""
        f = self.frame
        out = []
        for date, rows in f.groupby("observation_date", sort=True):
            status = rows["status"].value_counts()
            entry: dict[str, Any] = {
                "observation_date": str(pd.Timestamp(date).date()),
                "observations": len(rows),
            }
            entry.update({s: int(status.get(s, 0)) for s in STATUSES})
            entry["labelled"] = entry["performing"] + entry["defaulted"]
            entry["default_rate"] = (
                entry["defaulted"] / entry["labelled"] if entry["labelled"] else None
            )
            out.append(entry)
        return out


def derive_labels(
    statements: pd.DataFrame,
    observations: pd.DataFrame,
    definition: DefaultDefinition,
    last_month: int | None = None,
) -> Labels:
    """Label each observation (account_id, observation_date) from the statements.

    `statements` holds account_id, statement_date, days_past_due (and overdue_amount,
    outstanding_balance when the definition has materiality); `last_month` is the book's last
    statement month (`month_number`), default the latest in `statements` (pass the whole book's
    when labelling it bucket by bucket). Observations of accounts without statements are
    labelled from none: performing when the horizon is covered, else censored."""
    for col in ("account_id", "statement_date", "days_past_due"):
        if col not in statements:
            raise DataValidationError("statements", "required column is missing", column=col)
    keys = pd.Index(observations["account_id"]).append(pd.Index(statements["account_id"]))
    codes, _ = pd.factorize(keys)
    obs_code = codes[: len(observations)]
    st_code = codes[len(observations) :]
    st_month = month_number(statements["statement_date"])
    event = default_events(statements, definition)
    dpd = statements["days_past_due"].to_numpy(dtype="float64", na_value=np.nan)
    if last_month is None:
        last_month = int(st_month.max()) if len(st_month) else -1

    # statements sorted by (account, date): per account a run of rows
    order = np.lexsort((statements["statement_date"].to_numpy(), st_code))
    s_code, s_month = st_code[order], st_month[order]
    s_event, s_dpd = event[order], dpd[order]
    s_date = statements["statement_date"].to_numpy(dtype="datetime64[ns]")[order]
    # cumulative count of default events per row, to count events in a month range by search
    cum_events = np.concatenate([[0], np.cumsum(s_event)])
    # the key (account, month) as one sortable int64, per statement and per query
    stride = np.int64(1 << 32)
    s_key = s_code.astype(np.int64) * stride + s_month

    o_date = observations["observation_date"].to_numpy(dtype="datetime64[ns]")
    o_month = month_number(o_date)
    o_code = obs_code.astype(np.int64)
    h = definition.horizon_months

    def events_between(lo_month: np.ndarray, hi_month: np.ndarray) -> np.ndarray:
        """Default events of each observation's account in statement months [lo, hi)."""
        lo = np.searchsorted(s_key, o_code * stride + lo_month, side="left")
        hi = np.searchsorted(s_key, o_code * stride + hi_month, side="left")
        return cum_events[hi] - cum_events[lo]

    future_events = events_between(o_month, o_month + h)
    recent_events = (
        events_between(o_month - definition.probation_months, o_month)
        if definition.probation_months
        else np.zeros(len(observations), dtype=np.int64)
    )
    # last statement strictly before the observation date: its DPD
    s_day = _day_key(s_code, s_date)  # sorted: rows are in (account, date) order
    prev = np.searchsorted(s_day, _day_key(o_code, o_date), side="left") - 1
    has_before = (prev >= 0) & (s_code[np.maximum(prev, 0)] == o_code)
    last_dpd = np.where(has_before, s_dpd[np.maximum(prev, 0)], np.nan)
    in_default = (last_dpd >= definition.dpd_threshold) | (recent_events > 0)

    status = np.full(len(observations), "performing", dtype=object)
    status[future_events > 0] = "defaulted"
    censored = (future_events == 0) & (last_month < o_month + h - 1)
    status[censored] = "censored"
    status[in_default] = "in_default"
    label = pd.array(np.where(status == "defaulted", 1, 0), dtype="Int8")
    label[np.isin(status, ("in_default", "censored"))] = pd.NA
    frame = pd.DataFrame(
        {
            "account_id": observations["account_id"].to_numpy(),
            "observation_date": o_date,
            "default": label,
            "status": status,
        }
    )
    return Labels(frame)


#: Days since 1970 shifted positive, and the room they take inside an (account, day) int64 key.
_DAY_OFFSET = 1 << 20
_ACCOUNT_SHIFT = np.int64(1 << 22)


def _day_key(code: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """(account code, calendar day) as one int64 that sorts like the pair."""
    days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64) + _DAY_OFFSET
    return code.astype(np.int64) * _ACCOUNT_SHIFT + days

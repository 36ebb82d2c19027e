"""Per-statement quantities, each known at its own statement date (it reads that statement and the
previous one of the same account, never a later one).

Each signal is computed on first use and kept for the build, so a build computes only the signals
its features read (and so reads only their columns).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from features.behavioural.point_in_time import days

PAYMENT_RATIO_CAP = 10.0  # ratios above this are overpayments; capping keeps means meaningful
_NAT_DAY = np.iinfo(np.int64).min


class Signals:
    """The signals of statements sorted by (account, statement date).

    `codes` is each statement's account code and `limit` the credit limit in force at its date
    (only `utilisation` reads it).
    """

    def __init__(self, stmt: pd.DataFrame, codes: np.ndarray, limit: np.ndarray | None) -> None:
        self.stmt = stmt
        self.codes = codes
        self.limit = limit

    def column(self, name: str) -> np.ndarray:
        """A statement column as float64, missing values as NaN."""
        return self.stmt[name].to_numpy(dtype=np.float64, na_value=np.nan)

    def get(self, name: str) -> np.ndarray:
        """A signal by name, or a statement column (`column`) when no signal has that name."""
        if name in _SIGNALS:
            return getattr(self, name)
        return self.column(name)

    # --- the previous statement of the same account -----------------------------------------
    @cached_property
    def same_prev(self) -> np.ndarray:
        """Whether the row before is the same account's previous statement."""
        same = np.zeros(len(self.stmt), dtype=bool)
        if len(self.stmt) > 1:
            same[1:] = self.codes[1:] == self.codes[:-1]
        return same

    def _previous(self, values: np.ndarray) -> np.ndarray:
        out = np.full(len(values), np.nan)
        out[1:] = values[:-1]
        out[~self.same_prev] = np.nan
        return out

    @cached_property
    def paid(self) -> np.ndarray:
        return self.column("paid_amount")

    @cached_property
    def prev_min_due(self) -> np.ndarray:
        return self._previous(self.column("min_due"))

    # --- signals ----------------------------------------------------------------------------
    @cached_property
    def utilisation(self) -> np.ndarray:
        """Outstanding balance / the credit limit in force at the statement date."""
        if self.limit is None:
            raise ValueError("utilisation needs the credit limit of each statement")
        with np.errstate(invalid="ignore", divide="ignore"):
            util = np.where(
                self.limit > 0,
                self.stmt["outstanding_balance"].to_numpy(np.float64) / self.limit,
                np.nan,
            )
        return util.astype(np.float32)

    @cached_property
    def ratio_min(self) -> np.ndarray:
        """Paid / the previous statement's minimum due, capped at PAYMENT_RATIO_CAP."""
        prev_min = self.prev_min_due
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(prev_min > 0, self.paid / prev_min, np.nan)
        return np.clip(ratio, 0.0, PAYMENT_RATIO_CAP).astype(np.float32)

    @cached_property
    def ratio_bill(self) -> np.ndarray:
        """Paid / the previous statement's bill, capped at PAYMENT_RATIO_CAP."""
        prev_bill = self._previous(self.column("bill_amount"))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(prev_bill > 0, self.paid / prev_bill, np.nan)
        return np.clip(ratio, 0.0, PAYMENT_RATIO_CAP).astype(np.float32)

    @cached_property
    def late(self) -> np.ndarray:
        """1 when the payment came after the previous due date or fell short of the previous
        minimum due (0 for an account's first statement)."""
        paid, prev_min = self.paid, self.prev_min_due
        pay_days = days(self.stmt["payment_date"]).astype(np.float64)
        pay_days[pay_days == _NAT_DAY] = np.nan
        due_days = days(self.stmt["due_date"]).astype(np.float64)
        due_days[due_days == _NAT_DAY] = np.nan
        prev_due = self._previous(due_days)
        with np.errstate(invalid="ignore"):
            paid_after_due = (pay_days - prev_due) > 0
            short = (prev_min > 0) & ~(paid + 1e-6 >= prev_min)
        return (self.same_prev & (paid_after_due | short)).astype(np.float32)

    @cached_property
    def _dpd(self) -> np.ndarray:
        return self.stmt["days_past_due"].to_numpy(dtype=np.float64, na_value=0.0)

    @cached_property
    def dpd(self) -> np.ndarray:
        """Days past due (missing = 0), float32."""
        return self._dpd.astype(np.float32)

    @cached_property
    def delinquent(self) -> np.ndarray:
        """Days past due > 0 (bool)."""
        return self._dpd > 0

    @cached_property
    def episode_start(self) -> np.ndarray:
        """1 where a delinquency spell starts (delinquent, and the previous statement of the same
        account was not)."""
        delinquent = self.delinquent
        prev_delinquent = np.zeros(len(self.stmt), dtype=bool)
        prev_delinquent[1:] = delinquent[:-1]
        return (delinquent & ~(prev_delinquent & self.same_prev)).astype(np.float32)

    @cached_property
    def paid_any(self) -> np.ndarray:
        """1 where anything was paid in the cycle."""
        return (self.paid > 0).astype(np.float64)


_SIGNALS = frozenset(
    {
        "utilisation",
        "ratio_min",
        "ratio_bill",
        "late",
        "dpd",
        "delinquent",
        "episode_start",
        "paid_any",
    }
)

"""What a feature's computation reads: the point-in-time history of each observation, the
statement signals, and the customer / attribute values in force at each observation date.

Aggregates several features share (the window means of a signal, its window maxima, its value at
the last statement) are computed once per build, on first use, and kept as per-observation
arrays (never the statement-length prefix sums behind them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from features.behavioural.point_in_time import (
    OBSERVATION_DATE,
    History,
    Prepared,
    account_cumsum,
    month_index,
    window_means,
)
from features.behavioural.signals import Signals

#: The input tables' columns (`RAW_*` contracts); a feature's `sources` name columns of these
#: (`table.column`). The keys (account_id, statement_date, effective_date, observation_date)
#: place rows in time and every feature reads them.
STATEMENT_COLUMNS = (
    "account_id",
    "statement_date",
    "due_date",
    "bill_amount",
    "min_due",
    "paid_amount",
    "payment_date",
    "days_past_due",
    "overdue_amount",
    "outstanding_balance",
    "instalment_plans",
)
CUSTOMER_COLUMNS = (
    "account_id",
    "signup_date",
    "age_band",
    "city_tier",
    "income_band",
    "credit_limit",
    "channel",
)
ATTRIBUTE_COLUMNS = ("account_id", "effective_date", "credit_limit", "income_band")
#: The columns a build cannot do without (a lender's history has at least these); every other
#: column is optional, and the features that read a missing one are skipped.
REQUIRED_COLUMNS = {
    "statements": ("account_id", "statement_date", "days_past_due", "outstanding_balance"),
    "customers": ("account_id",),
    "attributes": ("account_id", "effective_date"),
    "observations": ("account_id", "observation_date"),
}
#: The attributes the dated history may carry; without it (or without the column in it) the
#: customers table's column of the same name holds for every date.
DATED_COLUMNS = ("credit_limit", "income_band")


def available_sources(
    customers: pd.DataFrame, statements: pd.DataFrame, attributes: pd.DataFrame | None
) -> frozenset[str]:
    """The `table.column` sources these tables provide, `attributes.*` falling back column by
    column to the customers table when the dated history (or its column) is absent."""
    out = {f"statements.{c}" for c in statements.columns}
    out |= {f"customers.{c}" for c in customers.columns}
    if attributes is not None:
        out |= {f"attributes.{c}" for c in attributes.columns}
    out |= {f"attributes.{c}" for c in DATED_COLUMNS if c in customers.columns}
    return frozenset(out)


@dataclass
class FeatureContext:
    """One build's inputs, aligned with the observations (row i = observation i)."""

    prepared: Prepared
    windows: list[int]  # sorted, distinct month windows
    #: months of history any feature reads (`features.max_lookback_months`, >= every window):
    #: the last statement and the look-back features read no statement older than this
    lookback: int
    signals: Signals
    observations: pd.DataFrame
    #: the customers row of each observation (None when the caller has no customers table)
    customer: pd.DataFrame | None = None
    #: credit_limit / income_band in force at each observation date
    dated: dict[str, np.ndarray] = field(default_factory=dict)
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def hist(self) -> History:
        return self.prepared.hist

    @property
    def rows(self) -> int:
        return len(self.observations)

    @property
    def shortest(self) -> int:
        return self.windows[0]

    @property
    def longest(self) -> int:
        return self.windows[-1]

    @cached_property
    def observation_month(self) -> np.ndarray:
        """Calendar month of each observation date (months since 1970-01)."""
        return month_index(self.observations[OBSERVATION_DATE])

    @cached_property
    def in_lookback(self) -> np.ndarray:
        """Whether each observation has a statement in the look-back (the `lookback` months
        before its date): without one, the look-back features are missing."""
        return self.hist.count(self.lookback) > 0

    def memo(self, key: Any, make: Callable[[], Any]) -> Any:
        """`make()` once per build under `key`."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def last(self, name: str) -> np.ndarray:
        """A signal (or statement column) at the last statement before each date, within the
        look-back (NaN: none in it)."""
        return self.memo(
            ("last", name),
            lambda: self.hist.last(self.signals.get(name), window=self.lookback),
        )

    def means(self, name: str) -> dict[int, np.ndarray]:
        """Mean of a signal's non-missing values over each window."""
        return self.memo(
            ("means", name), lambda: window_means(self.hist, self.signals.get(name), self.windows)
        )

    def maxima(self, name: str, windows: Sequence[int] | None = None) -> dict[int, np.ndarray]:
        """Max of a signal (NaN ignored) over each of `windows` (default: all windows)."""
        ws = tuple(self.windows if windows is None else windows)
        return self.memo(
            ("maxima", name, ws), lambda: self.hist.window_max(self.signals.get(name), ws)
        )

    def totals(self, name: str, windows: Sequence[int] | None = None) -> dict[int, np.ndarray]:
        """Sum of a signal over each of `windows` (default: all windows); 0 where a window has
        no statement. There is no whole-history total: every feature reads a fixed look-back."""
        ws = tuple(self.windows if windows is None else windows)

        def make() -> dict[int, np.ndarray]:
            prefix = account_cumsum(self.signals.get(name), self.hist.runs)
            return {w: self.hist.total(prefix, w) for w in ws}

        return self.memo(("totals", name, ws), make)

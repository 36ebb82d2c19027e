"""What was known strictly before each observation date: the point-in-time index of the book.

Statements count by statement date (`statement_date < observation_date`), dated attributes by
effective date (the last change dated strictly before the day), so training snapshots and the
current book share one code path and nothing from the outcome window leaks in. Nothing here knows
a feature: the feature definitions read the history through `History` and `AsOf`.

Why no merge: joining each observation to its account's statements materialises
observations x statements-per-account rows (about 90M at 1M customers). Instead statements are
sorted once by (account, date); each observation finds its history as an index range
`[start, end)` with `searchsorted`, sums and counts come from per-account cumulative sums, and
maxima from at most `max(windows)` vectorised gathers (one statement per monthly cycle). Memory
stays at a few arrays of the statement length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataValidationError

#: The key columns the index reads (every feature needs them, whatever its own inputs).
ID = "account_id"
STATEMENT_DATE = "statement_date"
OBSERVATION_DATE = "observation_date"
EFFECTIVE_DATE = "effective_date"
_DAY_OFFSET = 1 << 20  # days since 1970 shifted positive (covers dates back to ~840 AD)
_ACCOUNT_SHIFT = 1 << 22  # room for the shifted day number inside an int64 key
_NAT_DAY = np.iinfo(np.int64).min


def days(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Dates as int64 day numbers (NaT -> minimum int64)."""
    arr = np.asarray(values, dtype="datetime64[ns]")
    nat = np.isnat(arr)
    out = arr.view(np.int64) // np.int64(86_400_000_000_000)
    out[nat] = _NAT_DAY
    return out


def month_index(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Calendar months since 1970-01 as float64 (NaT -> NaN)."""
    arr = np.asarray(values, dtype="datetime64[ns]")
    out = arr.astype("datetime64[M]").astype(np.int64).astype(np.float64)
    out[np.isnat(arr)] = np.nan
    return out


@dataclass
class History:
    """Statements sorted by (account, date) plus each observation's index range into them."""

    runs: Runs  # the sorted statements by position within their account
    end: np.ndarray  # first statement on/after the observation date (exclusive end)
    first: np.ndarray  # first statement of the account (start of full history)
    starts: dict[
        int, np.ndarray
    ]  # window w -> first statement dated >= observation_date - w months

    @property
    def has_history(self) -> np.ndarray:
        """Whether each observation has any statement before its date."""
        return self.end > self.first

    def count(self, window: int | None) -> np.ndarray:
        """Statements in the window of `window` months (None: in the whole history)."""
        start = self.first if window is None else self.starts[window]
        return self.end - start

    def total(self, prefix: np.ndarray, window: int | None) -> np.ndarray:
        """Sum over the window from the per-account prefix sums of `account_cumsum`.

        Both ends lie in the observation's own account, so the result depends on that account's
        rows alone (the same bits however the book is partitioned).
        """
        start = self.first if window is None else self.starts[window]
        if not len(prefix):
            return np.zeros(len(self.end))
        upto = prefix[np.maximum(self.end - 1, 0)]
        before = np.where(start > self.first, prefix[np.maximum(start - 1, 0)], 0.0)
        return np.where(self.end > start, upto - before, 0.0)

    def last(
        self, values: np.ndarray, fill: float = np.nan, window: int | None = None
    ) -> np.ndarray:
        """`values` at the last statement before the date, `fill` where there is none (in the
        window of `window` months; None: in the whole history)."""
        start = self.first if window is None else self.starts[window]
        has = self.end > start
        idx = np.where(has, self.end - 1, 0)
        out = values[idx].astype(np.float64) if len(values) else np.zeros(len(idx))
        out[~has] = fill
        return out

    def window_max(self, values: np.ndarray, windows: Sequence[int]) -> dict[int, np.ndarray]:
        """Max of `values` (NaN ignored) over each window, stepping back one statement at a time.

        One gather per step serves all windows; the number of steps is the longest window's
        statement count (= the window length for monthly cycles).
        """
        todo = sorted(int(w) for w in windows)
        running = {w: np.full(len(self.end), -np.inf) for w in todo}
        widest = self.starts[todo[-1]]
        steps = int((self.end - widest).max()) if len(self.end) and len(values) else 0
        for k in range(steps):
            idx = self.end - 1 - k
            v = values[np.maximum(idx, 0)].astype(np.float64)
            v[np.isnan(v)] = -np.inf
            for w in todo:
                inside = idx >= self.starts[w]
                np.maximum(running[w], v, out=running[w], where=inside)
        for w in todo:
            running[w][np.isneginf(running[w])] = np.nan
        return running


@dataclass(frozen=True)
class Runs:
    """Sorted rows grouped by position within their account: `order[bounds[k]:bounds[k + 1]]`
    are the rows that are their account's k-th (computed once per table, used by every sum)."""

    order: np.ndarray
    bounds: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray) -> Runs:
        rows = np.arange(len(codes))
        new_account = np.ones(len(codes), dtype=bool)
        new_account[1:] = codes[1:] != codes[:-1]
        rank = rows - np.maximum.accumulate(np.where(new_account, rows, 0))
        counts = np.bincount(rank) if len(rank) else np.zeros(0, dtype=np.int64)
        small = len(rank) and rank.max() < np.iinfo(np.int16).max
        order = np.argsort(rank.astype(np.int16) if small else rank, kind="stable")  # radix
        return cls(order, np.concatenate([[0], np.cumsum(counts)]))


def account_cumsum(values: np.ndarray, runs: Runs) -> np.ndarray:
    """Inclusive prefix sum of `values` (float64, NaN counted as 0) restarting at each account.

    Each account is summed from its own first row, in row order, so a window sum never depends
    on the rows of other accounts: a partitioned book gives the same bits as the whole one (a
    prefix sum over the whole table does not). Vectorised by position within the account
    (`runs`): one step per statement of the longest history.
    """
    v = np.nan_to_num(values.astype(np.float64), nan=0.0)
    out = v.copy()
    for k in range(1, len(runs.bounds) - 1):
        idx = runs.order[runs.bounds[k] : runs.bounds[k + 1]]
        out[idx] = out[idx - 1] + v[idx]
    return out


def window_means(
    hist: History, values: np.ndarray, windows: Sequence[int]
) -> dict[int, np.ndarray]:
    """Mean of non-missing `values` over each window (NaN when the window has none)."""
    cs = account_cumsum(values, hist.runs)
    cn = account_cumsum((~np.isnan(values)).astype(np.float32), hist.runs)
    out = {}
    for w in windows:
        s, n = hist.total(cs, w), hist.total(cn, w)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[w] = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    return out


@dataclass
class Prepared:
    """The statements in index order and each observation's place in them."""

    codes: np.ndarray  # account code per sorted statement
    days: np.ndarray
    stmt: pd.DataFrame  # sorted statements (reset index)
    hist: History
    accounts: pd.Index  # account ids behind the codes
    o_codes: np.ndarray  # account code per observation
    o_days: np.ndarray  # observation date as a day number


def prepare(
    statements: pd.DataFrame, observations: pd.DataFrame, windows: Sequence[int]
) -> Prepared:
    """Sort the statements by (account, statement date) and find each observation's history
    (strictly before its date) and the start of each window in it."""
    accounts = pd.Index(
        pd.unique(np.concatenate([statements[ID].to_numpy(), observations[ID].to_numpy()]))
    )
    s_codes = accounts.get_indexer(statements[ID].to_numpy()).astype(np.int64)
    s_days = days(statements[STATEMENT_DATE])
    if (s_days == _NAT_DAY).any():
        row = int(np.flatnonzero(s_days == _NAT_DAY)[0])
        raise DataValidationError(
            "statements", "statement_date is missing", column=STATEMENT_DATE, row=row
        )
    key = s_codes * _ACCOUNT_SHIFT + (s_days + _DAY_OFFSET)
    if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):
        order = np.argsort(key, kind="stable")
        key = key[order]
        s_codes = s_codes[order]
        s_days = s_days[order]
        stmt = statements.iloc[order].reset_index(drop=True)
    else:
        stmt = statements.reset_index(drop=True)
    dup = np.flatnonzero(key[1:] == key[:-1]) if len(key) > 1 else np.array([], dtype=np.int64)
    if len(dup):
        r = stmt.iloc[int(dup[0]) + 1]
        raise DataValidationError(
            "statements",
            f"two statements for account {r[ID]} on {pd.Timestamp(r[STATEMENT_DATE]).date()}; "
            "one statement per account per cycle is expected",
            column=STATEMENT_DATE,
        )

    o_codes = accounts.get_indexer(observations[ID].to_numpy()).astype(np.int64)
    o_dates = pd.DatetimeIndex(observations[OBSERVATION_DATE])
    if o_dates.hasnans:
        row = int(np.flatnonzero(o_dates.isna())[0])
        raise DataValidationError(
            "observations", "observation_date is missing", column=OBSERVATION_DATE, row=row
        )
    base = o_codes * _ACCOUNT_SHIFT
    end = np.searchsorted(key, base + days(o_dates) + _DAY_OFFSET, side="left")
    first = np.searchsorted(key, base, side="left")
    starts = {}
    for w in windows:
        wstart = days(o_dates - pd.DateOffset(months=int(w)))
        starts[int(w)] = np.searchsorted(key, base + wstart + _DAY_OFFSET, side="left")
    return Prepared(
        s_codes,
        s_days,
        stmt,
        History(Runs.of(s_codes), end, first, starts),
        accounts,
        o_codes,
        days(o_dates),
    )


@dataclass
class AsOf:
    """A dated attribute history keyed like the statements, read as of any (account, day)."""

    key: np.ndarray  # sorted (account code, effective day) keys
    codes: np.ndarray
    rows: pd.DataFrame  # attribute rows in key order

    def position(self, codes: np.ndarray, day_numbers: np.ndarray) -> np.ndarray:
        """Row of the last change dated strictly before each day (-1 when there is none)."""
        query = codes * _ACCOUNT_SHIFT + (day_numbers + _DAY_OFFSET)
        pos = np.searchsorted(self.key, query, side="left") - 1
        safe = np.maximum(pos, 0)
        found = (pos >= 0) & (self.codes[safe] == codes) if len(self.key) else pos >= 0
        return np.where(found, pos, -1)

    def values(self, column: str, pos: np.ndarray) -> np.ndarray:
        col = self.rows[column].to_numpy()
        if not len(col):
            return np.full(len(pos), np.nan, dtype=object)
        numeric = col.dtype.kind in "fiub"
        out = col[np.maximum(pos, 0)].astype(np.float64 if numeric else object)
        out[pos < 0] = np.nan
        return out


def attribute_history(attributes: pd.DataFrame, accounts: pd.Index) -> AsOf:
    """Sort the dated history by (account, effective date); rows of unknown accounts are unused.

    The caller checks the value columns it reads; this reads the keys only.
    """
    codes = accounts.get_indexer(attributes[ID].to_numpy()).astype(np.int64)
    day = days(attributes[EFFECTIVE_DATE])
    if (day == _NAT_DAY).any():
        row = int(np.flatnonzero(day == _NAT_DAY)[0])
        raise DataValidationError(
            "attributes", "effective_date is missing", column=EFFECTIVE_DATE, row=row
        )
    keep = codes >= 0
    key = codes[keep] * _ACCOUNT_SHIFT + (day[keep] + _DAY_OFFSET)
    order = np.argsort(key, kind="stable")
    key = key[order]
    rows = attributes.loc[keep].iloc[order].reset_index(drop=True)
    if len(key) > 1 and (key[1:] == key[:-1]).any():
        r = rows.iloc[int(np.flatnonzero(key[1:] == key[:-1])[0]) + 1]
        raise DataValidationError(
            "attributes",
            f"two attribute rows for account {r[ID]} on "
            f"{pd.Timestamp(r[EFFECTIVE_DATE]).date()}; one row per account per date is expected",
            column=EFFECTIVE_DATE,
        )
    return AsOf(key, codes[keep][order], rows)

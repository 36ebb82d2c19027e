"""Point-in-time behavioural features for the built-in credit book.

Every feature of an (account, observation_date) row is computed from statements with
`statement_date < observation_date` only, so training snapshots and the current book share one code
path and nothing from the outcome window leaks in.

Why no merge: joining each observation to its account's statements materialises
observations x statements-per-account rows (about 90M at 1M customers). Instead statements are
sorted once by (account, date); each observation finds its history as an index range
`[start, end)` with `searchsorted`, sums and counts come from cumulative sums, and maxima from at
most `max(windows)` vectorised gathers (one statement per monthly cycle). Memory stays at a few
arrays of the statement length.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.catalogue import Catalogue, FeatureSpec
from core.contracts import POLICY_FEATURE_COLUMNS, POLICY_INPUTS
from core.errors import DataValidationError
from core.schema import CUSTOMERS

log = logging.getLogger(__name__)

ID = "account_id"
NEVER_DELINQUENT_MONTHS = 999.0  # sentinel for months_since_delinquency: never delinquent = safest
PAYMENT_RATIO_CAP = 10.0  # ratios above this are overpayments; capping keeps means meaningful
_DAY_OFFSET = 1 << 20  # days since 1970 shifted positive (covers dates back to ~840 AD)
_ACCOUNT_SHIFT = 1 << 22  # room for the shifted day number inside an int64 key

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
#: The policy's flags the customers table carries (the contract's boolean inputs the schema holds;
#: first_time_delinquency is computed from the statements).
POLICY_FLAGS = tuple(
    p.name for p in POLICY_INPUTS if p.dtype == "bool" and p.name in CUSTOMERS.names
)
STATIC_CATEGORIES = {
    "age_band": ["18-24", "25-34", "35-44", "45-54", "55+"],
    "income_band": ["low", "mid", "high", "very_high"],
    "channel": ["app", "web", "partner"],
}
DEFAULT_TIMEZONE = "Asia/Shanghai"
# Kept beside the features for fairness reports, never model inputs (so never a reason code):
# age is a prohibited basis under ECOA/Reg B and most fair-lending regimes.
PROTECTED_ATTRIBUTES = ("age_band",)


def _require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(name, f"missing required column(s) {missing}", column=missing[0])


def _days(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Dates as int64 day numbers (NaT -> minimum int64)."""
    arr = np.asarray(values, dtype="datetime64[ns]")
    nat = np.isnat(arr)
    out = arr.view(np.int64) // np.int64(86_400_000_000_000)
    out[nat] = np.iinfo(np.int64).min
    return out


def _month_index(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Calendar months since 1970-01 as float64 (NaT -> NaN)."""
    arr = np.asarray(values, dtype="datetime64[ns]")
    out = arr.astype("datetime64[M]").astype(np.int64).astype(np.float64)
    out[np.isnat(arr)] = np.nan
    return out


@dataclass
class _History:
    """Statements sorted by (account, date) plus each observation's index range into them."""

    runs: _Runs  # the sorted statements by position within their account
    end: np.ndarray  # first statement on/after the observation date (exclusive end)
    first: np.ndarray  # first statement of the account (start of full history)
    starts: dict[
        int, np.ndarray
    ]  # window w -> first statement dated >= observation_date - w months

    def count(self, window: int | None) -> np.ndarray:
        start = self.first if window is None else self.starts[window]
        return self.end - start

    def total(self, prefix: np.ndarray, window: int | None) -> np.ndarray:
        """Sum over the window from the per-account prefix sums of `_account_cumsum`.

        Both ends lie in the observation's own account, so the result depends on that account's
        rows alone (the same bits however the book is partitioned).
        """
        start = self.first if window is None else self.starts[window]
        if not len(prefix):
            return np.zeros(len(self.end))
        upto = prefix[np.maximum(self.end - 1, 0)]
        before = np.where(start > self.first, prefix[np.maximum(start - 1, 0)], 0.0)
        return np.where(self.end > start, upto - before, 0.0)

    def last(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        has = self.end > self.first
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
class _Runs:
    """Sorted rows grouped by position within their account: `order[bounds[k]:bounds[k + 1]]`
    are the rows that are their account's k-th (computed once per table, used by every sum)."""

    order: np.ndarray
    bounds: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray) -> _Runs:
        rows = np.arange(len(codes))
        new_account = np.ones(len(codes), dtype=bool)
        new_account[1:] = codes[1:] != codes[:-1]
        rank = rows - np.maximum.accumulate(np.where(new_account, rows, 0))
        counts = np.bincount(rank) if len(rank) else np.zeros(0, dtype=np.int64)
        small = len(rank) and rank.max() < np.iinfo(np.int16).max
        order = np.argsort(rank.astype(np.int16) if small else rank, kind="stable")  # radix
        return cls(order, np.concatenate([[0], np.cumsum(counts)]))


def _account_cumsum(values: np.ndarray, runs: _Runs) -> np.ndarray:
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


def _window_means(hist: _History, values: np.ndarray, windows: Sequence[int]) -> dict:
    """Mean of non-missing `values` over each window (NaN when the window has none)."""
    cs = _account_cumsum(values, hist.runs)
    cn = _account_cumsum((~np.isnan(values)).astype(np.float32), hist.runs)
    out = {}
    for w in windows:
        s, n = hist.total(cs, w), hist.total(cn, w)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[w] = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    return out


@dataclass
class _Prepared:
    codes: np.ndarray  # account code per sorted statement
    days: np.ndarray
    stmt: pd.DataFrame  # sorted statements (reset index)
    hist: _History
    accounts: pd.Index  # account ids behind the codes
    o_codes: np.ndarray  # account code per observation
    o_days: np.ndarray  # observation date as a day number


def _prepare(
    statements: pd.DataFrame, observations: pd.DataFrame, windows: Sequence[int]
) -> _Prepared:
    accounts = pd.Index(
        pd.unique(np.concatenate([statements[ID].to_numpy(), observations[ID].to_numpy()]))
    )
    s_codes = accounts.get_indexer(statements[ID].to_numpy()).astype(np.int64)
    s_days = _days(statements["statement_date"])
    if (s_days == np.iinfo(np.int64).min).any():
        row = int(np.flatnonzero(s_days == np.iinfo(np.int64).min)[0])
        raise DataValidationError(
            "statements", "statement_date is missing", column="statement_date", row=row
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
            f"two statements for account {r[ID]} on {pd.Timestamp(r['statement_date']).date()}; "
            "one statement per account per cycle is expected",
            column="statement_date",
        )

    o_codes = accounts.get_indexer(observations[ID].to_numpy()).astype(np.int64)
    o_dates = pd.DatetimeIndex(observations["observation_date"])
    if o_dates.hasnans:
        row = int(np.flatnonzero(o_dates.isna())[0])
        raise DataValidationError(
            "observations", "observation_date is missing", column="observation_date", row=row
        )
    base = o_codes * _ACCOUNT_SHIFT
    end = np.searchsorted(key, base + _days(o_dates) + _DAY_OFFSET, side="left")
    first = np.searchsorted(key, base, side="left")
    starts = {}
    for w in windows:
        wstart = _days(o_dates - pd.DateOffset(months=int(w)))
        starts[int(w)] = np.searchsorted(key, base + wstart + _DAY_OFFSET, side="left")
    return _Prepared(
        s_codes,
        s_days,
        stmt,
        _History(_Runs.of(s_codes), end, first, starts),
        accounts,
        o_codes,
        _days(o_dates),
    )


@dataclass
class _AsOf:
    """A dated attribute history keyed like the statements, read as of any (account, day)."""

    key: np.ndarray  # sorted (account code, effective day) keys
    codes: np.ndarray
    rows: pd.DataFrame  # attribute rows in key order

    def position(self, codes: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Row of the last change dated strictly before each day (-1 when there is none)."""
        query = codes * _ACCOUNT_SHIFT + (days + _DAY_OFFSET)
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


def _attribute_history(attributes: pd.DataFrame, accounts: pd.Index) -> _AsOf:
    """Sort the dated history by (account, effective date); rows of unknown accounts are unused."""
    _require(attributes, ATTRIBUTE_COLUMNS, "attributes")
    codes = accounts.get_indexer(attributes[ID].to_numpy()).astype(np.int64)
    days = _days(attributes["effective_date"])
    if (days == np.iinfo(np.int64).min).any():
        row = int(np.flatnonzero(days == np.iinfo(np.int64).min)[0])
        raise DataValidationError(
            "attributes", "effective_date is missing", column="effective_date", row=row
        )
    keep = codes >= 0
    key = codes[keep] * _ACCOUNT_SHIFT + (days[keep] + _DAY_OFFSET)
    order = np.argsort(key, kind="stable")
    key = key[order]
    rows = attributes.loc[keep].iloc[order].reset_index(drop=True)
    if len(key) > 1 and (key[1:] == key[:-1]).any():
        r = rows.iloc[int(np.flatnonzero(key[1:] == key[:-1])[0]) + 1]
        raise DataValidationError(
            "attributes",
            f"two attribute rows for account {r[ID]} on "
            f"{pd.Timestamp(r['effective_date']).date()}; one row per account per date is expected",
            column="effective_date",
        )
    return _AsOf(key, codes[keep][order], rows)


def _statement_signals(stmt: pd.DataFrame, codes: np.ndarray, limit: np.ndarray) -> dict:
    """Per-statement quantities, each known at its statement date (uses the previous row only)."""
    same_prev = np.zeros(len(stmt), dtype=bool)
    if len(stmt) > 1:
        same_prev[1:] = codes[1:] == codes[:-1]

    def prev(col: str) -> np.ndarray:
        v = stmt[col].to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.full(len(v), np.nan)
        out[1:] = v[:-1]
        out[~same_prev] = np.nan
        return out

    paid = stmt["paid_amount"].to_numpy(dtype=np.float64, na_value=np.nan)
    prev_min = prev("min_due")
    prev_bill = prev("bill_amount")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_min = np.where(prev_min > 0, paid / prev_min, np.nan)
        ratio_bill = np.where(prev_bill > 0, paid / prev_bill, np.nan)
        util = np.where(limit > 0, stmt["outstanding_balance"].to_numpy(np.float64) / limit, np.nan)
    ratio_min = np.clip(ratio_min, 0.0, PAYMENT_RATIO_CAP)
    ratio_bill = np.clip(ratio_bill, 0.0, PAYMENT_RATIO_CAP)

    pay_days = _days(stmt["payment_date"]).astype(np.float64)
    pay_days[pay_days == np.iinfo(np.int64).min] = np.nan
    due_days = _days(stmt["due_date"]).astype(np.float64)
    due_days[due_days == np.iinfo(np.int64).min] = np.nan
    prev_due = np.full(len(stmt), np.nan)
    prev_due[1:] = due_days[:-1]
    prev_due[~same_prev] = np.nan
    with np.errstate(invalid="ignore"):
        paid_after_due = (pay_days - prev_due) > 0
        short = (prev_min > 0) & ~(paid + 1e-6 >= prev_min)
    late = same_prev & (paid_after_due | short)

    dpd = stmt["days_past_due"].to_numpy(dtype=np.float64, na_value=0.0)
    delinquent = dpd > 0
    prev_delinquent = np.zeros(len(stmt), dtype=bool)
    prev_delinquent[1:] = delinquent[:-1]
    episode_start = delinquent & ~(prev_delinquent & same_prev)
    return {
        "utilisation": util.astype(np.float32),
        "ratio_min": ratio_min.astype(np.float32),
        "ratio_bill": ratio_bill.astype(np.float32),
        "late": late.astype(np.float32),
        "dpd": dpd.astype(np.float32),
        "delinquent": delinquent,
        "episode_start": episode_start.astype(np.float32),
    }


def _direction_specs(windows: Sequence[int]) -> list[FeatureSpec]:
    """The catalogue entries, in output order."""
    S = "statements."
    specs = [
        FeatureSpec(
            "months_on_book",
            "float",
            "Months from signup to the observation date.",
            ["customers.signup_date"],
            -1,
        ),
        FeatureSpec(
            "credit_limit",
            "float",
            "Credit limit (CNY) in force at the observation date.",
            ["attributes.credit_limit"],
            -1,
        ),
        FeatureSpec(
            "utilisation_current",
            "float",
            "Outstanding balance / credit limit at the last statement before the date.",
            [S + "outstanding_balance", "attributes.credit_limit"],
            1,
        ),
    ]
    for w in windows:
        specs += [
            FeatureSpec(
                f"utilisation_mean_{w}m",
                "float",
                f"Mean utilisation (balance / limit) over the last {w} statements.",
                [S + "outstanding_balance", "attributes.credit_limit"],
                1,
            ),
            FeatureSpec(
                f"utilisation_max_{w}m",
                "float",
                f"Max utilisation (balance / limit) over the last {w} months.",
                [S + "outstanding_balance", "attributes.credit_limit"],
                1,
            ),
        ]
    for w in windows:
        specs.append(
            FeatureSpec(
                f"bill_mean_{w}m",
                "float",
                f"Mean monthly bill amount (new spending) over {w} months.",
                [S + "bill_amount"],
                0,
            )
        )
    lo, hi = min(windows), max(windows)
    if lo != hi:
        specs.append(
            FeatureSpec(
                f"bill_trend_{lo}m_{hi}m",
                "float",
                f"Mean bill over {lo} months / mean bill over {hi} months (>1: spending rising).",
                [S + "bill_amount"],
                0,
            )
        )
    for w in windows:
        specs += [
            FeatureSpec(
                f"payment_ratio_min_mean_{w}m",
                "float",
                f"Mean of paid / previous minimum due over {w} months (capped at "
                f"{PAYMENT_RATIO_CAP:g}).",
                [S + "paid_amount", S + "min_due"],
                -1,
            ),
            FeatureSpec(
                f"payment_ratio_bill_mean_{w}m",
                "float",
                f"Mean of paid / previous bill over {w} months (capped at {PAYMENT_RATIO_CAP:g}).",
                [S + "paid_amount", S + "bill_amount"],
                -1,
            ),
        ]
    for w in windows:
        specs += [
            FeatureSpec(
                f"late_payments_{w}m",
                "float",
                f"Cycles in the last {w} months whose payment came after the previous "
                "due date or fell short of the minimum due.",
                [S + "payment_date", S + "due_date", S + "paid_amount", S + "min_due"],
                1,
            ),
            FeatureSpec(
                f"max_dpd_{w}m",
                "float",
                f"Max days past due over the last {w} months.",
                [S + "days_past_due"],
                1,
            ),
            FeatureSpec(
                f"months_delinquent_{w}m",
                "float",
                f"Statements with days past due > 0 in the last {w} months.",
                [S + "days_past_due"],
                1,
            ),
        ]
    specs += [
        FeatureSpec(
            "months_since_delinquency",
            "float",
            "Months since the last statement with days past due > 0 "
            f"({NEVER_DELINQUENT_MONTHS:g} when never delinquent).",
            [S + "days_past_due", S + "statement_date"],
            -1,
        ),
        FeatureSpec(
            "delinquency_episodes",
            "float",
            "Separate delinquency spells (runs of statements with dpd > 0) in the history.",
            [S + "days_past_due"],
            1,
        ),
        FeatureSpec(
            "dpd_current",
            "float",
            "Days past due at the last statement before the date.",
            [S + "days_past_due"],
            1,
        ),
        FeatureSpec(
            "overdue_amount_current",
            "float",
            "Unpaid minimum dues at the last statement before the date (CNY).",
            [S + "overdue_amount"],
            1,
        ),
        FeatureSpec(
            "first_time_delinquency",
            "float",
            "1 when currently past due and this is the account's first delinquency spell.",
            [S + "days_past_due"],
            0,
        ),
        FeatureSpec(
            "repeat_delinquency",
            "float",
            "1 when currently past due and the account was delinquent in an earlier spell.",
            [S + "days_past_due"],
            1,
        ),
        FeatureSpec(
            "instalment_plans_current",
            "float",
            "Active instalment plans at the last statement before the date.",
            [S + "instalment_plans"],
            0,
        ),
        FeatureSpec(
            f"instalment_plans_max_{hi}m",
            "float",
            f"Max active instalment plans over the last {hi} months.",
            [S + "instalment_plans"],
            0,
        ),
        FeatureSpec(
            "city_tier", "float", "City tier (1 = largest cities).", ["customers.city_tier"], 0
        ),
        FeatureSpec(
            "income_band",
            "category",
            "Declared income band in force at the observation date.",
            ["attributes.income_band"],
            0,
            STATIC_CATEGORIES["income_band"],
        ),
        FeatureSpec(
            "channel",
            "category",
            "Acquisition channel.",
            ["customers.channel"],
            0,
            STATIC_CATEGORIES["channel"],
        ),
    ]
    return specs


def behavioural_catalogue(windows: Sequence[int]) -> Catalogue:
    """The catalogue `build_behavioural_features` produces for these windows."""
    return Catalogue(
        features=_direction_specs(_check_windows(windows)),
        protected=[f"protected__{c}" for c in PROTECTED_ATTRIBUTES],
        policy_columns=list(POLICY_FEATURE_COLUMNS),
    )


def _check_windows(windows: Sequence[int]) -> list[int]:
    ws = sorted({int(w) for w in windows})
    if not ws or ws[0] < 1:
        raise ValueError(f"windows must be positive month counts, got {list(windows)}")
    return ws


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
    ws = _check_windows(windows)
    _require(customers, CUSTOMER_COLUMNS, "customers")
    _require(statements, STATEMENT_COLUMNS, "statements")
    _require(observations, (ID, "observation_date"), "observations")
    if customers[ID].duplicated().any():
        row = int(np.flatnonzero(customers[ID].duplicated().to_numpy())[0])
        raise DataValidationError("customers", "account_id is not unique", column=ID, row=row)

    prep = _prepare(statements, observations, ws)
    hist, stmt, codes = prep.hist, prep.stmt, prep.codes
    cust = customers.set_index(ID)
    obs_pos = cust.index.get_indexer(observations[ID].to_numpy())
    if (obs_pos < 0).any():
        row = int(np.flatnonzero(obs_pos < 0)[0])
        raise DataValidationError(
            "observations", "account_id not found in customers", column=ID, row=row
        )
    obs_cust = cust.take(obs_pos)
    dated: dict[str, np.ndarray] = {}
    if attributes is None:
        limit_all = cust["credit_limit"].to_numpy(np.float64)
        stmt_pos = cust.index.get_indexer(stmt[ID].to_numpy())
        stmt_limit = np.where(stmt_pos >= 0, limit_all[np.maximum(stmt_pos, 0)], np.nan)
        dated["credit_limit"] = obs_cust["credit_limit"].to_numpy(np.float64)
        dated["income_band"] = obs_cust["income_band"].to_numpy(object)
    else:
        as_of = _attribute_history(attributes, prep.accounts)
        stmt_limit = as_of.values("credit_limit", as_of.position(codes, prep.days))
        stmt_limit = stmt_limit.astype(np.float64)
        obs_at = as_of.position(prep.o_codes, prep.o_days)
        dated["credit_limit"] = as_of.values("credit_limit", obs_at).astype(np.float64)
        dated["income_band"] = as_of.values("income_band", obs_at)
    sig = _statement_signals(stmt, codes, stmt_limit)

    n = len(observations)
    obs_ids = observations[ID].to_numpy()
    o_month = _month_index(observations["observation_date"])
    feats: dict[str, np.ndarray] = {}
    feats["months_on_book"] = o_month - _month_index(obs_cust["signup_date"])
    feats["credit_limit"] = dated["credit_limit"]
    feats["utilisation_current"] = hist.last(sig["utilisation"])

    util_mean = _window_means(hist, sig["utilisation"], ws)
    util_max = hist.window_max(sig["utilisation"], ws)
    for w in ws:
        feats[f"utilisation_mean_{w}m"] = util_mean[w]
        feats[f"utilisation_max_{w}m"] = util_max[w]
    del util_mean, util_max

    bill = stmt["bill_amount"].to_numpy(np.float64, na_value=np.nan)
    bill_means = _window_means(hist, bill, ws)
    for w in ws:
        feats[f"bill_mean_{w}m"] = bill_means[w]
    lo, hi = ws[0], ws[-1]
    if lo != hi:
        with np.errstate(invalid="ignore", divide="ignore"):
            feats[f"bill_trend_{lo}m_{hi}m"] = np.where(
                bill_means[hi] > 0, bill_means[lo] / bill_means[hi], np.nan
            )
    ratio_min = _window_means(hist, sig["ratio_min"], ws)
    ratio_bill = _window_means(hist, sig["ratio_bill"], ws)
    for w in ws:
        feats[f"payment_ratio_min_mean_{w}m"] = ratio_min[w]
        feats[f"payment_ratio_bill_mean_{w}m"] = ratio_bill[w]

    cs_late = _account_cumsum(sig["late"], hist.runs)
    cs_delq = _account_cumsum(sig["delinquent"].astype(np.float32), hist.runs)
    dpd_max = hist.window_max(sig["dpd"], ws)
    for w in ws:
        has = hist.count(w) > 0
        feats[f"late_payments_{w}m"] = np.where(has, hist.total(cs_late, w), np.nan)
        feats[f"max_dpd_{w}m"] = dpd_max[w]
        feats[f"months_delinquent_{w}m"] = np.where(has, hist.total(cs_delq, w), np.nan)
    del cs_late, cs_delq, dpd_max

    # Months since the last delinquent statement: a running max of (account, month) keys over the
    # sorted table, where non-delinquent rows carry their account's floor so accounts never mix.
    s_month = _month_index(stmt["statement_date"]).astype(np.int64)
    shift = np.int64(1 << 24)
    marks = np.where(sig["delinquent"], codes * shift + s_month, codes * shift - 1)
    last_mark = np.maximum.accumulate(marks) if len(marks) else marks
    has_hist = hist.end > hist.first
    lm = last_mark[np.where(has_hist, hist.end - 1, 0)] if len(marks) else np.zeros(n, np.int64)
    o_codes_floor = codes[np.where(has_hist, hist.end - 1, 0)] * shift if len(marks) else lm
    ever = has_hist & (lm >= o_codes_floor)
    feats["months_since_delinquency"] = np.where(
        ever, o_month - (lm - o_codes_floor), np.where(has_hist, NEVER_DELINQUENT_MONTHS, np.nan)
    )
    episodes = hist.total(_account_cumsum(sig["episode_start"], hist.runs), None)
    feats["delinquency_episodes"] = np.where(has_hist, episodes, np.nan)

    dpd_now = hist.last(sig["dpd"])
    overdue_now = hist.last(stmt["overdue_amount"].to_numpy(np.float64, na_value=np.nan))
    feats["dpd_current"] = dpd_now
    feats["overdue_amount_current"] = overdue_now
    current_delq = np.nan_to_num(dpd_now) > 0
    first_time = current_delq & (episodes == 1)
    feats["first_time_delinquency"] = np.where(has_hist, first_time, np.nan)
    feats["repeat_delinquency"] = np.where(has_hist, current_delq & (episodes > 1), np.nan)
    plans = stmt["instalment_plans"].to_numpy(np.float64, na_value=np.nan)
    feats["instalment_plans_current"] = hist.last(plans)
    feats[f"instalment_plans_max_{hi}m"] = hist.window_max(plans, [hi])[hi]
    feats["city_tier"] = pd.to_numeric(obs_cust["city_tier"], errors="coerce").to_numpy(np.float64)

    catalogue = behavioural_catalogue(ws)
    out: dict[str, object] = {
        ID: obs_ids,
        "observation_date": observations["observation_date"].to_numpy(),
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
    for spec in catalogue.features:
        if spec.dtype == "category" and spec.name in dated:
            out[spec.name] = pd.Categorical(dated[spec.name], categories=spec.categories)
        elif spec.dtype == "category":
            small = pd.Categorical(cust[spec.name].astype("object"), categories=spec.categories)
            out[spec.name] = pd.Categorical.from_codes(
                small.codes[obs_pos], categories=spec.categories
            )
        else:
            out[spec.name] = np.asarray(feats[spec.name], dtype=np.float32)

    for name in PROTECTED_ATTRIBUTES:
        if name in cust:
            out[f"protected__{name}"] = cust[name].astype(str).to_numpy()[obs_pos]
    # The policy inputs, by contract name; written in contract order (a new input fails here
    # with a KeyError until it is computed).
    policy: dict[str, object] = {
        "days_past_due": np.nan_to_num(dpd_now).astype(np.int32),
        "overdue_amount": np.nan_to_num(overdue_now),
        "first_time_delinquency": first_time,
    }
    for flag in POLICY_FLAGS:
        col = obs_cust[flag] if flag in obs_cust else pd.Series(False, index=obs_cust.index)
        policy[flag] = col.fillna(False).astype(bool).to_numpy()
    tz = obs_cust["timezone"] if "timezone" in obs_cust else pd.Series(None, index=obs_cust.index)
    policy["timezone"] = tz.fillna(DEFAULT_TIMEZONE).astype(str).to_numpy()
    policy["outstanding_balance"] = np.nan_to_num(
        hist.last(stmt["outstanding_balance"].to_numpy(np.float64, na_value=np.nan))
    )
    # collection-policy v2 inputs (routes.repeat_or_wilful, routes.suspected_fraud): paid
    # anything within the data; the book has no promise-to-pay records, so none were broken
    paid_any = (stmt["paid_amount"].to_numpy(np.float64, na_value=np.nan) > 0).astype(np.float64)
    payments = hist.total(_account_cumsum(paid_any, hist.runs), None)
    policy["delinquency_episodes"] = np.where(has_hist, np.nan_to_num(episodes), 0).astype(np.int32)
    policy["broken_promises"] = np.zeros(n, dtype=np.int32)
    policy["never_paid"] = has_hist & (np.nan_to_num(payments) == 0)
    for spec_input in POLICY_INPUTS:
        out[spec_input.feature_column] = policy[spec_input.name]
    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    log.info(
        "behavioural features: %d rows x %d features from %d statements",
        n,
        len(catalogue.features),
        len(stmt),
    )
    return frame, catalogue


def core_window_aggregates(
    statements: pd.DataFrame,
    observations: pd.DataFrame,
    credit_limit: pd.Series,
    windows: Sequence[int],
) -> pd.DataFrame:
    """The benchmark subset (max dpd, mean utilisation, late payments per window) on this engine.

    `credit_limit` is indexed by account_id. Same numbers as the full build; exposed so the
    benchmark can time it against the same aggregation written as one SQL query.
    """
    ws = _check_windows(windows)
    prep = _prepare(statements, observations, ws)
    limit = credit_limit.reindex(prep.stmt[ID]).to_numpy(np.float64)
    sig = _statement_signals(prep.stmt, prep.codes, limit)
    hist = prep.hist
    out: dict[str, np.ndarray] = {}
    dpd_max = hist.window_max(sig["dpd"], ws)
    cs_late = _account_cumsum(sig["late"], hist.runs)
    util_mean = _window_means(hist, sig["utilisation"], ws)
    for w in ws:
        out[f"max_dpd_{w}m"] = dpd_max[w]
        out[f"utilisation_mean_{w}m"] = util_mean[w]
        out[f"late_payments_{w}m"] = np.where(hist.count(w) > 0, hist.total(cs_late, w), np.nan)
    return pd.DataFrame(out)

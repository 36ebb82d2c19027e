"""Portfolio views from the statement history: vintage curves and roll-rate matrices.

Both are computed on whole columns (a month number per statement, one sort by account and month,
neighbour comparisons and `bincount`), never a Python loop over accounts: the statement table of a
million-customer book holds tens of millions of rows. "Default" is the project's: ever 90+ days
past due (`models.pd_model.in_default`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from models.monitoring.config import DEFAULT_DPD, DPD_BUCKETS

log = logging.getLogger(__name__)

BUCKET_NAMES: tuple[str, ...] = tuple(name for name, _ in DPD_BUCKETS)
_BUCKET_LOWS = np.array([low for _, low in DPD_BUCKETS[1:]], dtype="float64")


def month_number(dates: Any) -> np.ndarray:
    """Months since year 0 (year * 12 + month - 1) of each date, vectorised; -1 where missing."""
    values = dates.to_numpy() if isinstance(dates, pd.Series | pd.Index) else np.asarray(dates)
    if not np.issubdtype(values.dtype, np.datetime64):  # text or objects: parse once
        values = pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[ns]")
    months = values.astype("datetime64[M]")
    out = months.astype(np.int64) + 1970 * 12  # numpy counts months from 1970-01
    return np.where(np.isnat(months), -1, out).astype(np.int64)


def month_label(number: np.ndarray | int) -> Any:
    """Inverse of `month_number` as "YYYY-MM" text."""
    n = np.asarray(number, dtype=np.int64)
    return np.char.add(
        np.char.add((n // 12).astype(str), "-"), np.char.zfill((n % 12 + 1).astype(str), 2)
    )


def dpd_bucket(days_past_due: Any) -> np.ndarray:
    """Bucket index 0..4 of `DPD_BUCKETS` (current, 1-30, 31-60, 61-89, 90+); -1 where missing."""
    s = days_past_due if isinstance(days_past_due, pd.Series) else pd.Series(days_past_due)
    if s.dtype.kind in "iu":  # whole days, no missing values: no float copy of the column
        d = s.to_numpy()
        if d.size and d.min() < 0:
            raise ValueError("days_past_due must be >= 0")
        return np.searchsorted(_BUCKET_LOWS.astype(d.dtype), d, side="right").astype(np.int64)
    d = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if (d < 0).any():
        raise ValueError("days_past_due must be >= 0")
    out = np.searchsorted(_BUCKET_LOWS, d, side="right")
    return np.where(np.isnan(d), -1, out).astype(np.int64)


def _cohort_label(month: np.ndarray, freq: str) -> np.ndarray:
    """ "YYYY-MM" (freq "M") or "YYYYQn" (freq "Q") of each month number; text is built once per
    distinct month, not per account."""
    distinct, inverse = np.unique(month, return_inverse=True)
    if freq == "M":
        labels = month_label(distinct)
    else:
        year, quarter = distinct // 12, (distinct % 12) // 3 + 1
        labels = np.char.add(np.char.add(year.astype(str), "Q"), quarter.astype(str))
    return labels[inverse.reshape(month.shape)]


def _statement_dates(statements: pd.DataFrame) -> np.ndarray:
    """statement_date as datetime64 (text parsed once)."""
    values = statements["statement_date"].to_numpy()
    if not np.issubdtype(values.dtype, np.datetime64):
        values = pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[ns]")
    return values


def _month_start(month: int, like: np.ndarray) -> np.datetime64:
    """The first instant of `month_number` `month`, in the unit of the dates `like`."""
    return np.datetime64(int(month) - 1970 * 12, "M").astype(like.dtype)


def _at_least(values: pd.Series, threshold: int) -> np.ndarray:
    """values >= threshold per row, False where missing (integers compared as they are)."""
    if values.dtype.kind in "iu":
        return values.to_numpy() >= threshold
    d = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return d >= float(threshold)


def _grouped_in_order(acct: np.ndarray, month: np.ndarray) -> bool:
    """True when each account's rows form one contiguous run with months strictly increasing.

    That is how the ingest stage writes statements (per bucket, by account then date): table
    neighbours are then neighbours in time and the roll rates need no sort of tens of millions
    of rows. Any other order is sorted first, with the same result.
    """
    if acct.size < 2:
        return True
    same = acct[1:] == acct[:-1]
    if not np.all(~same | (month[1:] > month[:-1])):
        return False
    return bool(pd.Index(acct[np.concatenate(([True], ~same))]).is_unique)


def vintage_curves(
    statements: pd.DataFrame,
    accounts: pd.DataFrame | None = None,
    *,
    open_column: str = "signup_date",
    freq: str = "Q",
    default_dpd: int = DEFAULT_DPD,
) -> pd.DataFrame:
    """Cumulative share of each cohort ever `default_dpd`+ days past due, by months on book.

    `statements` needs account_id, statement_date and days_past_due (RAW_STATEMENTS). A cohort is
    the quarter (`freq="Q"`) or month ("M") the account opened: `accounts[open_column]` when an
    accounts table (RAW_CUSTOMERS) is given, else the account's first statement (then accounts
    billed from the history's first month are left out: they may be older). Cohorts opened
    before the statement history starts are left out: their early delinquency is unseen, so their
    curve would start too low. The denominator is the cohort's accounts with any statement (fixed,
    so each curve is non-decreasing) and a curve stops at the months on book every account of the
    cohort has reached by the last statement month. Returns rows (cohort, months_on_book,
    accounts, defaulted, cum_default_rate), cohorts oldest first.

    Only the statements at `default_dpd`+ are grouped (the first bad month per account); the
    rest of the table is scanned once for its account ids and date range.
    """
    empty = pd.DataFrame(
        columns=["cohort", "months_on_book", "accounts", "defaulted", "cum_default_rate"]
    )
    dates = _statement_dates(statements)
    acct = statements["account_id"].to_numpy()
    dated = ~np.isnat(dates)
    if not dated.all():
        dates, acct = dates[dated], acct[dated]
        bad = _at_least(statements["days_past_due"], default_dpd)[dated]
    else:
        bad = _at_least(statements["days_past_due"], default_dpd)
    if not dates.size:
        return empty
    start, end = (int(month_number(np.array([d]))[0]) for d in (dates.min(), dates.max()))
    runs = acct[np.concatenate(([True], acct[1:] != acct[:-1]))] if acct.size else acct
    per = pd.DataFrame(index=pd.Index(pd.unique(runs)))  # every account with a statement
    first_bad = pd.Series(month_number(dates[bad])).groupby(acct[bad], sort=False).min()
    per["first_bad"] = first_bad.reindex(per.index).fillna(-1).astype(np.int64)
    first: pd.Series | None = None
    if accounts is not None:
        opened = pd.Series(
            month_number(accounts[open_column]), index=accounts["account_id"].to_numpy()
        )
        opened = opened[~opened.index.duplicated()]
        per["open"] = opened.reindex(per.index).fillna(-1).astype(np.int64).to_numpy()
        unknown = per["open"] < 0
        if unknown.any():
            log.warning(
                "vintage: %d accounts without an open date use their first statement",
                int(unknown.sum()),
            )
            first = _first_months(acct, dates, per.index)
            per.loc[unknown, "open"] = first[unknown.to_numpy()]
    else:
        # Without open dates an account billed from the first month may be older than the
        # history: its open month is unknown, so it joins no cohort.
        first = _first_months(acct, dates, per.index)
        per["open"] = np.where(first > start, first, start - 1)
    early = per["open"] < start
    if early.any():
        log.info(
            "vintage: %d accounts opened before the statement history are left out",
            int(early.sum()),
        )
    per = per[~early]
    if per.empty:
        return empty
    open_m = per["open"].to_numpy(dtype=np.int64)
    cohort = _cohort_label(open_m, freq)
    codes, names = pd.factorize(pd.Series(cohort), sort=True)
    max_open = pd.Series(open_m).groupby(codes).max().to_numpy()
    horizon = end - max_open  # the months on book every account of the cohort has reached
    size = np.bincount(codes, minlength=len(names))
    fb = per["first_bad"].to_numpy(dtype=np.int64)
    mob_bad = np.where(fb >= 0, np.maximum(fb - open_m, 0), -1)
    span = int(max(horizon.max(), 0)) + 1
    hit = (mob_bad >= 0) & (mob_bad < span)
    counts = np.bincount(codes[hit] * span + mob_bad[hit], minlength=len(names) * span)
    cum = np.cumsum(counts.reshape(len(names), span), axis=1)
    mob = np.arange(span)
    keep = mob[None, :] <= horizon[:, None]
    ci, mi = np.nonzero(keep)
    out = pd.DataFrame(
        {
            "cohort": np.asarray(names, dtype=object)[ci],
            "months_on_book": mi,
            "accounts": size[ci],
            "defaulted": cum[ci, mi],
        }
    )
    out["cum_default_rate"] = out["defaulted"] / out["accounts"]
    return out.reset_index(drop=True)


def _first_months(acct: np.ndarray, dates: np.ndarray, ids: pd.Index) -> np.ndarray:
    """The month of each account's first statement, in the order of `ids`."""
    first = pd.Series(dates).groupby(acct, sort=False).min()
    return month_number(first.reindex(ids).to_numpy())


def roll_rates(statements: pd.DataFrame, months: int | None = None) -> dict[str, Any]:
    """Month-to-month transitions between DPD buckets (`DPD_BUCKETS`), counts and row shares.

    `statements` needs account_id, statement_date and days_past_due. A transition pairs an
    account's statement with its statement of the next calendar month (a gap is no transition);
    `months` keeps the last N such month pairs (None: all). Rows are the bucket this month,
    columns next month; a row without transitions has shares None.
    """
    dates = _statement_dates(statements)
    acct = statements["account_id"].to_numpy()
    bucket = dpd_bucket(statements["days_past_due"])
    ok = ~np.isnat(dates) & (bucket >= 0) & statements["account_id"].notna().to_numpy()
    if months is not None and ok.any():  # only the months the window's pairs can touch
        last = int(month_number(np.array([dates[ok].max()]))[0])
        ok &= dates >= _month_start(last - months, dates)
    acct, month, bucket = acct[ok], month_number(dates[ok]), bucket[ok]
    if _grouped_in_order(acct, month):  # the ingest stage's order: neighbours in time
        a, m, b = acct, month, bucket
    else:
        # one int64 key (account, month, bucket) sorted in place of a multi-key sort: a few
        # seconds less on tens of millions of statements
        codes, _ = pd.factorize(acct)
        base = int(month.min())
        span = int(month.max()) - base + 1
        key = (codes.astype(np.int64) * span + (month - base)) * 8 + bucket
        key.sort()
        b, rest = key % 8, key // 8
        a, m = rest // span, rest % span + base
    step = (a[1:] == a[:-1]) & (m[1:] == m[:-1] + 1)
    frm, to, to_month = b[:-1][step], b[1:][step], m[1:][step]
    if months is not None and to_month.size:
        recent = to_month > to_month.max() - months
        frm, to, to_month = frm[recent], to[recent], to_month[recent]
    k = len(BUCKET_NAMES)
    counts = np.bincount(frm * k + to, minlength=k * k).reshape(k, k)
    totals = counts.sum(axis=1)
    shares: list[list[float] | None] = [
        (counts[i] / totals[i]).tolist() if totals[i] else None for i in range(k)
    ]
    return {
        "buckets": list(BUCKET_NAMES),
        "counts": counts.tolist(),
        "rates": shares,
        "transitions": int(counts.sum()),
        "from_month": str(month_label(int(to_month.min()) - 1)) if to_month.size else None,
        "to_month": str(month_label(int(to_month.max()))) if to_month.size else None,
    }


def vintage_dict(curves: pd.DataFrame) -> list[dict[str, Any]]:
    """Curves as JSON rows: [{"cohort", "accounts", "cum_default_rate": [by months on book]}]."""
    out = []
    for name, sub in curves.groupby("cohort", sort=True):
        sub = sub.sort_values("months_on_book")
        out.append(
            {
                "cohort": str(name),
                "accounts": int(sub["accounts"].iloc[0]),
                "cum_default_rate": [float(x) for x in sub["cum_default_rate"]],
            }
        )
    return out

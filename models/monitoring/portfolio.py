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
    d = pd.to_numeric(pd.Series(days_past_due), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    if (d < 0).any():
        raise ValueError("days_past_due must be >= 0")
    out = np.searchsorted(_BUCKET_LOWS, d, side="right")
    return np.where(np.isnan(d), -1, out).astype(np.int64)


def _cohort_label(month: np.ndarray, freq: str) -> np.ndarray:
    if freq == "M":
        return month_label(month)
    year, quarter = month // 12, (month % 12) // 3 + 1
    return np.char.add(np.char.add(year.astype(str), "Q"), quarter.astype(str))


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
    """
    acct = statements["account_id"].to_numpy()
    month = month_number(statements["statement_date"])
    bad = pd.to_numeric(statements["days_past_due"], errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    ) >= float(default_dpd)
    frame = pd.DataFrame(
        {"account_id": acct, "month": month, "bad_month": np.where(bad, month, -1)}
    )
    frame = frame[frame["month"] >= 0]
    per = frame.groupby("account_id", sort=False).agg(first=("month", "min"), last=("month", "max"))
    first_bad = frame[frame["bad_month"] >= 0].groupby("account_id", sort=False)["bad_month"].min()
    per["first_bad"] = first_bad.reindex(per.index).fillna(-1).astype(np.int64)
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
            per.loc[unknown, "open"] = per.loc[unknown, "first"]
    start, end = int(frame["month"].min()), int(frame["month"].max())
    if accounts is None:
        # Without open dates an account billed from the first month may be older than the
        # history: its open month is unknown, so it joins no cohort.
        per["open"] = per["first"].where(per["first"] > start, start - 1)
    early = per["open"] < start
    if early.any():
        log.info(
            "vintage: %d accounts opened before the statement history are left out",
            int(early.sum()),
        )
    per = per[~early]
    if per.empty:
        return pd.DataFrame(
            columns=["cohort", "months_on_book", "accounts", "defaulted", "cum_default_rate"]
        )
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


def roll_rates(statements: pd.DataFrame, months: int | None = None) -> dict[str, Any]:
    """Month-to-month transitions between DPD buckets (`DPD_BUCKETS`), counts and row shares.

    `statements` needs account_id, statement_date and days_past_due. A transition pairs an
    account's statement with its statement of the next calendar month (a gap is no transition);
    `months` keeps the last N such month pairs (None: all). Rows are the bucket this month,
    columns next month; a row without transitions has shares None.
    """
    acct_codes, _ = pd.factorize(statements["account_id"])
    month = month_number(statements["statement_date"])
    bucket = dpd_bucket(statements["days_past_due"])
    ok = (month >= 0) & (bucket >= 0) & (acct_codes >= 0)
    if months is not None and ok.any():  # only the months the window's pairs can touch
        ok &= month >= month[ok].max() - months
    acct_codes, month, bucket = acct_codes[ok], month[ok], bucket[ok]
    # one int64 key (account, month, bucket) sorted in place of a multi-key sort: a few seconds
    # less on tens of millions of statements
    if month.size:
        base = int(month.min())
        span = int(month.max()) - base + 1
        key = (acct_codes.astype(np.int64) * span + (month - base)) * 8 + bucket
        key.sort()
        b, rest = key % 8, key // 8
        a, m = rest // span, rest % span + base
    else:
        a = m = b = month
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

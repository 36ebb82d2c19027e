"""Portfolio views from the statement history: vintage curves and roll-rate matrices.

Both are computed on whole columns (a month number per statement, one sort by account and month,
neighbour comparisons and `bincount`), never a Python loop over accounts: the statement table of a
million-customer book holds tens of millions of rows. "Default" is the project's: ever 90+ days
past due (`models.pd_model.in_default`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.dpd import BUCKET_LABELS, DEFAULT_DPD, bucket_index

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class VintagePart:
    """One slice of the statements (a bucket of accounts) reduced for `vintage_curves`: accounts
    counted by (open month, whether it is their first statement, months on book at their first
    default), plus the slice's first and last statement month. Slices of disjoint accounts add up.
    """

    table: pd.DataFrame  # open, from_first, mob_bad (-1: never), accounts
    start: int | None  # first statement month of the slice (None: no dated statement)
    end: int | None
    unknown_open: int = 0  # accounts whose open date was missing (their first statement used)


_VINTAGE_COLUMNS = ["open", "from_first", "mob_bad", "accounts"]


def vintage_part(
    statements: pd.DataFrame,
    accounts: pd.DataFrame | None = None,
    *,
    open_column: str = "signup_date",
    default_dpd: int = DEFAULT_DPD,
) -> VintagePart:
    """Reduce one slice of the statement history (see `VintagePart`).

    Only the statements at `default_dpd`+ are grouped (the first bad month per account); the
    rest is scanned once for its account ids and date range.
    """
    dates = _statement_dates(statements)
    acct = statements["account_id"].to_numpy()
    bad = _at_least(statements["days_past_due"], default_dpd)
    dated = ~np.isnat(dates)
    if not dated.all():
        dates, acct, bad = dates[dated], acct[dated], bad[dated]
    if not dates.size:
        return VintagePart(pd.DataFrame(columns=_VINTAGE_COLUMNS), None, None)
    start, end = (int(month_number(np.array([d]))[0]) for d in (dates.min(), dates.max()))
    runs = acct[np.concatenate(([True], acct[1:] != acct[:-1]))] if acct.size else acct
    ids = pd.Index(pd.unique(runs))  # every account with a statement
    first_bad = pd.Series(month_number(dates[bad])).groupby(acct[bad], sort=False).min()
    fb = first_bad.reindex(ids).fillna(-1).to_numpy(dtype=np.int64)
    unknown = np.ones(len(ids), dtype=bool)
    open_m = np.full(len(ids), -1, dtype=np.int64)
    if accounts is not None:
        opened = pd.Series(
            month_number(accounts[open_column]), index=accounts["account_id"].to_numpy()
        )
        opened = opened[~opened.index.duplicated()]
        open_m = opened.reindex(ids).fillna(-1).to_numpy(dtype=np.int64)
        unknown = open_m < 0
    if unknown.any():  # the first statement stands in for the open date
        open_m[unknown] = _first_months(acct, dates, ids[unknown])
    mob_bad = np.where(fb >= 0, np.maximum(fb - open_m, 0), -1)
    from_first = unknown if accounts is None else np.zeros(len(ids), dtype=bool)
    table = (
        pd.DataFrame({"open": open_m, "from_first": from_first, "mob_bad": mob_bad})
        .value_counts(sort=False)
        .rename("accounts")
        .reset_index()
    )
    missing_open = int(unknown.sum()) if accounts is not None else 0
    return VintagePart(table, start, end, missing_open)


def vintage_from_parts(parts: Sequence[VintagePart], *, freq: str = "Q") -> pd.DataFrame:
    """The vintage curves of all slices together (see `vintage_curves`)."""
    empty = pd.DataFrame(
        columns=["cohort", "months_on_book", "accounts", "defaulted", "cum_default_rate"]
    )
    dated = [p for p in parts if p.start is not None]
    if not dated:
        return empty
    start = min(int(p.start) for p in dated)  # type: ignore[arg-type]
    end = max(int(p.end) for p in dated)  # type: ignore[arg-type]
    unknown = sum(p.unknown_open for p in dated)
    if unknown:
        log.warning("vintage: %d accounts without an open date use their first statement", unknown)
    table = pd.concat([p.table for p in dated], ignore_index=True)
    table = table.groupby(["open", "from_first", "mob_bad"], sort=False)["accounts"].sum()
    table = table.reset_index()
    # Without open dates an account billed from the history's first month may be older than the
    # history: its open month is unknown, so it joins no cohort. Cohorts opened before the
    # history starts are left out: their early delinquency is unseen.
    early = (table["open"] < start) | (table["from_first"] & (table["open"] <= start))
    if early.any():
        log.info(
            "vintage: %d accounts opened before the statement history are left out",
            int(table.loc[early, "accounts"].sum()),
        )
    table = table[~early]
    if table.empty:
        return empty
    open_m = table["open"].to_numpy(dtype=np.int64)
    weight = table["accounts"].to_numpy(dtype=np.int64)
    codes, names = pd.factorize(pd.Series(_cohort_label(open_m, freq)), sort=True)
    max_open = pd.Series(open_m).groupby(codes).max().to_numpy()
    horizon = end - max_open  # the months on book every account of the cohort has reached
    size = np.bincount(codes, weights=weight, minlength=len(names)).astype(np.int64)
    mob_bad = table["mob_bad"].to_numpy(dtype=np.int64)
    span = int(max(horizon.max(), 0)) + 1
    hit = (mob_bad >= 0) & (mob_bad < span)
    counts = np.bincount(
        codes[hit] * span + mob_bad[hit], weights=weight[hit], minlength=len(names) * span
    ).astype(np.int64)
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
    accounts, defaulted, cum_default_rate), cohorts oldest first. A history too large for memory
    is reduced bucket by bucket: `vintage_from_parts` of each bucket's `vintage_part`.
    """
    part = vintage_part(statements, accounts, open_column=open_column, default_dpd=default_dpd)
    return vintage_from_parts([part], freq=freq)


def _first_months(acct: np.ndarray, dates: np.ndarray, ids: pd.Index) -> np.ndarray:
    """The month of each account's first statement, in the order of `ids`."""
    first = pd.Series(dates).groupby(acct, sort=False).min()
    return month_number(first.reindex(ids).to_numpy())


@dataclass(frozen=True)
class RollPart:
    """One slice of the statements reduced for `roll_rates`: transitions counted by the month
    they end in and the buckets they join, and the slice's last statement month."""

    table: pd.DataFrame  # to_month, frm, to, n
    last: int | None


def roll_part(statements: pd.DataFrame, months: int | None = None) -> RollPart:
    """Count one slice's month-to-month transitions (see `roll_rates`). With `months`, statements
    older than the slice's own window are skipped: the whole history's window starts no earlier
    (its last month is at least the slice's), and `roll_from_parts` cuts it exactly."""
    dates = _statement_dates(statements)
    acct = statements["account_id"].to_numpy()
    bucket = bucket_index(statements["days_past_due"])
    ok = ~np.isnat(dates) & (bucket >= 0) & statements["account_id"].notna().to_numpy()
    if not ok.any():
        return RollPart(pd.DataFrame(columns=["to_month", "frm", "to", "n"]), None)
    last = int(month_number(np.array([dates[ok].max()]))[0])
    if months is not None:
        ok &= dates >= _month_start(last - months, dates)
    acct, month, bucket = acct[ok], month_number(dates[ok]), bucket[ok]
    if _grouped_in_order(acct, month):  # the ingest stage's order: neighbours in time
        a, m, b = acct, month, bucket
    else:
        # one int64 key (account, month, bucket) sorted in place of a multi-key sort: a few
        # seconds less on tens of millions of statements
        codes, _ = pd.factorize(acct)
        base = int(month.min()) if month.size else 0
        span = int(month.max()) - base + 1 if month.size else 1
        key = (codes.astype(np.int64) * span + (month - base)) * 8 + bucket
        key.sort()
        b, rest = key % 8, key // 8
        a, m = rest // span, rest % span + base
    step = (a[1:] == a[:-1]) & (m[1:] == m[:-1] + 1)
    table = (
        pd.DataFrame({"to_month": m[1:][step], "frm": b[:-1][step], "to": b[1:][step]})
        .value_counts(sort=False)
        .rename("n")
        .reset_index()
    )
    return RollPart(table, last)


def roll_from_parts(parts: Sequence[RollPart], months: int | None = None) -> dict[str, Any]:
    """The roll-rate matrix of all slices together (see `roll_rates`)."""
    lasts = [p.last for p in parts if p.last is not None]
    table = pd.concat([p.table for p in parts], ignore_index=True)
    if months is not None and lasts:  # the last N month pairs of the whole history
        table = table[table["to_month"] > max(lasts) - months]
    k = len(BUCKET_LABELS)
    frm = table["frm"].to_numpy(dtype=np.int64)
    to = table["to"].to_numpy(dtype=np.int64)
    counts = np.bincount(frm * k + to, weights=table["n"].to_numpy(dtype=float), minlength=k * k)
    counts = counts.astype(np.int64).reshape(k, k)
    totals = counts.sum(axis=1)
    shares: list[list[float] | None] = [
        (counts[i] / totals[i]).tolist() if totals[i] else None for i in range(k)
    ]
    to_month = table["to_month"].to_numpy(dtype=np.int64)
    return {
        "buckets": list(BUCKET_LABELS),
        "counts": counts.tolist(),
        "rates": shares,
        "transitions": int(counts.sum()),
        "from_month": str(month_label(int(to_month.min()) - 1)) if to_month.size else None,
        "to_month": str(month_label(int(to_month.max()))) if to_month.size else None,
    }


def roll_rates(statements: pd.DataFrame, months: int | None = None) -> dict[str, Any]:
    """Month-to-month transitions between DPD buckets (`core.dpd.DPD_BUCKETS`), counts and row shares.

    `statements` needs account_id, statement_date and days_past_due. A transition pairs an
    account's statement with its statement of the next calendar month (a gap is no transition);
    `months` keeps the last N such month pairs of the history (None: all). Rows are the bucket
    this month, columns next month; a row without transitions has shares None. A history too
    large for memory is reduced bucket by bucket: `roll_from_parts` of each bucket's `roll_part`.
    """
    return roll_from_parts([roll_part(statements, months)], months)


#: One slice of a statement history: its statements and the accounts table for their open dates.
HistorySlice = tuple[pd.DataFrame, pd.DataFrame | None]


def portfolio_views(
    slices: Iterable[HistorySlice],
    *,
    freq: str = "Q",
    roll_months: int | None = 12,
    open_column: str = "signup_date",
    vintages: bool = True,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Vintage curves and roll rates of a history given slice by slice (buckets of accounts,
    each slice's accounts in no other): each slice is reduced and dropped before the next is
    read, so a history of hundreds of millions of statements never sits in memory at once. The
    result equals `vintage_curves` and `roll_rates` of the whole history."""
    vintage: list[VintagePart] = []
    rolls: list[RollPart] = []
    for statements, accounts in slices:
        if vintages:  # False: the book has no open dates (no vintages, never a stand-in)
            vintage.append(vintage_part(statements, accounts, open_column=open_column))
        rolls.append(roll_part(statements, roll_months))
    return vintage_from_parts(vintage, freq=freq), roll_from_parts(rolls, roll_months)


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

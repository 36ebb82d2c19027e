"""The behavioural features: each one's catalogue entry stands beside its computation.

A `Feature` declares its column name (or a name pattern filled per window), dtype, risk direction,
description, reason family (the family of configs/reasons.yaml it belongs to: a test checks that
the two agree), the input columns it reads (`sources`, as `table.column`), how much history
before the observation date it reads (`lookback`), and how its values are computed from the
`FeatureContext`. Features come in small `FeatureGroup`s; `GROUPS` lists them in output order.
The catalogue (`feature_columns`, `behavioural_catalogue`) is derived from these declarations
alone, so adding a feature is one declaration in its group.

A feature's values depend only on its `sources` (and the keys that place rows in time): a build
computes the features whose sources the tables have and skips the others (`Feature.missing`).
`attributes.*` sources fall back to the customers table's column of the same name when the book
has no dated attribute history (or no such column in it).

Every feature reads a fixed look-back: its windows, or `max_lookback_months` (params
`features.max_lookback_months`, at least the longest window) for the last statement and the
delinquency history. None reads back to the start of the data, so a book with 36 months of
statements and one with 12 give the same values wherever both hold the look-back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
import pandas as pd

from core.catalogue import FeatureSpec
from features.behavioural.context import FeatureContext
from features.behavioural.point_in_time import month_index
from features.behavioural.signals import PAYMENT_RATIO_CAP

#: The input tables a `source` may name.
SOURCE_TABLES = ("statements", "customers", "attributes")

#: A feature's values for every observation, from the context and the column's window in months
#: (the look-back for a `MAX_LOOKBACK` feature; None unless the feature reads one window).
Compute = Callable[[FeatureContext, int | None], np.ndarray]


def no_delinquency_months(max_lookback_months: int) -> float:
    """months_since_delinquency when no statement of the look-back was past due: one month past
    the look-back (the safest value, next to the longest gap it can see; never a sentinel far
    off the scale)."""
    return float(max_lookback_months + 1)


class Lookback(Enum):
    """How much of the history before the observation date a feature reads; every feature reads
    a fixed look-back, none reads back to the start of the data.

    Windowed features make one column per window (`EACH_WINDOW`), one for the longest window, or
    compare the shortest with the longest; the others read a fixed part of the history. A window
    of w months reads the statements dated in the w months before the date and, for signals that
    compare a statement with its predecessor (payment ratios, late payments), the statement just
    before them. `max_lookback_months` (>= the longest window) bounds what the others read: the
    last statement counts only when it lies in it, and the delinquency history is that of its
    months.
    """

    AT_DATE = "at_date"  # customer / attribute values in force at the date; no statements
    #: the last statement before the date, if it lies in the last max_lookback_months months
    LAST_STATEMENT = "last_statement"
    MAX_LOOKBACK = "max_lookback"  # statements of the last max_lookback_months months
    EACH_WINDOW = "each_window"  # one column per window w: statements of the last w months
    LONGEST_WINDOW = "longest_window"  # one column: statements of the longest window
    SHORT_VS_LONG = "short_vs_long"  # shortest against longest window; none with one window


@dataclass(frozen=True)
class Feature:
    """One behavioural feature: its catalogue entry, its reason family and its computation.

    `name` and `description` may hold `{w}` (the column's window) and, for `SHORT_VS_LONG`,
    `{lo}` / `{hi}` (shortest and longest window); `description` also `{lookback}`
    (max_lookback_months) and `{cap}` (`no_delinquency_months`).
    """

    name: str
    dtype: str  # "float" | "category"
    direction: int  # +1 riskier as it grows, -1 safer, 0 unknown / not monotone
    family: str  # reason family in configs/reasons.yaml
    lookback: Lookback
    sources: tuple[str, ...]  # input columns as "table.column"
    description: str
    compute: Compute
    categories: tuple[str, ...] | None = None

    @property
    def inputs(self) -> tuple[tuple[str, str], ...]:
        """`sources` as (table, column) pairs."""
        pairs = (s.split(".", 1) for s in self.sources)
        return tuple((table, column) for table, column in pairs)

    def missing(self, available: frozenset[str] | set[str]) -> list[str]:
        """The sources not among `available` (`table.column`): the feature is skipped unless
        this is empty."""
        return [s for s in self.sources if s not in available]


@dataclass(frozen=True)
class Column:
    """A feature made concrete for the build's windows: one column of the output."""

    feature: Feature
    name: str
    description: str
    window: int | None

    @property
    def spec(self) -> FeatureSpec:
        f = self.feature
        cats = None if f.categories is None else list(f.categories)
        return FeatureSpec(self.name, f.dtype, self.description, list(f.sources), f.direction, cats)

    def values(self, ctx: FeatureContext) -> np.ndarray | pd.Categorical:
        """The column as written: float32; categories fixed to the declared list, or, without
        one, the values as text (the features stage learns the categories on the training
        rows, as for a loan table's columns: `features.build.learn_categories`)."""
        values = self.feature.compute(ctx, self.window)
        if self.feature.dtype == "category":
            if self.feature.categories is None:
                text = pd.Series(values, dtype="object")
                return (
                    text.where(text.notna(), None)
                    .astype(object)
                    .map(lambda v: v if v is None else str(v))
                    .to_numpy(dtype=object)
                )
            return pd.Categorical(values, categories=list(self.feature.categories))
        return np.asarray(values, dtype=np.float32)


def _column(
    feature: Feature, window: int | None, windows: Sequence[int], lookback: int | None
) -> Column:
    lo, hi = windows[0], windows[-1]
    fill: dict[str, object] = {"w": window, "lo": lo, "hi": hi}
    text: dict[str, object] = {
        "lookback": "max_lookback_months" if lookback is None else lookback,
        "cap": "max_lookback_months + 1" if lookback is None else f"{lookback + 1}",
    }
    name = feature.name.format(**fill)
    return Column(feature, name, feature.description.format(**fill, **text), window)


@dataclass(frozen=True)
class FeatureGroup:
    """Features that belong together, in output order.

    The group's `EACH_WINDOW` features are laid out window by window (for each window, each of
    them in declaration order) at the place of the first of them.
    """

    name: str
    features: tuple[Feature, ...]

    def columns(self, windows: Sequence[int], lookback: int | None) -> list[Column]:
        """The group's columns for sorted, distinct `windows` and the look-back in months
        (None: names only, the descriptions name the parameter)."""
        out: list[Column] = []
        per_window = [f for f in self.features if f.lookback is Lookback.EACH_WINDOW]
        for f in self.features:
            if f.lookback is Lookback.EACH_WINDOW:
                if f is per_window[0]:
                    out += [_column(g, w, windows, lookback) for w in windows for g in per_window]
            elif f.lookback is Lookback.LONGEST_WINDOW:
                out.append(_column(f, windows[-1], windows, lookback))
            elif f.lookback is Lookback.SHORT_VS_LONG:
                if windows[0] != windows[-1]:
                    out.append(_column(f, None, windows, lookback))
            elif f.lookback is Lookback.MAX_LOOKBACK:
                out.append(_column(f, lookback, windows, lookback))
            else:
                out.append(_column(f, None, windows, lookback))
        return out


S, C, A = "statements.", "customers.", "attributes."


def _where_lookback(ctx: FeatureContext, values: np.ndarray) -> np.ndarray:
    """`values`, missing where the observation has no statement in the look-back."""
    return np.where(ctx.in_lookback, values, np.nan)


def _where_window(ctx: FeatureContext, values: np.ndarray, window: int) -> np.ndarray:
    """`values`, missing where the window holds no statement."""
    return np.where(ctx.hist.count(window) > 0, values, np.nan)


# --- shared with the policy inputs (features.behavioural.policy_inputs) -------------------------
def delinquency_episodes(ctx: FeatureContext) -> np.ndarray:
    """Delinquency spells with a statement in the look-back, the current one included (0 without
    a statement in it).

    The spells are the runs of past-due statements of the look-back alone: a spell that began
    before it counts once, as the run it leaves in the look-back, so no statement older than the
    look-back (nor the one just before it) changes the count.
    """

    def make() -> np.ndarray:
        hist, lookback = ctx.hist, ctx.lookback
        started = ctx.totals("episode_start", [lookback])[lookback]
        first = hist.starts[lookback]
        has = hist.end > first
        delinquent = ctx.signals.delinquent
        if not len(delinquent):
            return started
        at = np.minimum(first, len(delinquent) - 1)
        # the look-back's first statement opens a run even when its spell began before it
        carried = has & delinquent[at] & (ctx.signals.episode_start[at] == 0)
        return started + carried

    return ctx.memo("delinquency_episodes", make)


def currently_delinquent(ctx: FeatureContext) -> np.ndarray:
    """Past due at the last statement before the date (False without one in the look-back)."""
    return np.nan_to_num(ctx.last("dpd")) > 0


def first_time_delinquent(ctx: FeatureContext) -> np.ndarray:
    """Currently past due, in the account's first delinquency spell."""
    return currently_delinquent(ctx) & (delinquency_episodes(ctx) == 1)


# --- account ------------------------------------------------------------------------------------
ACCOUNT = FeatureGroup(
    "account",
    (
        Feature(
            "months_on_book",
            dtype="float",
            direction=-1,
            family="tenure",
            lookback=Lookback.AT_DATE,
            sources=(C + "signup_date",),
            description="Months from signup to the observation date.",
            compute=lambda c, w: c.observation_month - month_index(c.customer["signup_date"]),
        ),
        Feature(
            "credit_limit",
            dtype="float",
            direction=-1,
            family="lender_decisions",
            lookback=Lookback.AT_DATE,
            sources=(A + "credit_limit",),
            description="Credit limit (CNY) in force at the observation date.",
            compute=lambda c, w: c.dated["credit_limit"],
        ),
    ),
)

# --- utilisation: balance / the limit in force at each statement ------------------------------
_UTILISATION_SOURCES = (S + "outstanding_balance", A + "credit_limit")
UTILISATION = FeatureGroup(
    "utilisation",
    (
        Feature(
            "utilisation_current",
            dtype="float",
            direction=1,
            family="utilisation",
            lookback=Lookback.LAST_STATEMENT,
            sources=_UTILISATION_SOURCES,
            description="Outstanding balance / credit limit at the last statement before the date.",
            compute=lambda c, w: c.last("utilisation"),
        ),
        Feature(
            "utilisation_mean_{w}m",
            dtype="float",
            direction=1,
            family="utilisation",
            lookback=Lookback.EACH_WINDOW,
            sources=_UTILISATION_SOURCES,
            description="Mean utilisation (balance / limit) over the last {w} statements.",
            compute=lambda c, w: c.means("utilisation")[w],
        ),
        Feature(
            "utilisation_max_{w}m",
            dtype="float",
            direction=1,
            family="utilisation",
            lookback=Lookback.EACH_WINDOW,
            sources=_UTILISATION_SOURCES,
            description="Max utilisation (balance / limit) over the last {w} months.",
            compute=lambda c, w: c.maxima("utilisation")[w],
        ),
    ),
)


# --- spending ---------------------------------------------------------------------------------
def _bill_trend(ctx: FeatureContext, window: int | None) -> np.ndarray:
    short, long = ctx.means("bill_amount")[ctx.shortest], ctx.means("bill_amount")[ctx.longest]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(long > 0, short / long, np.nan)


SPENDING = FeatureGroup(
    "spending",
    (
        Feature(
            "bill_mean_{w}m",
            dtype="float",
            direction=0,
            family="spending",
            lookback=Lookback.EACH_WINDOW,
            sources=(S + "bill_amount",),
            description="Mean monthly bill amount (new spending) over {w} months.",
            compute=lambda c, w: c.means("bill_amount")[w],
        ),
        Feature(
            "bill_trend_{lo}m_{hi}m",
            dtype="float",
            direction=0,
            family="spending",
            lookback=Lookback.SHORT_VS_LONG,
            sources=(S + "bill_amount",),
            description=(
                "Mean bill over {lo} months / mean bill over {hi} months (>1: spending rising)."
            ),
            compute=_bill_trend,
        ),
    ),
)

# --- repayment: what was paid against what the previous statement asked -----------------------
REPAYMENT = FeatureGroup(
    "repayment",
    (
        Feature(
            "payment_ratio_min_mean_{w}m",
            dtype="float",
            direction=-1,
            family="repayment",
            lookback=Lookback.EACH_WINDOW,
            sources=(S + "paid_amount", S + "min_due"),
            description=(
                "Mean of paid / previous minimum due over {w} months (capped at "
                f"{PAYMENT_RATIO_CAP:g})."
            ),
            compute=lambda c, w: c.means("ratio_min")[w],
        ),
        Feature(
            "payment_ratio_bill_mean_{w}m",
            dtype="float",
            direction=-1,
            family="repayment",
            lookback=Lookback.EACH_WINDOW,
            sources=(S + "paid_amount", S + "bill_amount"),
            description=(
                f"Mean of paid / previous bill over {{w}} months (capped at {PAYMENT_RATIO_CAP:g})."
            ),
            compute=lambda c, w: c.means("ratio_bill")[w],
        ),
    ),
)

# --- delinquency within each window -----------------------------------------------------------
RECENT_DELINQUENCY = FeatureGroup(
    "recent_delinquency",
    (
        Feature(
            "late_payments_{w}m",
            dtype="float",
            direction=1,
            family="delinquency",
            lookback=Lookback.EACH_WINDOW,
            sources=(S + "payment_date", S + "due_date", S + "paid_amount", S + "min_due"),
            description=(
                "Cycles in the last {w} months whose payment came after the previous "
                "due date or fell short of the minimum due."
            ),
            compute=lambda c, w: _where_window(c, c.totals("late")[w], w),
        ),
        Feature(
            "max_dpd_{w}m",
            dtype="float",
            direction=1,
            family="delinquency",
            lookback=Lookback.EACH_WINDOW,
            sources=(S + "days_past_due",),
            description="Max days past due over the last {w} months.",
            compute=lambda c, w: c.maxima("dpd")[w],
        ),
        Feature(
            "months_delinquent_{w}m",
            dtype="float",
            direction=1,
            family="delinquency",
            lookback=Lookback.EACH_WINDOW,
            sources=(S + "days_past_due",),
            description="Statements with days past due > 0 in the last {w} months.",
            compute=lambda c, w: _where_window(c, c.totals("delinquent")[w], w),
        ),
    ),
)


# --- delinquency over the look-back and at the last statement ---------------------------------
def _months_since_delinquency(ctx: FeatureContext, window: int | None) -> np.ndarray:
    """The last past-due statement of the look-back (`window` = its months), found by a running
    max of past-due row positions over the sorted statements: a position at or after the start
    of the observation's look-back is its own account's (the rows of an account are
    contiguous)."""
    lookback = ctx.lookback if window is None else window
    hist, delinquent = ctx.hist, ctx.signals.delinquent
    start = hist.starts[lookback]
    found = np.zeros(ctx.rows, dtype=bool)
    months = np.full(ctx.rows, np.nan)
    if len(delinquent):
        rows = np.where(delinquent, np.arange(len(delinquent)), -1)
        last_row = np.maximum.accumulate(rows)[np.maximum(hist.end - 1, 0)]
        found = (hist.end > start) & (last_row >= start)
        s_month = month_index(ctx.prepared.stmt["statement_date"])
        months = ctx.observation_month - s_month[np.maximum(last_row, 0)]
    return np.where(
        found,
        months,
        np.where(hist.count(lookback) > 0, no_delinquency_months(lookback), np.nan),
    )


DELINQUENCY_STATUS = FeatureGroup(
    "delinquency_status",
    (
        Feature(
            "months_since_delinquency",
            dtype="float",
            direction=-1,
            family="delinquency",
            lookback=Lookback.MAX_LOOKBACK,
            sources=(S + "days_past_due", S + "statement_date"),
            description=(
                "Months since the last statement with days past due > 0 in the last {lookback} "
                "months ({cap} when none of them was past due)."
            ),
            compute=_months_since_delinquency,
        ),
        Feature(
            "delinquency_episodes",
            dtype="float",
            direction=1,
            family="delinquency",
            lookback=Lookback.MAX_LOOKBACK,
            sources=(S + "days_past_due",),
            description=(
                "Separate delinquency spells (runs of statements with dpd > 0) in the last "
                "{lookback} months, the current one included (a spell that began earlier counts "
                "once)."
            ),
            compute=lambda c, w: _where_lookback(c, delinquency_episodes(c)),
        ),
        Feature(
            "dpd_current",
            dtype="float",
            direction=1,
            family="delinquency",
            lookback=Lookback.LAST_STATEMENT,
            sources=(S + "days_past_due",),
            description="Days past due at the last statement before the date.",
            compute=lambda c, w: c.last("dpd"),
        ),
        Feature(
            "overdue_amount_current",
            dtype="float",
            direction=1,
            family="delinquency",
            lookback=Lookback.LAST_STATEMENT,
            sources=(S + "overdue_amount",),
            description="Unpaid minimum dues at the last statement before the date (CNY).",
            compute=lambda c, w: c.last("overdue_amount"),
        ),
        Feature(
            "first_time_delinquency",
            dtype="float",
            direction=0,
            family="delinquency",
            lookback=Lookback.MAX_LOOKBACK,
            sources=(S + "days_past_due",),
            description=(
                "1 when currently past due and no earlier delinquency spell had a statement in "
                "the last {lookback} months."
            ),
            compute=lambda c, w: _where_lookback(c, first_time_delinquent(c)),
        ),
        Feature(
            "repeat_delinquency",
            dtype="float",
            direction=1,
            family="delinquency",
            lookback=Lookback.MAX_LOOKBACK,
            sources=(S + "days_past_due",),
            description=(
                "1 when currently past due and an earlier delinquency spell had a statement in "
                "the last {lookback} months."
            ),
            compute=lambda c, w: _where_lookback(
                c, currently_delinquent(c) & (delinquency_episodes(c) > 1)
            ),
        ),
    ),
)

# --- instalment plans -------------------------------------------------------------------------
INSTALMENTS = FeatureGroup(
    "instalments",
    (
        Feature(
            "instalment_plans_current",
            dtype="float",
            direction=0,
            family="instalments",
            lookback=Lookback.LAST_STATEMENT,
            sources=(S + "instalment_plans",),
            description="Active instalment plans at the last statement before the date.",
            compute=lambda c, w: c.last("instalment_plans"),
        ),
        Feature(
            "instalment_plans_max_{w}m",
            dtype="float",
            direction=0,
            family="instalments",
            lookback=Lookback.LONGEST_WINDOW,
            sources=(S + "instalment_plans",),
            description="Max active instalment plans over the last {w} months.",
            compute=lambda c, w: c.maxima("instalment_plans", [w])[w],
        ),
    ),
)

# --- profile: customer and attribute values -----------------------------------------------------
PROFILE = FeatureGroup(
    "profile",
    (
        Feature(
            "income_band",
            dtype="category",
            direction=0,
            family="declared_profile",
            lookback=Lookback.AT_DATE,
            sources=(A + "income_band",),
            description="Declared income band in force at the observation date.",
            compute=lambda c, w: c.dated["income_band"],
        ),
    ),
)

#: Every behavioural feature, in output order.
GROUPS: tuple[FeatureGroup, ...] = (
    ACCOUNT,
    UTILISATION,
    SPENDING,
    REPAYMENT,
    RECENT_DELINQUENCY,
    DELINQUENCY_STATUS,
    INSTALMENTS,
    PROFILE,
)


def feature_columns(windows: Sequence[int], lookback: int | None = None) -> list[Column]:
    """The output columns for sorted, distinct `windows`, in output (= catalogue) order
    (`lookback`: max_lookback_months, for the descriptions and the look-back features' window;
    None only where the names alone are wanted)."""
    return [col for group in GROUPS for col in group.columns(windows, lookback)]


def feature(name: str) -> Feature:
    """The declared feature of this name or pattern (`max_dpd_{w}m`)."""
    for group in GROUPS:
        for f in group.features:
            if f.name == name:
                return f
    raise KeyError(name)

"""Which rows the explain stage explains, and which accounts the report drills into.

Explaining every row of a large book is the stage's main cost, and most current accounts are never
contacted, so they are owed no reasons. The stage explains:

- a stratified sample of the test split (the global views: importance, beeswarm, SHAP by grade);
- the current book's *actionable* accounts: those the collection policy acts on (overdue, or at or
  above the PD where the policy nudges a current account, `lowest_contact_pd`);
- the report's drill-down accounts (highest PDs, either side of each grade boundary), whatever
  the rule, so the report shows the same accounts in either population mode.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from collection_policy.policy import CollectionPolicy
from collection_policy.rulespace import build_rule_grid, first_match
from collection_policy.vocabulary import CHANNELS
from models.explain.treeshap import grade_order
from models.scaling import DEFAULT_GRADE

log = logging.getLogger(__name__)

POPULATIONS = ("actionable", "all")


# ------------------------------------------------------------------- the policy's contact line
def lowest_contact_pd(policy: CollectionPolicy) -> float:
    """The lowest PD at which the policy contacts a current (not overdue) account.

    Read from the policy's own rules, on the exact grid of cells their thresholds cut the account
    space into (`collection_policy.rulespace`): among cells with days_past_due 0, the deciding
    rule's channels (its override, else its tier's) must reach the debtor. The answer is the lower
    edge of the lowest such PD cell; a cell open at that edge (``pd > x``) gives ``x``, so the
    rows chosen with ``pd >= x`` are a superset by the boundary point only. Other conditions of a
    rule (flags, amounts, grade) are not narrowed: the lowest PD at which *any* current account is
    contacted, so no contacted account misses its reasons. Guardrails only remove contact and are
    not read. Returns ``inf`` when no current account is ever contacted.
    """
    grid = build_rule_grid(policy)
    columns = grid.columns
    n = len(next(iter(columns.values())))
    current = (
        np.asarray(columns["days_past_due"]) == 0
        if "days_past_due" in columns
        else np.ones(n, dtype=bool)
    )
    decided = first_match(policy, columns)
    contacts = np.array(
        [
            any(
                CHANNELS[ch].is_contact
                for ch in (r.channels if r.channels is not None else policy.tier(r.tier).channels)
            )
            for r in policy.rules
        ],
        dtype=bool,
    )
    hit = current & (decided >= 0) & contacts[np.maximum(decided, 0)]
    if not hit.any():
        log.info("%s contacts no current account: no current account is actionable", policy.source)
        return math.inf
    if "pd" not in columns:
        return 0.0
    lowest = float(np.min(np.asarray(columns["pd"], dtype=np.float64)[hit]))
    edges = [0.0] + sorted(
        t for r in policy.rules for c in r.conditions if c.field == "pd" for t in c.thresholds()
    )
    return max(e for e in edges if e <= lowest)


# ------------------------------------------------------------------------------ the test sample
def stratified_sample(strata: np.ndarray | pd.Series, n: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of `n` rows, each stratum at its population share.

    Proportional allocation (largest remainder) keeps the sample a miniature of the split, so
    unweighted means over it (mean |SHAP|, SHAP by grade, the beeswarm's density) estimate the
    split's own without weights; oversampling defaults would tilt every global view toward them.
    Missing labels form their own stratum. `n >= len(strata)` returns every position.
    """
    total = len(strata)
    if n < 0:
        raise ValueError("n must be >= 0")
    if n >= total:
        return np.arange(total)
    codes, _ = pd.factorize(pd.Series(np.asarray(strata, dtype=object)), use_na_sentinel=False)
    counts = np.bincount(codes)
    quota = counts * (n / total)
    alloc = np.floor(quota).astype(np.int64)
    short = n - int(alloc.sum())
    alloc[np.argsort(-(quota - alloc), kind="stable")[:short]] += 1
    rng = np.random.default_rng(seed)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    picks = [
        rng.choice(order[starts[k] : starts[k + 1]], size=int(a), replace=False)
        for k, a in enumerate(alloc)
        if a > 0
    ]
    return np.sort(np.concatenate(picks)) if picks else np.empty(0, dtype=np.int64)


# ------------------------------------------------------------------------------ row selection
@dataclass(frozen=True)
class Selection:
    """Rows chosen for explanation: sorted positions, the reason each was chosen, the counts."""

    positions: np.ndarray
    why: np.ndarray
    counts: dict


def select_rows(
    frame: pd.DataFrame,
    population: str,
    *,
    actionable_min_pd: float,
    test_sample_rows: int | None,
    seed: int,
    always: np.ndarray | None = None,
    book_split: str = "score",
    sample_split: str = "test",
) -> Selection:
    """Pick the rows worth explaining from `frame` (positional index; `split`, `pd`, `grade`,
    optional `default` and `days_past_due`).

    - `sample_split` (test): a stratified sample (grade x default) of at most `test_sample_rows`
      (None = all) for the global views; every label in the split keeps its share.
    - `book_split` (current book), `population="actionable"`: accounts the collection policy acts
      on - overdue (days_past_due > 0) or PD >= `actionable_min_pd` (pre-due nudge); a current,
      low-PD account is not contacted, so it is owed no reasons (the served model explains any
      single account on demand). `"all"`: every account.
    - `always`: positions explained whatever the rule (the report's drill-down accounts).
    """
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {POPULATIONS}, got {population!r}")
    n = len(frame)
    split = frame["split"].astype(str).to_numpy()
    why = np.full(n, "", dtype=object)
    counts: dict = {"mode": population}

    test = np.flatnonzero(split == sample_split)
    if len(test):
        strata = frame["grade"].astype(str).to_numpy(dtype=object)[test]
        if "default" in frame:
            dflt = frame["default"].astype("object").to_numpy()[test]
            strata = strata + "|" + pd.Series(dflt, dtype=object).astype(str).to_numpy()
        cap = len(test) if test_sample_rows is None else int(test_sample_rows)
        chosen = test[stratified_sample(strata, cap, seed=seed)]
        label = "test_sample" if len(chosen) < len(test) else "test_all"
        why[chosen] = label
        counts[sample_split] = {
            "rows": int(len(test)),
            "explained": int(len(chosen)),
            "rule": (
                f"seeded sample of {len(chosen)} stratified by grade x default (proportional)"
                if label == "test_sample"
                else "every row"
            ),
        }

    book = split == book_split
    if book.any():
        info: dict = {"rows": int(book.sum())}
        if population == "all":
            why[book] = "all"
            info["rule"] = "every account"
        else:
            pd_ = frame["pd"].to_numpy(dtype=np.float64)
            high = book & (pd_ >= actionable_min_pd)
            if "days_past_due" in frame:
                dpd = frame["days_past_due"].to_numpy(dtype=np.float64, na_value=np.nan)
                overdue = book & (dpd > 0)
            else:
                overdue = np.zeros(n, dtype=bool)
                info["days_past_due"] = "not available: PD rule only"
            why[overdue] = "overdue"
            why[high & ~overdue] = "pd_at_least_min"
            info["overdue"] = int(overdue.sum())
            info[f"pd_at_least_{actionable_min_pd:g}_not_overdue"] = int((high & ~overdue).sum())
            info["rule"] = (
                f"days_past_due > 0 or PD >= {actionable_min_pd:g} (contacted or nudged by the "
                "collection policy); others are not contacted and get no stored reasons"
            )
        counts[book_split] = info

    if always is not None and len(always):
        forced = np.asarray(always, dtype=np.int64)
        extra = forced[why[forced] == ""]
        why[extra] = "drilldown"
        counts["drilldown_extra"] = int(len(extra))

    positions = np.flatnonzero(why != "")
    if book.any():
        explained = int(book[positions].sum())
        counts[book_split]["explained"] = explained
        counts[book_split]["skipped"] = int(book.sum()) - explained
    counts["explained"] = int(len(positions))
    return Selection(positions=positions, why=why[positions].astype(str), counts=counts)


# ---------------------------------------------------------------------------------- drill-down
def select_drilldown(frame: pd.DataFrame, n_top: int) -> pd.DataFrame:
    """Accounts a reviewer should see: the highest PDs and the pairs straddling grade boundaries.

    `frame` has a positional index and `pd`, `grade` columns; returns the chosen rows with a
    `case` column, each row once (first case wins). Accounts in default (grade `D`, PD 1 by
    status, no model score) are left out: the model says nothing about them.
    """
    cases: dict[int, str] = {}
    scored = frame[frame["pd"].notna() & (frame["grade"].astype(str) != DEFAULT_GRADE)]
    for pos in scored["pd"].nlargest(n_top).index:
        cases.setdefault(int(pos), "highest PD")
    grades = grade_order(scored["grade"]) if "grade" in scored else []
    for lo, hi in zip(grades, grades[1:], strict=False):
        lower = scored[scored["grade"].astype(str) == lo]["pd"]
        upper = scored[scored["grade"].astype(str) == hi]["pd"]
        if len(lower) and len(upper):
            cases.setdefault(int(lower.idxmax()), f"grade boundary {lo}/{hi}: top of {lo}")
            cases.setdefault(int(upper.idxmin()), f"grade boundary {lo}/{hi}: bottom of {hi}")
    out = frame.loc[list(cases)].copy()
    out["case"] = [cases[int(i)] for i in out.index]
    return out


def book_split(split: np.ndarray | pd.Series) -> str:
    """The split whose accounts are the book: the current book ('score'), else the test split."""
    return "score" if (np.asarray(split) == "score").any() else "test"


def choose_rows(
    split: pd.Series,
    scored: pd.DataFrame,
    *,
    population: str,
    actionable_min_pd: float,
    test_sample_rows: int | None,
    report_top_pd: int,
    seed: int,
    default: pd.Series | None = None,
    days_past_due: pd.Series | None = None,
) -> tuple[Selection, pd.DataFrame]:
    """Which rows to explain (`select_rows`) and the report's drill-down accounts.

    `split`, `scored` (pd, grade, ...), `default` and `days_past_due` are aligned by position. The
    drill-down (highest PD, either side of each grade boundary) is picked on the whole book before
    selection and always explained, so the report shows the same accounts in either population
    mode. Returns the selection and the drill-down rows (index = positions).
    """
    splits = split.to_numpy()
    book = book_split(splits)
    frame = pd.DataFrame(
        {"split": splits, "pd": scored["pd"].to_numpy(), "grade": scored["grade"].to_numpy()}
    )
    if default is not None:
        frame["default"] = default.to_numpy()
    if days_past_due is not None:
        frame["days_past_due"] = days_past_due.to_numpy()
    shown = scored.assign(split=splits)
    pick = select_drilldown(shown[shown["split"] == book], n_top=report_top_pd)
    selection = select_rows(
        frame,
        population,
        actionable_min_pd=actionable_min_pd,
        test_sample_rows=test_sample_rows,
        seed=seed,
        always=pick.index.to_numpy(dtype=np.int64),
    )
    return selection, pick

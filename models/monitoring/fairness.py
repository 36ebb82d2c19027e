"""Fairness of scores and collection treatment across protected groups (fairlearn `MetricFrame`).

Per group of each protected column: size and mean PD (every row given), observed default rate,
observed/expected ratio with its exact interval and AUC (out-of-sample labelled rows: those whose
split is not a development split, train or validation, where the frame has a split; all labelled
rows where it has none), and from the tier engine's output the share of accounts in each tier and
the share contacted at all and by phone (tiered rows). Being contacted is the adverse outcome here,
so the most favoured group is the least contacted one and a group's adverse impact ratio (AIR) is
the favoured group's rate divided by its own; below `air_threshold` (the four-fifths rule) is a
flag. Because the policy is meant to act on risk, the same rates are given within each grade
(equal PD) and as a grade-mix-adjusted rate, so a reviewer can tell a difference explained by risk
from one that is not.

Scale: fairlearn's `MetricFrame` hands each metric its rows one Python object at a time (about
1.5 us per row and argument), far too slow for millions of rows. So the rows are first summed into
cells, one per group, grade and tier (vectorised: `np.bincount`), and `MetricFrame` groups the
cells, each metric getting the cells' counts and sums as `sample_params`; every count, rate, mean,
share and expected count is that of the rows. The AUC is exact too: the Mann-Whitney form
(sum of the positives' mid-ranks among the group's labelled rows), with the ranks taken per group
once over the rows and summed into the cells.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from collection_policy.vocabulary import CHANNELS
from models.monitoring.thresholds import MonitorConfig, labels_of
from models.validation.calibration_tests import oe_ratio

log = logging.getLogger(__name__)

#: Columns `attach_tiers` adds (a frame that already has them gets them replaced).
TIER_COLUMNS: tuple[str, ...] = ("tier", "tier_name", "contacted", "phoned")

MISSING_GROUP = "missing"
PROTECTED_PREFIX = "protected__"
PHONE_KINDS = frozenset({"voice"})
#: Splits the model was fitted or tuned on: their labels are in-sample, so not used to judge it.
DEVELOPMENT_SPLITS = ("train", "validation")


def _channel_flags(value: object) -> tuple[bool, bool]:
    names = [c for c in str(value).split(";") if c] if isinstance(value, str) else []
    known = [CHANNELS[c] for c in names if c in CHANNELS]
    unknown = [c for c in names if c not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown} in the tiers table")
    return any(c.is_contact for c in known), any(c.kind in PHONE_KINDS for c in known)


def contact_flags(channels: Any) -> tuple[np.ndarray, np.ndarray]:
    """(contacted, phoned) per row from the tiers table's `channels` ("app_push;sms;..."): any
    channel reaching the debtor (`Channel.is_contact`), any voice channel (IVR, agent calls).
    Decided once per distinct channel list, so a large book costs a factorize."""
    codes, uniques = pd.factorize(pd.Series(channels).astype("object"), use_na_sentinel=True)
    flags = np.array([_channel_flags(u) for u in uniques], dtype=bool).reshape(-1, 2)
    flags = np.vstack([flags, [[False, False]]])  # code -1: no channel list
    return flags[codes, 0], flags[codes, 1]


def attach_tiers(frame: pd.DataFrame, tiers: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the tier columns (tier, tier_name, contacted, phoned) of its tiered rows.

    Matched on account_id and observation_date when both tables carry the date; otherwise on
    account_id for the current book's rows only (split "score" when `frame` has a split), since
    the TIERS key is the account alone. Untiered rows get missing values. Only the key columns
    go through the join; the tier columns are taken by position, so a wide frame is not copied.
    """
    t = tiers[
        [
            c
            for c in ("account_id", "observation_date", "tier", "tier_name", "channels")
            if c in tiers.columns
        ]
    ]
    keys = ["account_id", "observation_date"]
    if not set(keys) <= set(frame.columns) or "observation_date" not in t.columns:
        keys = ["account_id"]
    if t.duplicated(subset=keys).any():
        raise ValueError(f"the tiers table repeats a key {keys}: cannot match accounts")
    contacted, phoned = contact_flags(t["channels"])
    # floats, so rows without a tier can hold NaN
    values: dict[str, np.ndarray] = {}
    if "tier" in t.columns:
        values["tier"] = t["tier"].astype(float).to_numpy()
    values["tier_name"] = t["tier_name"].astype("object").to_numpy()
    values["contacted"], values["phoned"] = contacted.astype(float), phoned.astype(float)

    right = t[keys].assign(_tier_row=np.arange(len(t), dtype="float64"))
    row = (
        frame[keys]
        .merge(right, on=keys, how="left", validate="many_to_one")["_tier_row"]
        .to_numpy(dtype="float64", na_value=np.nan, copy=True)
    )
    if keys == ["account_id"] and "split" in frame.columns:
        row[~_split_in(frame, ("score",))] = np.nan
    found = ~np.isnan(row)
    at = row[found].astype(np.int64)
    base = frame.drop(columns=[c for c in TIER_COLUMNS if c in frame.columns]).reset_index(
        drop=True
    )
    for name, v in values.items():
        col = np.full(len(base), np.nan, dtype=v.dtype)
        col[found] = v[at]
        base[name] = pd.Series(col, index=base.index, dtype=v.dtype)  # object stays object
    return base


def group_labels(values: Any) -> np.ndarray:
    """Protected attribute as text, missing as its own group."""
    s = pd.Series(values).astype("object")
    return s.where(s.notna(), MISSING_GROUP).astype(str).to_numpy(dtype=object)


def _coded(values: Any, label: Any) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, label per code) with `label` (a function of an array) applied to the
    distinct values only; values with the same label share a code."""
    codes, uniques = pd.factorize(pd.Series(values), use_na_sentinel=True)
    distinct = np.asarray(uniques, dtype=object)
    if (codes < 0).any():
        distinct = np.append(distinct, np.nan)  # code -1 (missing): the last
    named = label(distinct)
    merged, names = pd.factorize(pd.Series(named, dtype=object), use_na_sentinel=False)
    return merged[codes], np.asarray(names, dtype=object)


def _grade_labels(values: np.ndarray) -> np.ndarray:
    return pd.Series(values, dtype=object).astype(str).to_numpy(dtype=object)


def _tier_labels(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=object).astype(str)


def _split_in(frame: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """Rows whose split is one of `names` (a missing split is none), decided per distinct
    split, so a large book costs a factorize."""
    codes, uniques = pd.factorize(frame["split"], use_na_sentinel=True)
    hit = np.append(np.isin(np.asarray(uniques, dtype=object), list(names)), False)
    return hit[codes]


def out_of_sample(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose label may judge the model: those of no development split (train, validation),
    where the frame has a split column; every row where it has none."""
    if "split" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    return ~_split_in(frame, DEVELOPMENT_SPLITS)


def _labelled_note(frame: pd.DataFrame, used: np.ndarray) -> str:
    if "split" not in frame.columns:
        return "all labelled rows (no split column)"
    codes, uniques = pd.factorize(frame["split"], use_na_sentinel=True)
    present = np.unique(codes[used])
    splits = sorted({str(uniques[c]) if c >= 0 else "missing" for c in present})
    dev = "/".join(DEVELOPMENT_SPLITS)
    return f"out-of-sample: splits other than {dev} ({', '.join(splits) or 'none labelled'})"


def _cells(
    frame: pd.DataFrame, group: np.ndarray, grade: np.ndarray, tier: np.ndarray | None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows summed per (group, grade, tier) cell: the counts and sums every statistic of
    `fairness_for` is made of (tier -1: untiered). Returns (cells, used): `used` marks the
    out-of-sample labelled rows behind the label sums."""
    p = frame["pd"].to_numpy(dtype="float64")
    y = labels_of(frame["default"]) if "default" in frame.columns else np.full(len(frame), np.nan)
    used = ~np.isnan(y) & out_of_sample(frame)
    n_tiers = 1 if tier is None else int(tier.max(initial=-1)) + 2
    t = np.zeros(len(frame), dtype=np.int64) if tier is None else tier.astype(np.int64) + 1
    n_grades = int(grade.max(initial=-1)) + 1
    key = (group.astype(np.int64) * n_grades + grade) * n_tiers + t
    cell, distinct = pd.factorize(key)
    size = len(distinct)

    def total(weights: np.ndarray | None) -> np.ndarray:
        return np.bincount(cell, weights=weights, minlength=size)

    nan_pd = np.isnan(p)
    p0 = np.where(nan_pd, 0.0, p)
    # mid-ranks of PD among each group's out-of-sample labelled rows (Mann-Whitney AUC)
    rank = np.zeros(len(frame))
    if used.any():
        rank[used] = (
            pd.Series(p[used]).groupby(group[used]).rank(method="average").to_numpy(na_value=0.0)
        )
    positive = used & (y == 1.0)
    cells = pd.DataFrame(
        {
            "group": distinct // (n_grades * n_tiers),
            "grade": distinct // n_tiers % n_grades,
            "tier": distinct % n_tiers - 1,
            "n": total(None),
            "sum_pd": total(p0),
            "nan_pd": total(nan_pd),
            "n_labelled": total(used),
            "defaults": total(np.where(used, y, 0.0)),
            "expected": total(np.where(used, p0, 0.0)),
            "nan_pd_labelled": total(used & nan_pd),
            "positives": total(positive),
            "positive_ranks": total(np.where(positive, rank, 0.0)),
        }
    )
    if tier is not None:
        tiered = tier >= 0
        contacted = frame["contacted"].to_numpy(dtype="float64", na_value=np.nan)
        phoned = frame["phoned"].to_numpy(dtype="float64", na_value=np.nan)
        cells["n_tiered"] = total(tiered)
        cells["contacted"] = total(np.where(tiered, contacted, 0.0))
        cells["phoned"] = total(np.where(tiered, phoned, 0.0))
    return cells, used


def _by_group(
    stats: Any,
    cells: pd.DataFrame,
    weight: str,
    value: str,
    params: Sequence[str],
    groups: np.ndarray,
    grades: np.ndarray | None = None,
) -> pd.DataFrame:
    """`MetricFrame` of one metric returning a dict of statistics over aggregated cells, as a
    frame (one row per group, or per grade and group with `grades`). The metric gets the cells of
    a group: y_true = `weight` (rows counted), y_pred = `value` (their sum) and each of `params`
    as a sample parameter (fairlearn splits those with the groups). Cells, not rows, keep
    fairlearn's per-element cost off a million-row book."""
    mf = MetricFrame(
        metrics=stats,
        y_true=cells[weight].to_numpy(),
        y_pred=cells[value].to_numpy(),
        sensitive_features=pd.Series(groups[cells["group"].to_numpy()], name="group"),
        control_features=None
        if grades is None
        else pd.Series(grades[cells["grade"].to_numpy()], name="grade"),
        sample_params={c: cells[c].to_numpy() for c in params},
    )
    by = mf.by_group
    by = by.iloc[:, 0] if isinstance(by, pd.DataFrame) else by
    by = by[by.map(lambda v: isinstance(v, dict))]
    return pd.DataFrame(list(by.to_numpy()), index=by.index)


def _pd_stats(y_true: np.ndarray, y_pred: np.ndarray, *, nan_pd: np.ndarray) -> dict[str, Any]:
    """y_true: rows, y_pred: sum of PD per cell."""
    n = int(np.sum(y_true))
    mean = float(np.sum(y_pred) / n) if n and not np.sum(nan_pd) else float("nan")
    return {"n": n, "mean_pd": mean}


def _label_stats(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    defaults: np.ndarray,
    nan_pd_labelled: np.ndarray,
    positives: np.ndarray,
    positive_ranks: np.ndarray,
) -> dict[str, Any]:
    """y_true: labelled rows, y_pred: their sum of PD per cell; AUC = (R - P(P+1)/2) / (P N)
    with R the positives' mid-rank sum (ties count half), None where `optional_auc` gives None."""
    n = int(np.sum(y_true))
    d = float(np.sum(defaults))
    pos = int(np.sum(positives))
    neg = n - pos
    nan_pd = bool(np.sum(nan_pd_labelled))
    auc = None
    if n and not nan_pd and pos and neg:
        auc = float((float(np.sum(positive_ranks)) - pos * (pos + 1) / 2.0) / (pos * neg))
    return {
        "n_labelled": n,
        "defaults": d,
        "expected": float("nan") if nan_pd else float(np.sum(y_pred)),
        "observed_rate": d / n if n else float("nan"),
        "auc": auc,
    }


def _contact_stats(y_true: np.ndarray, y_pred: np.ndarray, *, phoned: np.ndarray) -> dict[str, Any]:
    """y_true: tiered rows, y_pred: contacted rows per cell."""
    n = int(np.sum(y_true))
    return {
        "n_tiered": n,
        "contact_rate": float(np.sum(y_pred) / n),
        "phone_rate": float(np.sum(phoned) / n),
    }


def _tier_stats(names: Sequence[str]) -> Any:
    def tier_stats(y_true: np.ndarray, y_pred: np.ndarray, *, tier: np.ndarray) -> dict[str, Any]:
        """y_true: tiered rows per cell, `tier`: the cell's tier code (index into `names`)."""
        n = float(np.sum(y_true))
        counts = np.bincount(tier, weights=y_true, minlength=len(names))
        return {f"tier:{name}": float(counts[i] / n) for i, name in enumerate(names)}

    return tier_stats


def adverse_impact(rates: pd.Series, sizes: pd.Series, min_size: int) -> dict[str, float]:
    """Per group: the least-contacted eligible group's rate over the group's own (1 = treated as
    the favoured group, 0.5 = contacted twice as often). Groups below `min_size` are left out."""
    ok = (sizes >= min_size) & rates.notna()
    r = rates[ok].astype(float)
    if len(r) < 2:
        return {}
    low = float(r.min())
    return {str(g): (1.0 if v == 0 else low / float(v)) for g, v in r.items()}


def _oe(defaults: float, expected: float, level: float) -> tuple[float, float, float]:
    if not np.isfinite(defaults) or not np.isfinite(expected):
        return float("nan"), float("nan"), float("nan")
    return oe_ratio(int(round(defaults)), float(expected), level)


def fairness_for(
    frame: pd.DataFrame,
    column: str,
    config: MonitorConfig,
    grade_order: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Fairness view of one protected column over `frame` (rows: pd, grade, default, the column,
    optionally split and, after `attach_tiers`, tier_name/contacted/phoned).

    n and mean PD per group are over every row; observed rate, O/E and AUC over the out-of-sample
    labelled rows only (`out_of_sample`: not train/validation where there is a split; the view's
    "labelled_rows" says which); contact rates and tier shares over the tiered rows. See the
    module docstring."""
    group, groups = _coded(frame[column], group_labels)
    grade, grades = _coded(frame["grade"], _grade_labels)
    has_tiers = "contacted" in frame.columns and frame["contacted"].notna().any()
    tier, names = None, []
    if has_tiers:
        tiered = frame["contacted"].notna().to_numpy()
        code, labels = _coded(frame["tier_name"].astype("object").to_numpy()[tiered], _tier_labels)
        names = sorted(set(labels))
        tier = np.full(len(frame), -1, dtype=np.int64)
        tier[tiered] = np.searchsorted(np.asarray(names, dtype=object), labels)[code]
    cells, used = _cells(frame, group, grade, tier)

    table = _by_group(_pd_stats, cells, "n", "sum_pd", ["nan_pd"], groups)
    if used.any():
        label_params = ["defaults", "nan_pd_labelled", "positives", "positive_ranks"]
        labelled = cells[cells["n_labelled"] > 0]
        table = table.join(
            _by_group(_label_stats, labelled, "n_labelled", "expected", label_params, groups),
            how="left",
        )
    by_grade_rows: list[dict[str, Any]] = []
    outcome_col = "phone_rate" if config.air_outcome == "phone" else "contact_rate"
    if has_tiers:
        tiered_cells = cells[cells["tier"] >= 0]
        table = table.join(
            _by_group(_contact_stats, tiered_cells, "n_tiered", "contacted", ["phoned"], groups),
            how="left",
        )
        table = table.join(
            _by_group(_tier_stats(names), tiered_cells, "n_tiered", "n_tiered", ["tier"], groups),
            how="left",
        )

        def grade_stats(yt: np.ndarray, yp: np.ndarray, *, phoned: np.ndarray) -> dict[str, Any]:
            stats = _contact_stats(yt, yp, phoned=phoned)
            return {**stats, "n": stats["n_tiered"]}

        within = _by_group(
            grade_stats, tiered_cells, "n_tiered", "contacted", ["phoned"], groups, grades
        )
        by_grade_rows, adjusted = _equal_risk(within, outcome_col, config, grade_order)
        table["adjusted_rate"] = pd.Series(adjusted)
    air = (
        adverse_impact(table[outcome_col], table["n_tiered"], config.min_group_size)
        if has_tiers
        else {}
    )
    air_adj = (
        adverse_impact(table["adjusted_rate"], table["n_tiered"], config.min_group_size)
        if has_tiers
        else {}
    )
    groups, flags = [], []
    for name, row in table.iterrows():
        g = str(name)
        ratio, low, high = _oe(
            row.get("defaults", np.nan), row.get("expected", np.nan), config.level
        )
        entry: dict[str, Any] = {
            "group": g,
            "n": int(row["n"]),
            "mean_pd": float(row["mean_pd"]),
            "n_labelled": int(row["n_labelled"]) if pd.notna(row.get("n_labelled")) else 0,
            "observed_rate": row.get("observed_rate"),
            "oe_ratio": ratio,
            "oe_low": low,
            "oe_high": high,
            "auc": row.get("auc"),
            "n_tiered": int(row["n_tiered"]) if has_tiers and pd.notna(row["n_tiered"]) else 0,
            "contact_rate": row.get("contact_rate") if has_tiers else None,
            "phone_rate": row.get("phone_rate") if has_tiers else None,
            "adjusted_rate": row.get("adjusted_rate") if has_tiers else None,
            "tier_shares": {
                c[5:]: row[c] for c in table.columns if c.startswith("tier:") and pd.notna(row[c])
            },
            "air": air.get(g),
            "air_equal_risk": air_adj.get(g),
        }
        groups.append(entry)
        if np.isfinite(low) and np.isfinite(high) and not (low <= 1.0 <= high):
            flags.append(
                {
                    "kind": "calibration",
                    "group": g,
                    "message": f"group {g}: observed/expected {ratio:.2f} "
                    f"[{low:.2f}, {high:.2f}] excludes 1",
                }
            )
    worst_air = min(air.values()) if air else None
    worst_adj = min(air_adj.values()) if air_adj else None
    outcome = "phone contact" if config.air_outcome == "phone" else "contact"
    for kind, values, label in (
        ("adverse_impact", air, outcome),
        ("adverse_impact_equal_risk", air_adj, f"grade-adjusted {outcome}"),
    ):
        for g, v in values.items():
            if v < config.air_threshold:
                flags.append(
                    {
                        "kind": kind,
                        "group": g,
                        "message": f"group {g}: {label} rate AIR {v:.2f} < {config.air_threshold:g}"
                        " against the least-contacted group",
                    }
                )
    return {
        "column": column,
        "outcome": config.air_outcome,
        "labelled_rows": _labelled_note(frame, used),
        "groups": groups,
        "adverse_impact_ratio": worst_air,
        "adverse_impact_ratio_equal_risk": worst_adj,
        "by_grade": by_grade_rows,
        "flags": flags,
    }


def _equal_risk(
    within: pd.DataFrame,
    outcome_col: str,
    config: MonitorConfig,
    grade_order: Sequence[str] | None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Contact rates per grade and group with the per-grade AIR, and each group's grade-mix
    adjusted rate: its observed rate scaled by the book's rate over what the book's per-grade
    rates predict for its grade mix (indirect standardisation; equal treatment at equal PD
    gives every group the book's rate)."""
    w = within.reset_index()
    grades = list(dict.fromkeys(w["grade"]))
    if grade_order is not None:
        grades = [g for g in grade_order if g in set(grades)] + [
            g for g in grades if g not in set(grade_order)
        ]
    rows: list[dict[str, Any]] = []
    for gr in grades:
        sub = w[w["grade"] == gr].set_index("group")
        air = adverse_impact(sub[outcome_col], sub["n"], config.min_group_size)
        for g, r in sub.iterrows():
            rows.append(
                {
                    "grade": str(gr),
                    "group": str(g),
                    "n": int(r["n"]),
                    "contact_rate": float(r["contact_rate"]),
                    "phone_rate": float(r["phone_rate"]),
                    "air": air.get(str(g)),
                }
            )
    n = w["n"].astype(float)
    hits = w[outcome_col].astype(float) * n
    grade_rate = hits.groupby(w["grade"]).sum() / n.groupby(w["grade"]).sum()
    book_rate = float(hits.sum() / n.sum()) if n.sum() else float("nan")
    expected = (w["grade"].map(grade_rate) * n).groupby(w["group"]).sum()
    observed = hits.groupby(w["group"]).sum()
    adjusted = {
        str(g): (float(observed[g] / expected[g] * book_rate) if expected[g] > 0 else book_rate)
        for g in observed.index
    }
    return rows, adjusted


def fairness(
    frame: pd.DataFrame,
    config: MonitorConfig,
    tiers: pd.DataFrame | None = None,
    grade_order: Sequence[str] | None = None,
) -> dict[str, Any]:
    """`fairness_for` each protected column of `config`, keyed by the column name less its
    "protected__" prefix ({"age_band": {...}}). A configured column missing from `frame` is an
    error: a fairness report that silently leaves a group out reads as "no finding"."""
    absent = [c for c in config.protected if c not in frame.columns]
    if absent:
        raise ValueError(f"protected column(s) {absent} are not in the monitored rows")
    used = ("account_id", "observation_date", "pd", "grade", "default", "split", *TIER_COLUMNS)
    data = frame[[c for c in (*used, *config.protected) if c in frame.columns]]  # not the features
    data = attach_tiers(data, tiers) if tiers is not None else data
    out: dict[str, Any] = {}
    for column in config.protected:
        key = column.removeprefix(PROTECTED_PREFIX)
        out[key] = fairness_for(data, column, config, grade_order)
    return out

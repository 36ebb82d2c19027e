"""One monitoring run: stability, performance, portfolio views and fairness from frames.

`monitor` takes tables, not paths, so the same call serves the pipeline stage and a scored file
that arrives long after training. `monitoring_frames` builds its two main inputs from the SCORES
and FEATURES tables. Every output is plain data; `MonitorResult.to_dict` is strict JSON.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from models.monitoring.fairness import fairness
from models.monitoring.performance import grade_performance, period_performance
from models.monitoring.portfolio import HistorySlice, portfolio_views, vintage_dict
from models.monitoring.stability import model_features, reference_mask, stability
from models.monitoring.thresholds import (
    RED,
    MonitorConfig,
    PeriodIndex,
    json_safe,
    labels_of,
    period_labels,
    worst,
)

log = logging.getLogger(__name__)

KEYS = ["account_id", "observation_date"]


@dataclass(frozen=True)
class MonitorResult:
    """What a monitoring run found; `to_dict` is the JSON the stage writes."""

    monitoring: dict[str, Any]
    fairness: dict[str, Any]
    vintage: pd.DataFrame = field(default_factory=pd.DataFrame)
    roll_rates: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    #: why the vintage curves are absent, when they are (a lender's book without open dates)
    vintage_note: str | None = None

    def reports(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(reports/monitoring.json with the portfolio views, reports/fairness.json, the
        headline: worst PSI, worst O/E, red periods, the lowest adverse impact ratio)."""
        doc = self.to_dict()
        portfolio = {"vintage": doc["vintage"], "roll_rates": doc["roll_rates"]}
        if self.vintage_note:
            portfolio["vintage_note"] = self.vintage_note
        head = doc["monitoring"]["headline"]
        airs = [
            group["adverse_impact_ratio"]
            for group in doc["fairness"].values()
            if isinstance(group, dict) and group.get("adverse_impact_ratio") is not None
        ]
        headline = {
            "worst_psi": head["worst_psi"],
            "worst_oe": head["worst_oe"],
            "red_count": head["red_count"],
            "min_adverse_impact_ratio": min(airs) if airs else None,
        }
        return doc["monitoring"] | {"portfolio": portfolio}, doc["fairness"], headline

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON dict (NaN/inf -> null): monitoring, fairness, vintage, roll_rates."""
        return json_safe(
            {
                "monitoring": self.monitoring,
                "fairness": self.fairness,
                "vintage": vintage_dict(self.vintage) if not self.vintage.empty else [],
                "roll_rates": self.roll_rates,
            }
        )


class MonitoringFrames(NamedTuple):
    """The two inputs of `monitor` built from the pipeline's tables: the development rows as a
    mask over the joined book (never copied into a frame of their own) and the book."""

    reference: np.ndarray
    current: pd.DataFrame


def _same_keys(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    return len(left) == len(right) and all(
        np.array_equal(left[k].to_numpy(), right[k].to_numpy()) for k in KEYS
    )


def monitoring_frames(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    reference_split: str = "train",
) -> MonitoringFrames:
    """(reference, current) from SCORES and FEATURES: scores joined with the feature columns on
    account_id and observation_date; current is all rows (so the development months show the
    baseline drift next to the later ones), reference the mask of `reference_split`'s rows.

    The train stage writes the scores in the feature table's row order: the join is then a
    column concatenation (checked key by key), otherwise a one-to-one merge.
    """
    extra = [c for c in features.columns if c not in set(scores.columns)]
    if _same_keys(scores, features):
        joined = pd.concat(
            [scores.reset_index(drop=True), features[extra].reset_index(drop=True)], axis=1
        )
    else:
        joined = scores.merge(features[extra + KEYS], on=KEYS, how="left", validate="one_to_one")
    rows = (joined["split"] == reference_split).to_numpy(dtype=bool, na_value=False)
    if not rows.any():
        raise ValueError(f"no rows of the reference split {reference_split!r} in the scores")
    return MonitoringFrames(rows, joined)


def _until(stop: threading.Event, slices: Iterable[HistorySlice]) -> Iterator[HistorySlice]:
    """The slices until `stop` is set (a failed run does not read the rest of the history)."""
    for item in slices:
        if stop.is_set():
            return
        yield item


def _timed(function: Any, *args: Any) -> tuple[Any, float]:
    """function(*args) and the seconds it took."""
    t0 = time.perf_counter()
    return function(*args), time.perf_counter() - t0


def _portfolio(
    slices: Iterable[HistorySlice], cfg: MonitorConfig, vintages: bool = True
) -> tuple[pd.DataFrame, dict[str, Any], float]:
    """Vintage curves, roll rates and the seconds they took (reading a lazy history included)."""
    t0 = time.perf_counter()
    vintage, rolls = portfolio_views(
        slices, freq=cfg.cohort_freq, roll_months=cfg.roll_months, vintages=vintages
    )
    return vintage, rolls, time.perf_counter() - t0


def _oe_distance(row: dict[str, Any]) -> float:
    r = row.get("oe_ratio")
    return abs(math.log(r)) if r is not None and r > 0 else (math.inf if r == 0 else -1.0)


def run_monitor(
    reference: pd.DataFrame | np.ndarray,
    current: pd.DataFrame,
    *,
    config: MonitorConfig | None = None,
    tiers: pd.DataFrame | None = None,
    statements: pd.DataFrame | None = None,
    accounts: pd.DataFrame | None = None,
    history: Iterable[HistorySlice] | None = None,
    features: Sequence[str] | None = None,
    grade_order: Sequence[str] | None = None,
    vintages: bool = True,
) -> MonitorResult:
    """Monitor `current` against the development `reference`.

    reference: the development rows (train split) with `pd` and the model features, or a
      boolean mask over `current` marking them (`monitoring_frames`: no copy of those rows).
    current: the rows to monitor with observation_date, pd, grade, default (null where not yet
      known), the same features, protected__* columns and (optionally) split; periods are the
      observation months ("current" where the date is missing).
    tiers: the TIERS table (account_id, tier_name, channels; observation_date when present) for
      the contact rates of the fairness view; statements (account_id, statement_date,
      days_past_due) for vintages and roll rates; accounts (account_id, signup_date) for the
      cohorts; or `history`, the same given slice by slice (bucket by bucket, read lazily: see
      `portfolio.portfolio_views`). `features` defaults to the model features both frames share.
    """
    cfg = config or MonitorConfig()
    for col in ("pd", "grade", "observation_date"):
        if col not in current.columns:
            raise ValueError(f"the current frame has no {col!r} column")
    ref_rows = reference_mask(reference, current)
    if ref_rows is None and ("pd" not in reference.columns or reference.empty):
        raise ValueError("the reference frame needs rows and a 'pd' column")
    if ref_rows is not None and not ref_rows.any():
        raise ValueError("the reference mask selects no current row")
    seconds: dict[str, float] = {}
    # The statement views and the fairness view share nothing with stability and performance:
    # they run beside them on other threads (numpy and pandas release the GIL in their loops),
    # joined before the result is built. Each view reads the frames and never writes them.
    background = ThreadPoolExecutor(max_workers=2)
    if history is None and statements is not None:
        history = [(statements, accounts)]
    stop = threading.Event()  # set when this call fails: the history reader stops early
    portfolio = (
        background.submit(_portfolio, _until(stop, history), cfg, vintages)
        if history is not None
        else None
    )
    fair_view = background.submit(_timed, fairness, current, cfg, tiers, grade_order)
    try:
        t0 = time.perf_counter()
        periods = PeriodIndex.of(period_labels(current["observation_date"]))
        if features is not None:
            names = list(features)
        else:
            names = model_features(current if ref_rows is not None else reference, current)
        stab = stability(reference, current, periods, cfg, names)
        seconds["stability"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        y = (
            labels_of(current["default"])
            if "default" in current.columns
            else np.full(len(current), np.nan)
        )
        p = current["pd"].to_numpy(dtype="float64")
        grade = current["grade"].astype(str).to_numpy(dtype=object)
        perf = period_performance(y, p, periods, cfg)
        grades = grade_performance(y, p, grade, periods, cfg, grade_order)
        seconds["performance"] = time.perf_counter() - t0

        splits: dict[str, list[str]] = {}
        if "split" in current.columns:
            split_codes, split_names = pd.factorize(current["split"].astype(str))
            pairs = np.unique(periods.codes * (len(split_names) + 1) + split_codes)  # a few dozen
            for code in pairs:
                period, split = divmod(int(code), len(split_names) + 1)
                splits.setdefault(periods.order[period], []).append(str(split_names[split]))
            splits = {k: sorted(v) for k, v in splits.items()}
        rows = []
        for row in perf:
            period = row["period"]
            psi = stab["score_psi"].get(period)
            psi_light = stab["score_rag"].get(period)
            rows.append(
                {
                    "period": period,
                    "splits": splits.get(period, []),
                    "n": row["n"],
                    "score_psi": psi,
                    "psi_rag": psi_light,
                    "top_features": stab["top_by_period"].get(period, []),
                    **{k: v for k, v in row.items() if k not in ("period", "n")},
                    "rag": worst(psi_light, row["oe_rag"]),
                }
            )
        feature_rows = [
            {
                "feature": r["feature"],
                "psi_by_period": r["psi_by_period"],
                "max_psi": r["max_psi"],
                "rag": r["rag"],
            }
            for r in stab["features"]
        ]
        psis = [r["score_psi"] for r in rows if r["score_psi"] is not None]
        labelled = [r for r in rows if r["oe_ratio"] is not None]
        worst_oe = max(labelled, key=_oe_distance) if labelled else None
        headline = {
            "worst_psi": max(psis) if psis else None,
            "worst_psi_period": max(rows, key=lambda r: r["score_psi"] or -1.0)["period"]
            if psis
            else None,
            "worst_oe": worst_oe["oe_ratio"] if worst_oe else None,
            "worst_oe_period": worst_oe["period"] if worst_oe else None,
            "red_count": sum(r["rag"] == RED for r in rows),
            "amber_count": sum(r["rag"] == "amber" for r in rows),
            "red_features": [r["feature"] for r in feature_rows if r["rag"] == RED],
            "top_drifting_features": [
                r["feature"]
                for r in feature_rows[: cfg.top_features]
                if r["rag"] not in (None, "green")
            ],
        }
        monitoring = {
            "config": {
                "psi_amber": cfg.psi_amber,
                "psi_red": cfg.psi_red,
                "level": cfg.level,
                "p_amber": cfg.p_amber,
                "p_red": cfg.p_red,
            },
            "reference_rows": int(ref_rows.sum()) if ref_rows is not None else len(reference),
            "periods": rows,
            "features": feature_rows,
            "grades": grades,
            "headline": headline,
        }

        fair, seconds["fairness"] = fair_view.result()

        vintage, rolls = pd.DataFrame(), None
        if portfolio is not None:
            vintage, rolls, seconds["portfolio"] = portfolio.result()
    except BaseException:
        stop.set()
        raise
    finally:
        background.shutdown()
    log.info(
        "monitor: %d periods (%d red), worst PSI %s, timings %s",
        len(rows),
        headline["red_count"],
        headline["worst_psi"],
        {k: round(v, 2) for k, v in seconds.items()},
    )
    return MonitorResult(
        monitoring=json_safe(monitoring),
        fairness=json_safe(fair),
        vintage=vintage,
        roll_rates=rolls,
        seconds=seconds,
        vintage_note=None
        if vintages or history is None
        else "vintages skipped: the accounts have no open date (data.history.columns.open_date)",
    )

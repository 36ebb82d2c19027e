"""Cure rates learned from an outcome history, for the expected-value mode.

The policy's `ev.cure_rate` per tier is a hand-set guess, and PD (the chance of reaching 90+ DPD)
is the wrong driver for an account already past due. This module replaces both when an outcome
history exists (past-due account-months with the tier each was treated at and whether it cured
by the next statement):

* the **state probability** of a past-due account is the chance its arrears do NOT cure next
  month under the minimum treatment (the holdout's tier), learned per segment (DPD bucket x PD
  band) and made non-decreasing in the PD band within each bucket (weighted isotonic fit);
* the **uplift** of tier t in DPD bucket B is the share of those non-curing accounts that t cures
  beyond the minimum treatment, (cure(t, s) - cure(base, s)) / (1 - cure(base, s)), pooled over
  the bucket's cells where t was seen (weighted by their counts) and made non-decreasing in the
  tier (more intensive treatment never cures less);
* a past-due account's value of tier t is then exposure x state probability x uplift(t, B) x
  (1 - commission) - cost(t): a tier-and-segment cure rate, cure(t, s) = cure(base, s) +
  uplift(t, B) x (1 - cure(base, s)), whose tier effect is proportional to what is left to cure
  (early arrears respond to a reminder; 60+ days, cures are rare whatever is done).

Within a DPD bucket the state probability rises with PD and the slopes are fixed and rise with the
tier (among the tiers offered), so the chosen tier can only rise with PD or exposure: the monotonicity the policy proofs
rely on holds by construction, not by chance of the data; a tier whose learned value per unit
(uplift x (1 - its commission)) falls below a gentler tier's is not offered in that bucket
(`collection_policy.engine`), the rule the policy loader applies to the assumed rates. A thin
baseline cell is shrunk to its segment's rate, and a thin segment to its DPD bucket's.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.isotonic import isotonic_regression

from collection_policy.outcomes import (
    ResponseModel,
    segment_of,
    simulate_outcomes,
    true_outcome_probabilities,
)
from core.dpd import COLLECTION_EDGES, COLLECTION_LABELS, collection_bucket
from core.errors import DataValidationError, InvalidConfig

#: Columns an outcome history must hold (one row per treated past-due account-month).
HISTORY_COLUMNS: tuple[str, ...] = ("tier", "days_past_due", "pd", "cured")
#: Optional column: the key within which the logging policy drew tiers at random.
STRATUM = "stratum"
#: Version tag of the rates file (`EVRates.to_json`).
RATES_FORMAT = "ev_rates/1"
#: What a rates file says when there was no history to learn from.
NO_HISTORY = {"format": RATES_FORMAT, "source": "policy assumptions"}
#: PD band edges of the segments.
PD_EDGES: tuple[float, ...] = (0.1, 0.3)


def segment_labels(pd_edges: Sequence[float] = PD_EDGES) -> np.ndarray:
    """(past-due buckets x PD bands) grid of the segment labels `outcomes.segment_of` gives."""
    lows = np.asarray(COLLECTION_EDGES, dtype=float)
    mids = np.array([(lo + hi) / 2 for lo, hi in itertools.pairwise([0.0, *pd_edges, 1.0])])
    dpd = np.repeat(lows, len(mids))
    pd_ = np.tile(mids, len(lows))
    return segment_of(dpd, pd_, pd_edges).reshape(len(lows), len(mids))


@dataclass(frozen=True, eq=False)
class EVRates:
    """Learned state probabilities and tier uplifts (see the module docstring)."""

    baseline_tier: int  # the minimum treatment every past-due account gets (holdout tier)
    uplift: np.ndarray  # (past-due buckets x tiers); NaN where unknown (below the baseline, unseen)
    no_cure: np.ndarray  # (past-due buckets x PD bands): P(no cure | baseline treatment)
    pd_edges: tuple[float, ...]
    counts: np.ndarray  # history rows per tier
    segment_counts: np.ndarray  # baseline-treated history rows per segment
    rows: int  # past-due history rows used
    source: str  # where the history came from
    true_uplift: np.ndarray | None = None  # the generator's answer, on the built-in book only

    def with_truth(self, true_uplift: np.ndarray) -> EVRates:
        """The same rates carrying the true uplift they estimate (for the report's check)."""
        return dataclasses.replace(self, true_uplift=np.asarray(true_uplift, dtype=float))

    def state_probability(self, days_past_due: ArrayLike, pd: ArrayLike) -> np.ndarray:
        """P(no cure next month under the minimum treatment) for past-due accounts, PD for the
        rest (current accounts have no arrears to cure); NaN for a past-due account whose
        segment the history does not cover (see `covers`)."""
        dpd = np.asarray(days_past_due, dtype=float)
        p = np.asarray(pd, dtype=float)
        bucket = collection_bucket(dpd)
        band = np.searchsorted(np.asarray(self.pd_edges), p, side="right")
        past_due = bucket > 0
        out = p.copy()
        out[past_due] = self.no_cure[bucket[past_due] - 1, band[past_due]]
        return out

    def covers(self, days_past_due: ArrayLike, pd: ArrayLike) -> np.ndarray:
        """True for past-due accounts whose segment the history covers."""
        state = self.state_probability(days_past_due, pd)
        return (np.asarray(days_past_due, dtype=float) > 0) & np.isfinite(state)

    def slopes(self, commission: ArrayLike) -> np.ndarray:
        """Value per unit of exposure x state probability, per past-due bucket and tier:
        uplift x (1 - commission); NaN where the uplift is unknown."""
        return self.uplift * (1.0 - np.asarray(commission, dtype=float))[None, :]

    @staticmethod
    def bucket_index(days_past_due: ArrayLike) -> np.ndarray:
        """Row of `uplift` / `no_cure` per account: 0 for 1-30 days, ...; -1 when current."""
        return collection_bucket(days_past_due) - 1

    def to_json(self) -> dict[str, Any]:
        """Everything, at full precision (NaN as null): what the rates file stores and the
        registered model carries, so the tiers stage and the served model use the same rates."""

        def table(a: np.ndarray) -> list[list[float | None]]:
            return [[None if math.isnan(v) else float(v) for v in row] for row in a]

        return {
            "format": RATES_FORMAT,
            "baseline_tier": self.baseline_tier,
            "uplift": table(self.uplift),
            "no_cure": table(self.no_cure),
            "pd_edges": list(self.pd_edges),
            "counts": [int(n) for n in self.counts],
            "segment_counts": [[int(n) for n in row] for row in self.segment_counts],
            "rows": self.rows,
            "source": self.source,
            "true_uplift": None if self.true_uplift is None else table(self.true_uplift),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "ev_rates.json") -> EVRates:
        """The inverse of `to_json`; a file of another format or shape is refused."""
        if data.get("format") != RATES_FORMAT:
            raise DataValidationError(source, f"not an expected-value rates file ({RATES_FORMAT})")

        def array(key: str) -> np.ndarray:
            return np.array([[np.nan if v is None else float(v) for v in row] for row in data[key]])

        try:
            rates = cls(
                baseline_tier=int(data["baseline_tier"]),
                uplift=array("uplift"),
                no_cure=array("no_cure"),
                pd_edges=tuple(float(e) for e in data["pd_edges"]),
                counts=np.asarray(data["counts"], dtype=np.int64),
                segment_counts=np.asarray(data["segment_counts"], dtype=np.int64),
                rows=int(data["rows"]),
                source=str(data["source"]),
                true_uplift=None if data.get("true_uplift") is None else array("true_uplift"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataValidationError(source, f"malformed rates file ({exc})") from None
        buckets, bands = len(COLLECTION_EDGES), len(rates.pd_edges) + 1
        if rates.no_cure.shape != (buckets, bands) or rates.uplift.shape[0] != buckets:
            raise DataValidationError(source, "rates tables of the wrong shape")
        return rates

    def to_dict(self) -> dict[str, Any]:
        """The report's view: uplift per tier, no-cure probability per segment, counts."""
        labels = segment_labels(self.pd_edges)
        return {
            "source": self.source,
            "rows": self.rows,
            "baseline_tier": self.baseline_tier,
            "uplift": _by_bucket(self.uplift),
            "rows_per_tier": {f"T{t}": int(n) for t, n in enumerate(self.counts)},
            "no_cure_at_baseline": {
                str(labels[b, k]): {
                    "p": None
                    if math.isnan(self.no_cure[b, k])
                    else round(float(self.no_cure[b, k]), 6),
                    "baseline_rows": int(self.segment_counts[b, k]),
                }
                for b in range(labels.shape[0])
                for k in range(labels.shape[1])
            },
            **({} if self.true_uplift is None else {"true_uplift": _by_bucket(self.true_uplift)}),
            "model": "cure(t, s) = cure(base, s) + uplift(t, bucket) * (1 - cure(base, s)); "
            "value(t) = exposure * (1 - cure(base, s)) * uplift(t, bucket) * (1 - commission(t)) "
            "- cost(t)",
        }


def _by_bucket(values: np.ndarray) -> dict[str, dict[str, float | None]]:
    """{"1-30": {"T0": None, "T1": 0.0, ...}, ...}: a (bucket x tier) table as JSON."""
    return {
        str(COLLECTION_LABELS[b + 1]): {
            f"T{t}": (None if math.isnan(u) else round(float(u), 6))
            for t, u in enumerate(values[b])
        }
        for b in range(values.shape[0])
    }


def _history_frame(history: pd.DataFrame, source: str, n_tiers: int) -> pd.DataFrame:
    """The checked past-due rows of a history (rows named by their position in the file)."""
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise DataValidationError(source, "required column is missing", column=missing[0])
    out = {}
    for col in ("tier", "days_past_due", "pd"):
        v = pd.to_numeric(history[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(v)
        if bad.any():
            raise DataValidationError(source, "must be a finite number", col, int(bad.argmax()))
        out[col] = v
    cured = pd.to_numeric(history["cured"], errors="coerce")
    bad = ~cured.isin([0, 1]).to_numpy()
    if bad.any():
        raise DataValidationError(source, "must be 0/1 or bool", "cured", int(bad.argmax()))
    checks = (
        ("pd", (out["pd"] < 0) | (out["pd"] > 1), "must lie in [0, 1]"),
        ("days_past_due", out["days_past_due"] < 0, "must be >= 0"),
        ("days_past_due", out["days_past_due"] != np.floor(out["days_past_due"]), "whole days"),
        (
            "tier",
            (out["tier"] < 0) | (out["tier"] >= n_tiers) | (out["tier"] != np.floor(out["tier"])),
            f"must be a tier id in 0..{n_tiers - 1}",
        ),
    )
    for col, bad_rows, rule in checks:
        if bad_rows.any():
            raise DataValidationError(source, rule, col, int(bad_rows.argmax()))
    frame = pd.DataFrame(out)
    frame["cured"] = cured.to_numpy(dtype=float)
    if STRATUM in history.columns:
        if history[STRATUM].isna().any():
            row = int(history[STRATUM].isna().to_numpy().argmax())
            raise DataValidationError(source, "missing randomisation stratum", STRATUM, row)
        frame[STRATUM] = history[STRATUM].astype(str).to_numpy()
    else:
        frame[STRATUM] = "all"
    return frame[frame["days_past_due"] > 0].reset_index(drop=True)


def learn_ev_rates(
    history: pd.DataFrame,
    n_tiers: int,
    baseline_tier: int = 1,
    pd_edges: Sequence[float] = PD_EDGES,
    prior: float = 20.0,
    min_rows: int = 30,
    source: str = "outcome history",
) -> EVRates:
    """Learn `EVRates` from an outcome history (columns `HISTORY_COLUMNS`, optionally `stratum`;
    rows not past due are ignored).

    Tiers are compared only where they were assigned at random to the same kind of account:
    within a cell (stratum x segment), the stratum being the key of the logging policy's
    randomisation (the champion's tier in an arms experiment; one stratum when absent, i.e. the
    tiers were randomised independently of the account). In a cell the baseline cure rate is
    shrunk by `prior` pseudo-rows to its segment's pooled rate; tier t's uplift is the average
    over the cells where t and the baseline were both seen, weighted by t's rows. A segment's
    no-cure probability averages its cells by their share of the segment's rows (so a stratum
    where the baseline was rarely drawn still counts at its size). Segments with fewer than
    `min_rows` baseline rows are not covered: their accounts keep the policy's assumptions.
    Coverage is per DPD bucket, never per band, so a rising PD never switches an account between
    learned and assumed values; a thin band is shrunk to its bucket's pooled rate.
    """
    if not (isinstance(baseline_tier, int) and 0 <= baseline_tier < n_tiers):
        raise InvalidConfig(
            "baseline_tier", f"must be a tier id in 0..{n_tiers - 1}", baseline_tier
        )
    frame = _history_frame(history, source, n_tiers)
    tier = frame["tier"].to_numpy(dtype=np.int64)
    if not (tier == baseline_tier).any():
        raise DataValidationError(
            source, f"no past-due row treated at the baseline tier T{baseline_tier}", "tier"
        )
    edges = tuple(float(e) for e in pd_edges)
    labels = segment_labels(edges)
    seg_index = {label: i for i, label in enumerate(labels.ravel())}
    seg = pd.Series(segment_of(frame["days_past_due"], frame["pd"], edges)).map(seg_index)
    frame["segment"] = seg.to_numpy(dtype=np.int64)
    frame["tier"] = tier
    cells = (
        frame.groupby(["stratum", "segment", "tier"], sort=True)["cured"]
        .agg(n="size", cures="sum")
        .reset_index()
    )
    base_cells = cells[cells["tier"] == baseline_tier].set_index(["stratum", "segment"])
    n_seg = labels.size
    seg_base_n = np.bincount(
        base_cells.index.get_level_values("segment"), weights=base_cells["n"], minlength=n_seg
    )
    seg_base_cures = np.bincount(
        base_cells.index.get_level_values("segment"), weights=base_cells["cures"], minlength=n_seg
    )
    shape = labels.shape  # (past-due buckets, PD bands)
    bucket_n = seg_base_n.reshape(shape).sum(axis=1)
    bucket_rate = np.divide(
        seg_base_cures.reshape(shape).sum(axis=1),
        bucket_n,
        out=np.full(shape[0], np.nan),
        where=bucket_n > 0,
    )
    # pooled baseline rate per segment, shrunk to its bucket's (a band the history barely saw
    # borrows its bucket's measured rate instead of deciding alone)
    anchor_seg = np.repeat(bucket_rate, shape[1])
    seg_rate = (seg_base_cures + prior * anchor_seg) / (seg_base_n + prior)
    population = frame.groupby(["stratum", "segment"]).size().rename("rows").reset_index()
    population = population.join(base_cells[["n", "cures"]], on=["stratum", "segment"])
    population[["n", "cures"]] = population[["n", "cures"]].fillna(0.0)
    anchor = seg_rate[population["segment"].to_numpy()]
    population["base"] = (population["cures"] + prior * anchor) / (population["n"] + prior)
    rows_in_seg = np.bincount(population["segment"], weights=population["rows"], minlength=n_seg)
    weighted = np.bincount(
        population["segment"],
        weights=np.nan_to_num(population["base"] * population["rows"]),
        minlength=n_seg,
    )
    base_seg = np.divide(weighted, rows_in_seg, out=seg_rate.copy(), where=rows_in_seg > 0)
    no_cure = (1.0 - base_seg).reshape(shape)
    covered = bucket_n >= min_rows  # a bucket is learned whole or not at all (monotone in PD)
    no_cure[~covered] = np.nan
    for b in np.flatnonzero(covered):  # non-decreasing in the PD band within a bucket
        no_cure[b] = isotonic_regression(
            no_cure[b], sample_weight=rows_in_seg.reshape(shape)[b] + 1.0, increasing=True
        )
    base_of = population.set_index(["stratum", "segment"])["base"]
    has_base = population.set_index(["stratum", "segment"])["n"] > 0
    counts = np.bincount(tier, minlength=n_tiers)
    uplift = np.full((shape[0], n_tiers), np.nan)
    cell_bucket = cells["segment"].to_numpy() // shape[1]
    for b in np.flatnonzero(covered):
        for t in range(baseline_tier + 1, n_tiers):
            cell = cells[(cells["tier"] == t) & (cell_bucket == b)]
            keys = pd.MultiIndex.from_frame(cell[["stratum", "segment"]])
            usable = has_base.reindex(keys).fillna(False).to_numpy(dtype=bool)
            if not usable.any():
                continue
            base = base_of.reindex(keys).to_numpy(dtype=float)[usable]
            rate = (cell["cures"] / cell["n"]).to_numpy(dtype=float)[usable]
            share = (rate - base) / np.maximum(1.0 - base, 1e-9)
            weights = cell["n"].to_numpy(dtype=float)[usable]
            uplift[b, t] = float(np.average(share, weights=weights))
        uplift[b, baseline_tier] = 0.0
        seen = np.flatnonzero(np.isfinite(uplift[b]))
        in_bucket = cells[cell_bucket == b].groupby("tier")["n"].sum()
        weights = in_bucket.reindex(seen).fillna(0.0).to_numpy(dtype=float) + 1.0
        fitted = isotonic_regression(uplift[b, seen], sample_weight=weights, increasing=True)
        uplift[b, seen] = np.maximum(fitted, 0.0)  # measured against the baseline: >= 0
        uplift[b, baseline_tier] = 0.0
    return EVRates(
        baseline_tier=baseline_tier,
        uplift=uplift,
        no_cure=no_cure,
        pd_edges=edges,
        counts=counts,
        segment_counts=seg_base_n.reshape(labels.shape).astype(np.int64),
        rows=len(frame),
        source=source,
    )


def logging_tiers(rule_tiers: ArrayLike, minimum_tier: int, seed: int) -> np.ndarray:
    """The simulated history's logging policy: a tier drawn uniformly between the minimum
    treatment and the rules' tier (both already allowed by every guardrail, and so is each tier
    between: guardrails are caps), so every tier the rules reach has randomised contrasts."""
    rule = np.asarray(rule_tiers, dtype=np.int64)
    low = np.minimum(rule, int(minimum_tier))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x4157]))
    return low + np.floor(rng.random(len(rule)) * (rule - low + 1)).astype(np.int64)


def simulate_history(
    accounts: pd.DataFrame,
    rule_tiers: ArrayLike,
    slow_cure: ArrayLike,
    macro: ArrayLike,
    response: ResponseModel,
    minimum_tier: int,
    seed: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """A collection log for the built-in book: past-due account-months of earlier months treated
    at `logging_tiers` and one month of outcomes drawn from the generator's truth.

    `accounts` holds days_past_due, overdue_amount and pd (the score the lender held then) per
    row; `slow_cure` and `macro` (the month after each row's date) are truth. Returns (history
    with the `HISTORY_COLUMNS` and the stratum = the rules' tier for the past-due rows, the true
    uplift per past-due bucket and tier: in each cell (segment x stratum) of the rows treated at
    t, (mean cure_p(t) - mean cure_p(base)) / (1 - mean cure_p(base)), averaged over the bucket's
    cells with those rows' counts: the quantity `learn_ev_rates` estimates before its isotonic
    fit).
    """
    dpd = np.asarray(accounts["days_past_due"], dtype=float)
    keep = dpd > 0
    acc = accounts.loc[keep].reset_index(drop=True)
    slow = np.asarray(slow_cure, dtype=float)[keep]
    mac = np.asarray(macro, dtype=float)[keep]
    rule = np.asarray(rule_tiers, dtype=np.int64)[keep]
    tiers = logging_tiers(rule, minimum_tier, seed)
    probs = _probabilities(acc, tiers, slow, mac, response)
    drawn = simulate_outcomes(
        probs, int(np.random.SeedSequence([seed, 0x4158]).generate_state(1)[0])
    )
    history = pd.DataFrame(
        {
            "tier": tiers,
            "days_past_due": acc["days_past_due"].to_numpy(),
            "pd": acc["pd"].to_numpy(dtype=float),
            "cured": drawn["cured"].to_numpy(dtype=np.int8),
            STRATUM: rule,
        }
    )
    base = _probabilities(acc, np.full(len(acc), minimum_tier), slow, mac, response)["cure_p"]
    cells = pd.DataFrame(
        {
            "tier": tiers,
            "cell": pd.Series(segment_of(history["days_past_due"], history["pd"]))
            + "|"
            + rule.astype(str),
            "cure": probs["cure_p"].to_numpy(),
            "base": base.to_numpy(),
        }
    )
    cells["bucket"] = collection_bucket(history["days_past_due"]) - 1
    per_cell = cells.groupby(["bucket", "tier", "cell"]).agg(
        n=("cure", "size"), cure=("cure", "mean"), base=("base", "mean")
    )
    per_cell["share"] = (per_cell["cure"] - per_cell["base"]) / np.maximum(
        1.0 - per_cell["base"], 1e-9
    )
    true = np.full((len(COLLECTION_EDGES), response.n_tiers), np.nan)
    for (b, t), sub in per_cell.groupby(level=["bucket", "tier"]):
        if t >= minimum_tier:
            true[b, t] = float(np.average(sub["share"], weights=sub["n"]))
    return history, true


def _probabilities(
    acc: pd.DataFrame,
    tiers: np.ndarray,
    slow: np.ndarray,
    macro: np.ndarray,
    response: ResponseModel,
) -> pd.DataFrame:
    """`true_outcome_probabilities` with a macro factor per row (months differ in a history)."""
    parts = []
    for value in np.unique(macro):
        rows = macro == value
        parts.append(
            true_outcome_probabilities(
                acc.loc[rows], tiers[rows], response, slow[rows], float(value), "history"
            )
        )
    if not parts:
        return true_outcome_probabilities(acc, tiers, response, slow, 0.0, "history")
    return pd.concat(parts).loc[acc.index]


def read_ev_rates(path: str | Path) -> EVRates | None:
    """The rates the collection_rates stage wrote; None when it had no history to learn from."""
    p = Path(path)
    if not p.is_file():
        raise DataValidationError(str(p), "file not found; run the collection_rates stage first")
    data = json.loads(p.read_text())
    if data == NO_HISTORY:
        return None
    return EVRates.from_json(data, str(p))


def ev_rates_json(rates: EVRates | None) -> dict[str, Any]:
    """What the rates file holds: the rates, or `NO_HISTORY`."""
    return dict(NO_HISTORY) if rates is None else rates.to_json()

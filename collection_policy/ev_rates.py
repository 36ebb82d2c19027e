"""The expected-value rates the tier engine uses: what a learned rates file holds, and its segments.

The policy's `ev.cure_rate` per tier is a hand-set guess, and PD (the chance of reaching 90+ DPD)
is the wrong driver for an account already past due. When an outcome history exists, the
collection_rates stage learns (`collection_policy.rate_learning`) and writes `EVRates`:

* the **state probability** of a past-due account is the chance its arrears do NOT cure next
  month under the minimum treatment (the holdout's tier), per segment (DPD bucket x PD band,
  `segment_of`), non-decreasing in the PD band within each bucket;
* the **uplift** of tier t in DPD bucket B is the share of those non-curing accounts that t cures
  beyond the minimum treatment, non-decreasing in the tier;
* a past-due account's value of tier t is then exposure x state probability x uplift(t, B) x
  (1 - commission) - cost(t): a tier-and-segment cure rate, cure(t, s) = cure(base, s) +
  uplift(t, B) x (1 - cure(base, s)), whose tier effect is proportional to what is left to cure
  (early arrears respond to a reminder; 60+ days, cures are rare whatever is done).

Within a DPD bucket the state probability rises with PD and the slopes are fixed and rise with the
tier (among the tiers offered), so the chosen tier can only rise with PD or exposure: the
monotonicity the policy proofs rely on holds by construction, not by chance of the data; a tier
whose learned value per unit (uplift x (1 - its commission)) falls below a gentler tier's is not
offered in that bucket (`collection_policy.engine`), the rule the policy loader applies to the
assumed rates.

This module is on the served model's path (the engine and the registered model read the rates
file): it knows nothing of how the rates were learned, nor of the simulated book.
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
from numpy.typing import ArrayLike

from core.dpd import COLLECTION_EDGES, COLLECTION_LABELS, collection_bucket
from core.errors import DataValidationError, InvalidConfig

#: Version tag of the rates file (`EVRates.to_json`).
RATES_FORMAT = "ev_rates/1"
#: What a rates file says when there was no history to learn from.
NO_HISTORY = {"format": RATES_FORMAT, "source": "policy assumptions"}
#: PD band edges of the segments.
PD_EDGES: tuple[float, ...] = (0.1, 0.3)


def segment_of(
    days_past_due: ArrayLike, pd: ArrayLike, pd_edges: Sequence[float] = PD_EDGES
) -> np.ndarray:
    """A segment label per account: DPD bucket and PD band, e.g. "31-60|pd 0.10-0.30"."""
    bucket = collection_bucket(days_past_due)
    edges = [float(e) for e in pd_edges]
    if edges != sorted(set(edges)) or any(not 0 < e < 1 for e in edges):
        raise InvalidConfig("pd_edges", "must be increasing values in (0, 1)", pd_edges)
    band = np.searchsorted(np.asarray(edges), np.asarray(pd, dtype=float), side="right")
    bounds = [0.0, *edges, 1.0]
    bands = [f"pd {bounds[i]:.2f}-{bounds[i + 1]:.2f}" for i in range(len(bounds) - 1)]
    labels = np.array(COLLECTION_LABELS, dtype=object)[bucket]
    return labels + "|" + np.array(bands, dtype=object)[band]


def segment_labels(pd_edges: Sequence[float] = PD_EDGES) -> np.ndarray:
    """(past-due buckets x PD bands) grid of the segment labels `segment_of` gives."""
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

"""Learning the expected-value rates (`collection_policy.ev_rates.EVRates`) from an outcome history.

An outcome history holds past-due account-months with the tier each was treated at and whether it
cured by the next statement (`HISTORY_COLUMNS`, optionally the logging policy's randomisation
`STRATUM`). `learn_ev_rates` turns it into rates:

* the **state probability** per segment (DPD bucket x PD band): the chance of no cure under the
  minimum treatment (the holdout's tier), made non-decreasing in the PD band within each bucket
  (weighted isotonic fit);
* the **uplift** of tier t in DPD bucket B: (cure(t, s) - cure(base, s)) / (1 - cure(base, s)),
  compared within the cells where t and the baseline were drawn at random for the same kind of
  account, pooled over the bucket's cells (weighted by their counts) and made non-decreasing in
  the tier (more intensive treatment never cures less).

A thin baseline cell is shrunk to its segment's rate, and a thin segment to its DPD bucket's.

The history is a lender's outcome log or, on the built-in book, one simulated from the truth
(`collection_policy.simulated.history`); `collection_policy.tiering.run_collection_rates` picks
it. The served model never imports this module: it reads the rates file the stage wrote.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.isotonic import isotonic_regression

from collection_policy.ev_rates import PD_EDGES, EVRates, segment_labels, segment_of
from core.errors import DataValidationError, InvalidConfig

#: Columns an outcome history must hold (one row per treated past-due account-month).
HISTORY_COLUMNS: tuple[str, ...] = ("tier", "days_past_due", "pd", "cured")
#: Optional column: the key within which the logging policy drew tiers at random.
STRATUM = "stratum"


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

"""Rule-space validation: exact, on the grid of cells the rules' thresholds cut the space into.

A policy is only safe to run if every possible account matches a rule, rules of one priority
never overlap, every rule can fire and tiers never fall as risk rises. Sampling accounts cannot
prove that; the rules' own thresholds cut each field into finitely many cells, so checking one
representative per cell is exact. `first_match` is shared with the engine so both decide alike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from collection_policy.policy import CollectionPolicy, fmt_value
from collection_policy.vocabulary import ESCALATION_FIELDS, FIELDS, FieldSpec
from core.errors import ConfigError

MAX_GRID_CELLS = 2_000_000
OTHER_GRADE = "__other__"


def _representatives(spec: FieldSpec, thresholds: Sequence[float]) -> list[float]:
    """One value per cell of the line cut at `thresholds` (points and the open gaps between)."""
    pts = sorted({t for t in thresholds if spec.lo <= t <= spec.hi})
    lo_finite, hi_finite = math.isfinite(spec.lo), math.isfinite(spec.hi)
    if lo_finite:
        pts = sorted({spec.lo, *pts})
    if hi_finite:
        pts = sorted({*pts, spec.hi})
    if not pts:
        return [0.0]
    reps: list[float] = list(pts)
    if not lo_finite:
        reps.append(pts[0] - 1.0)
    if not hi_finite:
        reps.append(pts[-1] + 1.0)
    for a, b in itertools.pairwise(pts):
        if spec.kind == "integer":
            if a + 1 < b:
                reps.append(a + 1)
        else:
            reps.append((a + b) / 2)
    return sorted(reps)


@dataclass
class RuleGrid:
    """All cells of the rule space, as a frame of representative accounts in C order."""

    fields: list[str]
    axes: list[list[Any]]
    columns: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    def describe_cell(self, i: int) -> str:
        idx = np.unravel_index(i, self.shape)
        parts = [
            f"{f}={fmt_value(ax[j])}" for f, ax, j in zip(self.fields, self.axes, idx, strict=True)
        ]
        return ", ".join(parts) or "(every account)"


def build_rule_grid(policy: CollectionPolicy) -> RuleGrid:
    used = sorted({c.field for r in policy.rules for c in r.conditions} | set(policy.monotone_in))
    axes: list[list[Any]] = []
    for f in used:
        spec = FIELDS[f]
        if spec.kind == "bool":
            axes.append([False, True])
        elif spec.kind == "grade":
            axes.append([*policy.grades, OTHER_GRADE])
        else:
            ts = [
                t
                for r in policy.rules
                for c in r.conditions
                if c.field == f
                for t in c.thresholds()
            ]
            axes.append(_representatives(spec, ts))
    size = math.prod(len(a) for a in axes) if axes else 1
    if size > MAX_GRID_CELLS:
        raise ConfigError(
            "rules",
            f"cut the account space into {size:,} cells, more than the {MAX_GRID_CELLS:,} "
            "validation can check: use fewer distinct thresholds",
            source=policy.source,
        )
    grid = RuleGrid(used, axes)
    if axes:
        mesh = np.meshgrid(*[np.arange(len(a)) for a in axes], indexing="ij")
        for f, ax, m in zip(used, axes, mesh, strict=True):
            vals = np.asarray(ax, dtype=object)[m.ravel()]
            if FIELDS[f].kind == "grade":
                grid.columns[f] = pd.Series(vals.astype(str))
            elif FIELDS[f].kind == "bool":
                grid.columns[f] = vals.astype(bool)
            else:
                grid.columns[f] = vals.astype(float)
    else:
        grid.columns["pd"] = np.zeros(1)
    return grid


def first_match(policy: CollectionPolicy, columns: Mapping[str, Any]) -> np.ndarray:
    """Index into policy.rules of the deciding rule per row (-1 = no rule matched)."""
    n = len(next(iter(columns.values())))
    decided = np.full(n, -1, dtype=np.int32)
    for i, r in enumerate(policy.rules):
        open_rows = decided < 0
        if not open_rows.any():
            break
        m = r.matches(columns) & open_rows
        decided[m] = i
    return decided


def validate_rule_space(policy: CollectionPolicy) -> None:
    """Prove on the exact cell grid: no gap, no same-priority overlap, no dead rule, monotone tiers."""
    grid = build_rule_grid(policy)
    src = policy.source
    masks = np.stack([r.matches(grid.columns) for r in policy.rules])  # (rules, cells)
    # overlaps inside one priority band
    for prio in sorted({r.priority for r in policy.rules}):
        idx = [i for i, r in enumerate(policy.rules) if r.priority == prio]
        for a, b in itertools.combinations(idx, 2):
            both = masks[a] & masks[b]
            if both.any():
                cell = int(np.argmax(both))
                ra, rb = policy.rules[a], policy.rules[b]
                fields = sorted({c.field for c in ra.conditions} | {c.field for c in rb.conditions})
                raise ConfigError(
                    f"rules[{ra.name}]",
                    f"overlaps rules[{rb.name}] at priority {prio} on fields {fields} "
                    f"(both match {grid.describe_cell(cell)}): rules sharing a priority must be "
                    "mutually exclusive; give the one that should win a lower priority number",
                    source=src,
                )
    decided = first_match(policy, grid.columns)
    if (decided < 0).any():
        cell = int(np.argmax(decided < 0))
        raise ConfigError(
            "rules",
            f"leave a gap on fields {grid.fields}: no rule matches {grid.describe_cell(cell)}; "
            "add a rule for it or a catch-all (a rule with no 'when') at the last priority",
            source=src,
        )
    fired = set(decided.tolist())
    for i, r in enumerate(policy.rules):
        if i not in fired:
            raise ConfigError(
                f"rules[{r.name}].when",
                "can never decide an account: rules with lower priority numbers match every "
                "account it matches",
                source=src,
            )
    tiers = np.array([r.tier for r in policy.rules])[decided].reshape(grid.shape)
    # derived escalation flags (repeat_or_wilful) may only raise a tier: False -> True never falls
    escalations = [f for f in ESCALATION_FIELDS if f in grid.fields]
    for f in (*policy.monotone_in, *escalations):
        ax = grid.fields.index(f)
        drops = np.diff(tiers, axis=ax) < 0
        if drops.any():
            pos = np.unravel_index(int(np.argmax(drops)), drops.shape)
            lo_cell = np.ravel_multi_index(pos, grid.shape)
            hi_pos = list(pos)
            hi_pos[ax] += 1
            hi_cell = np.ravel_multi_index(tuple(hi_pos), grid.shape)
            r_lo, r_hi = policy.rules[decided[lo_cell]], policy.rules[decided[hi_cell]]
            raise ConfigError(
                f"rules[{r_hi.name}].tier",
                f"is T{r_hi.tier}, below T{r_lo.tier} of rules[{r_lo.name}], although '{f}' rises "
                f"from {grid.describe_cell(lo_cell)} to {grid.describe_cell(hi_cell)}: tiers must "
                f"not fall as {f} rises "
                + ("(monotone_in)" if f in policy.monotone_in else "(an escalation flag)"),
                source=src,
            )

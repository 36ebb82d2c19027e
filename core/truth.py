"""The built-in book's truth, as every stage reads it: what the generator knows and no model sees.

`data/truth` holds the true PD per account and date (`TRUE_PD`), each customer's hidden cure
effect (`CUSTOMER_EFFECTS`) and the monthly macro factor (`MACRO`). Ingest always writes the
directory; for a lender's own book the tables are absent or empty, and the readers say so with
None, so stages fall back to what a real book offers (an outcome log, the policy's assumptions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.contracts import CUSTOMER_EFFECTS, MACRO, TRUE_PD, TableContract

PARTS: dict[str, TableContract] = {"true_pd": TRUE_PD, "effects": CUSTOMER_EFFECTS, "macro": MACRO}


@dataclass(frozen=True)
class Truth:
    """The parts of the truth that were asked for and exist; None where the book has none."""

    true_pd: pd.DataFrame | None = None
    effects: pd.DataFrame | None = None
    macro: pd.DataFrame | None = None


def read_truth(truth_dir: Path | None, parts: tuple[str, ...] = tuple(PARTS)) -> Truth:
    """Read `parts` of the truth under `truth_dir`, each through its contract.

    The true PD file is always written by ingest (empty for a lender's table), so when it is
    missing ingest has not run: an error, not silently fewer metrics. The cure effects and the
    macro factor exist only for the built-in book: absent means none."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown truth parts {unknown} (known: {sorted(PARTS)})")
    if truth_dir is None:
        return Truth()
    found: dict[str, pd.DataFrame | None] = {}
    for part in parts:
        contract = PARTS[part]
        path = Path(truth_dir) / contract.file
        if part != "true_pd" and not path.is_file():
            found[part] = None
            continue
        frame = contract.read(path, stage="ingest")
        found[part] = None if frame.empty else frame
    return Truth(**found)


def month_after(macro: pd.DataFrame | None, observation_dates: pd.Series) -> float:
    """The macro factor of the month after the latest observation date (the month a treatment
    plays out); 0 (a normal month) without truth or past the generator's horizon."""
    if macro is None or macro.empty or observation_dates.empty:
        return 0.0
    month = pd.to_datetime(observation_dates).max() + pd.offsets.MonthBegin(1)
    hit = macro.loc[pd.to_datetime(macro["month"]) == month, "macro_factor"]
    return float(hit.iloc[0]) if len(hit) else 0.0

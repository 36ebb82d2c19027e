"""The built-in book's truth as the collection stages read it (wiring shared by two stages).

`data/truth` holds what the generator knows and no model sees: each customer's hidden cure effect
and the monthly macro factor. A lender's own book has no truth: the readers then return nothing
and the stages fall back to what a real book offers (an outcome log, the policy's assumptions).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.synthetic import EFFECTS_FILE, MACRO_FILE


def read_truth(truth_dir: Path | None) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """The built-in book's hidden cure effects and monthly macro factors; (None, empty) for a
    book without truth."""
    no_macro = pd.DataFrame({"month": pd.to_datetime([]), "macro_factor": []})
    if truth_dir is None or not (truth_dir / EFFECTS_FILE).is_file():
        return None, no_macro
    effects = pd.read_parquet(truth_dir / EFFECTS_FILE)
    macro = (
        pd.read_parquet(truth_dir / MACRO_FILE) if (truth_dir / MACRO_FILE).is_file() else no_macro
    )
    return (None if effects.empty else effects), macro


def month_after(macro: pd.DataFrame, table: pd.DataFrame) -> float:
    """The macro factor of the month after the tiered book (the month the treatment plays out);
    0 (a normal month) where the generator's horizon ends before it."""
    if macro.empty or "observation_date" not in table:
        return 0.0
    month = pd.to_datetime(table["observation_date"]).max() + pd.offsets.MonthBegin(1)
    hit = macro.loc[pd.to_datetime(macro["month"]) == month, "macro_factor"]
    return float(hit.iloc[0]) if len(hit) else 0.0

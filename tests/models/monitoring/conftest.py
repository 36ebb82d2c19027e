"""Session fixtures of the monitoring tests (builders in `book.py`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.models.monitoring.book import make_rows


@pytest.fixture(scope="session")
def mon_book() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference, current): current holds the reference months too."""
    rng = np.random.default_rng(7)
    parts = [
        make_rows(3000, "2025-01", "train", rng),
        make_rows(3000, "2025-04", "train", rng),
        make_rows(3000, "2025-07", "test", rng),
        make_rows(3000, "2025-10", "test", rng),
        make_rows(3000, "2026-01", "score", rng, labelled=False),
    ]
    current = pd.concat(parts, ignore_index=True)
    reference = current[current["split"] == "train"].reset_index(drop=True)
    return reference, current

"""models.training evaluation blocks: segments, out-of-time periods, unseen accounts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.contracts import DPD_FEATURE_COLUMN
from models.training import evaluation_metrics, true_pd_of_rows

DPD = DPD_FEATURE_COLUMN


def _test_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": [1, 2, 3, 4, 5, 6],
            "observation_date": pd.to_datetime(["2025-01-01"] * 3 + ["2025-04-01"] * 3),
            "default": pd.array([0, 1, 0, 1, 0, 1], dtype="Int8"),
            DPD: [0, 0, 0, 10, 0, 40],
        }
    )


def test_blocks_on_a_tiny_test_split():
    test = _test_frame()
    pd_values = np.array([0.1, 0.7, 0.2, 0.6, 0.3, 0.9])
    truth = pd.DataFrame(
        {
            "account_id": [1, 2, 3, 4, 5, 6, 99],
            "observation_date": pd.to_datetime(["2025-01-01"] * 3 + ["2025-04-01"] * 4),
            "true_pd": [0.2, 0.1, 0.3, 0.5, 0.2, 0.6, 0.5],
        }
    )
    true_pd = true_pd_of_rows(test, truth, "account_id")
    assert true_pd.tolist() == [0.2, 0.1, 0.3, 0.5, 0.2, 0.6]
    doc = evaluation_metrics(test, pd_values, pd.Series([1, 2, 7]), true_pd, "account_id")
    seg = doc["segments"]
    # not past due: accounts 1, 2, 3, 5; one bad (2), ranked top by the model, bottom by the truth.
    assert seg["not_past_due"] == {"n": 4, "bad_rate": 0.25, "auc": 1.0, "oracle_auc": 0.0}
    assert seg["dpd_1_30"]["n"] == 1 and seg["dpd_1_30"]["auc"] is None
    assert seg["dpd_61_89"]["n"] == 0
    assert [p["period"] for p in doc["oot_periods"]] == ["2025-01", "2025-04"]
    assert doc["oot_periods"][1]["mean_pd"] == pytest.approx(0.6)
    # Accounts 1 and 2 were in train: 3..6 remain, bads 4 and 6 above goods 3 and 5.
    assert doc["customer_disjoint_test"] == {"n": 4, "auc": 1.0}


def test_without_truth_or_dpd_column_the_blocks_say_so():
    test = _test_frame().drop(columns=[DPD])
    assert true_pd_of_rows(test, None, "account_id") is None
    doc = evaluation_metrics(
        test, np.linspace(0.1, 0.6, 6), pd.Series([], dtype="int64"), None, "account_id"
    )
    assert "segments" not in doc
    assert all(p["oracle_auc"] is None for p in doc["oot_periods"])
    assert doc["customer_disjoint_test"]["n"] == 6


def test_train_pd_leaves_out_labelled_defaults_and_does_not_score_current_ones(
    feature_table, catalogue, fast_config, caplog
):
    from models.scaling import DEFAULT_GRADE
    from models.training import train_pd

    table = feature_table.copy()
    table.attrs = {}
    score_rows = table.index[table["split"] == "score"][:5]
    test_row = table.index[table["split"] == "test"][0]
    table.loc[score_rows, DPD] = [90, 95, 120, 89, 0]
    table.loc[test_row, DPD] = 100
    with caplog.at_level("WARNING", logger="models.training"):
        result = train_pd(table, catalogue, None, fast_config)
    assert "1 labelled rows already in default" in caplog.text
    scores = result.scores
    assert test_row + 1 not in set(scores["account_id"].astype(int))  # account_id = index + 1
    assert len(scores) == len(table) - 1
    current = scores.set_index(scores["account_id"].astype(int)).loc[score_rows[:3] + 1]
    assert (current["pd"] == 1.0).all() and (current["grade"] == DEFAULT_GRADE).all()
    assert current[["score", "raw_score"]].isna().all().all()
    others = scores.set_index(scores["account_id"].astype(int)).loc[score_rows[3:] + 1]
    assert others["score"].notna().all() and (others["grade"] != DEFAULT_GRADE).all()
    assert result.metrics["test"]["n"] == int((table["split"] == "test").sum()) - 1

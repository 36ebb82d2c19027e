from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from models.monitoring.book_monitor import monitoring_frames, run_monitor
from models.monitoring.thresholds import MonitorConfig
from tests.models.monitoring.book import tiers_for

PERIOD_KEYS = {
    "period", "score_psi", "rag", "n", "auc", "auc_low", "auc_high", "observed_rate", "mean_pd",
    "oe_ratio", "oe_low", "oe_high",
}  # fmt: skip


def statement_history(current: pd.DataFrame) -> pd.DataFrame:
    ids = current["account_id"].unique()[:200]
    months = pd.date_range("2025-01-01", periods=6, freq="MS")
    return pd.DataFrame(
        {
            "account_id": np.repeat(ids, len(months)),
            "statement_date": np.tile(months, len(ids)),
            "days_past_due": np.tile([0, 0, 15, 45, 75, 100], len(ids)).astype(np.int16),
        }
    )


def test_monitor_on_a_book(mon_book) -> None:
    reference, current = mon_book
    score_rows = current[current["split"] == "score"]
    result = run_monitor(
        reference,
        current,
        tiers=tiers_for(score_rows),
        statements=statement_history(current),
        accounts=pd.DataFrame(
            {
                "account_id": current["account_id"].unique()[:200],
                "signup_date": pd.Timestamp("2025-01-10"),
            }
        ),
        config=MonitorConfig(),
        grade_order=["1", "2", "3", "4"],
    )
    out = result.to_dict()
    text = json.dumps(out, allow_nan=False)  # strict JSON or this raises
    assert "NaN" not in text
    periods = out["monitoring"]["periods"]
    assert [p["period"] for p in periods] == ["2025-01", "2025-04", "2025-07", "2025-10", "2026-01"]
    for p in periods:
        assert set(p) >= PERIOD_KEYS
    book = periods[-1]
    assert book["splits"] == ["score"]
    assert book["auc"] is None and book["observed_rate"] is None and book["oe_ratio"] is None
    assert book["score_psi"] is not None and book["rag"] == "green"
    for p in periods[:-1]:
        assert 0.5 < p["auc"] < 1.0 and p["auc_low"] < p["auc"] < p["auc_high"]
    features = {f["feature"]: f for f in out["monitoring"]["features"]}
    assert set(features) == {"x1", "x2"}
    assert set(features["x1"]["psi_by_period"]) == {p["period"] for p in periods}
    head = out["monitoring"]["headline"]
    assert head["worst_psi"] == max(p["score_psi"] for p in periods)
    assert head["red_count"] == sum(p["rag"] == "red" for p in periods)
    assert math.isfinite(head["worst_oe"])
    groups = out["fairness"]["age_band"]["groups"]
    assert {g["group"] for g in groups} == {"18-34", "35+"}
    assert all(g["contact_rate"] is not None for g in groups)
    (cohort,) = out["vintage"]
    assert cohort["cohort"] == "2025Q1" and cohort["accounts"] == 200
    assert cohort["cum_default_rate"] == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0]  # 90+ at mob 5
    assert out["roll_rates"]["transitions"] == 200 * 5
    assert set(result.seconds) == {"stability", "performance", "fairness", "portfolio"}


def test_a_shifted_current_book_turns_red(mon_book) -> None:
    reference, current = mon_book
    shifted = current.copy()
    book = shifted["split"] == "score"
    shifted.loc[book, "pd"] = np.minimum(shifted.loc[book, "pd"] * 4, 1.0)
    shifted.loc[book, "x1"] = shifted.loc[book, "x1"] + 1.5
    out = run_monitor(reference, shifted).to_dict()["monitoring"]
    last = out["periods"][-1]
    assert last["psi_rag"] == "red" and last["rag"] == "red"
    assert last["top_features"] == ["x1"]
    assert out["headline"]["top_drifting_features"] == ["x1"]
    assert out["periods"][0]["psi_rag"] == "green"


def test_doubled_defaults_in_one_period_turn_it_red(mon_book) -> None:
    reference, current = mon_book
    changed = current.copy()
    month = changed["observation_date"] == pd.Timestamp("2025-10-01")
    extra = month & (changed["default"] == 0)
    n_defaults = int(changed.loc[month, "default"].sum())
    flip = changed.index[extra][:n_defaults]  # as many new defaults as there were
    changed.loc[flip, "default"] = 1
    periods = {
        p["period"]: p for p in run_monitor(reference, changed).to_dict()["monitoring"]["periods"]
    }
    assert periods["2025-10"]["oe_low"] > 1.0
    assert periods["2025-10"]["rag"] == "red"
    assert periods["2025-07"]["rag"] == "green"


def test_monitoring_frames_split_the_reference() -> None:
    scores = pd.DataFrame(
        {
            "account_id": [1, 2, 3],
            "observation_date": pd.to_datetime(["2025-01-01"] * 2 + ["2026-01-01"]),
            "split": ["train", "test", "score"],
            "pd": [0.1, 0.2, 0.3],
            "grade": ["1", "2", "3"],
        }
    )
    features = scores[["account_id", "observation_date", "split"]].assign(x1=[1.0, 2.0, 3.0])
    reference, current = monitoring_frames(scores, features)
    assert current[reference]["account_id"].tolist() == [1]
    assert current["x1"].tolist() == [1.0, 2.0, 3.0]
    assert reference.tolist() == [True, False, False]
    # another row order in the feature table: joined on the keys, same result
    shuffled = monitoring_frames(scores, features.iloc[[2, 0, 1]])
    pd.testing.assert_frame_equal(shuffled.current, current)
    with pytest.raises(ValueError, match="reference split"):
        monitoring_frames(scores, features, reference_split="validation")


def test_missing_columns_are_named(mon_book) -> None:
    reference, current = mon_book
    with pytest.raises(ValueError, match="'grade'"):
        run_monitor(reference, current.drop(columns="grade"))


def test_a_scored_file_without_labels_or_dates(mon_book) -> None:
    """A book scored after training: no label, no split, no observation date."""
    reference, current = mon_book
    book = current[current["split"] == "score"].drop(columns=["default", "split"]).copy()
    tiers = tiers_for(book).drop(columns="observation_date")
    book["observation_date"] = pd.NaT
    out = run_monitor(reference, book, tiers=tiers).to_dict()
    json.dumps(out, allow_nan=False)
    (period,) = out["monitoring"]["periods"]
    assert period["period"] == "current" and period["n"] == len(book)
    assert period["auc"] is None and period["oe_rag"] is None
    assert period["rag"] == "green"
    groups = out["fairness"]["age_band"]["groups"]
    assert all(g["observed_rate"] is None and g["contact_rate"] is not None for g in groups)
    assert out["monitoring"]["headline"]["worst_oe"] is None


def test_a_reference_mask_gives_the_same_report_as_a_reference_frame(mon_book) -> None:
    """The stage passes the development rows as a mask over the book (no copy of them): every
    number must equal the run with the same rows as a frame of their own."""
    reference, current = mon_book
    mask = (current["split"] == "train").to_numpy()
    tiers = tiers_for(current[current["split"] == "score"])
    by_frame = run_monitor(reference, current, tiers=tiers).to_dict()
    by_mask = run_monitor(mask, current, tiers=tiers).to_dict()
    assert by_mask == by_frame
    assert by_mask["monitoring"]["reference_rows"] == int(mask.sum()) == len(reference)
    with pytest.raises(ValueError, match="boolean mask"):
        run_monitor(mask[:-1], current)
    with pytest.raises(ValueError, match="selects no current row"):
        run_monitor(np.zeros(len(current), dtype=bool), current)

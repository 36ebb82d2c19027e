from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.stats import psi
from features.quality import population_stability
from models.monitoring.stability import model_features, psi_by_period, stability
from models.monitoring.thresholds import MonitorConfig


def normal(n: int, shift: float = 0.0) -> np.ndarray:
    return stats.norm.ppf((np.arange(n) + 0.5) / n) + shift


def shifted_book(shifts: dict[str, float], n: int = 4000) -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = pd.DataFrame({"pd": normal(n), "x1": normal(n), "x2": normal(n)})
    parts = []
    for period, shift in shifts.items():
        parts.append(
            pd.DataFrame(
                {
                    "period": period,
                    "pd": normal(n, shift),
                    "x1": normal(n, shift),
                    "x2": normal(n),  # never moves
                }
            )
        )
    return reference, pd.concat(parts, ignore_index=True)


def test_period_lights_follow_the_shift() -> None:
    reference, current = shifted_book({"2025-01": 0.0, "2025-02": 0.4, "2025-03": 1.0})
    out = stability(reference, current, current["period"].to_numpy(), MonitorConfig())
    assert out["score_rag"] == {"2025-01": "green", "2025-02": "amber", "2025-03": "red"}
    assert out["score_psi"]["2025-01"] < 0.01
    # the drifting feature is named, the stable one never
    assert out["top_by_period"]["2025-01"] == []
    assert out["top_by_period"]["2025-03"] == ["x1"]
    assert [f["feature"] for f in out["features"]] == ["x1", "x2"]
    assert out["features"][0]["rag"] == "red"
    assert out["features"][1]["rag"] == "green"


def test_thresholds_are_arguments() -> None:
    reference, current = shifted_book({"2025-02": 0.4})
    strict = MonitorConfig(psi_amber=0.01, psi_red=0.02)
    out = stability(reference, current, current["period"].to_numpy(), strict)
    assert out["score_rag"]["2025-02"] == "red"


def test_score_psi_is_the_project_psi() -> None:
    rng = np.random.default_rng(0)
    ref = rng.beta(1, 20, 3000)
    cur = np.concatenate([rng.beta(1, 20, 2000), rng.beta(1, 12, 1500)])
    periods = np.array(["a"] * 2000 + ["b"] * 1500, dtype=object)
    got = psi_by_period(ref, cur, periods)
    assert got["a"] == pytest.approx(psi(ref, cur[:2000]), abs=1e-12)
    assert got["b"] == pytest.approx(psi(ref, cur[2000:]), abs=1e-12)


def test_feature_csi_matches_the_data_quality_report() -> None:
    """Point masses, missing values and text get the data-quality report's bins and number."""
    rng = np.random.default_rng(1)
    ref_num = pd.Series(np.where(rng.random(3000) < 0.6, 0.0, rng.exponential(5, 3000)))
    ref_num[rng.random(3000) < 0.05] = np.nan
    cur_num = pd.Series(np.where(rng.random(2000) < 0.3, 0.0, rng.exponential(5, 2000)))
    cur_num[rng.random(2000) < 0.2] = np.nan
    ref_txt = pd.Series(rng.choice(["a", "b", "c", None], 3000, p=[0.5, 0.3, 0.15, 0.05]))
    cur_txt = pd.Series(rng.choice(["a", "b", "d", None], 2000, p=[0.3, 0.3, 0.3, 0.1]))
    periods = np.array(["p"] * 2000, dtype=object)
    for ref, cur in ((ref_num, cur_num), (ref_txt, cur_txt)):
        got = psi_by_period(ref, cur, periods)["p"]
        assert got == pytest.approx(population_stability(ref, cur), rel=1e-9)
        assert got > 0.1  # the shift is real, so an all-zero binning would fail here


def test_model_features_skip_keys_protected_and_policy_columns() -> None:
    cols = [
        "account_id",
        "observation_date",
        "default",
        "split",
        "pd",
        "grade",
        "x1",
        "protected__age_band",
        "policy__days_past_due",
        "x2",
    ]
    frame = pd.DataFrame(columns=cols)
    assert model_features(frame, frame) == ["x1", "x2"]


def test_empty_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="reference"):
        psi_by_period(np.array([]), np.array([1.0]), np.array(["a"], dtype=object))

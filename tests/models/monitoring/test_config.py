from __future__ import annotations

import pytest

from models.monitoring.thresholds import (
    UNDATED_PERIOD,
    MonitorConfig,
    json_safe,
    period_labels,
    psi_rag,
    worst,
)


def test_defaults_are_the_conventional_thresholds() -> None:
    cfg = MonitorConfig()
    assert (cfg.psi_amber, cfg.psi_red, cfg.air_threshold) == (0.10, 0.25, 0.8)
    assert cfg.protected == ("protected__age_band",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"psi_amber": 0.3, "psi_red": 0.25}, "psi_amber < psi_red"),
        ({"psi_amber": 0.0}, "psi_amber < psi_red"),
        ({"level": 1.0}, "level"),
        ({"p_amber": 0.01, "p_red": 0.05}, "p_red < p_amber"),
        ({"air_threshold": 1.5}, "air_threshold"),
        ({"air_outcome": "email"}, "air_outcome"),
        ({"protected": "protected__age_band"}, "not one string"),
        ({"top_features": 0}, "top_features"),
        ({"cohort_freq": "Y"}, "cohort_freq"),
        ({"roll_months": 0}, "roll_months"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MonitorConfig(**kwargs)


def test_psi_lights_at_the_thresholds() -> None:
    assert psi_rag(0.0999, 0.1, 0.25) == "green"
    assert psi_rag(0.10, 0.1, 0.25) == "amber"
    assert psi_rag(0.25, 0.1, 0.25) == "red"
    assert psi_rag(None, 0.1, 0.25) is None
    assert worst("green", None, "amber") == "amber"
    assert worst(None, None) is None


def test_period_labels_name_months_and_the_undated_book() -> None:
    labels = period_labels([pd_ts("2025-03-31"), None])
    assert list(labels) == ["2025-03", UNDATED_PERIOD]


def test_json_safe_nulls_nan_and_inf() -> None:
    import json

    import numpy as np

    out = json_safe({"a": float("nan"), "b": [np.float64(np.inf), np.int64(3)], 1: np.nan})
    assert json.dumps(out, allow_nan=False) == '{"a": null, "b": [null, 3], "1": null}'


def pd_ts(text: str):
    import pandas as pd

    return pd.Timestamp(text)

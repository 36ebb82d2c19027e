"""Reader of params.yaml `features`: exact keys, typed values, one message shape."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import ConfigError
from features.build import FeaturesConfig
from pipelines.params import load_params
from pipelines.params.features import read_features, read_split
from tests.pipelines.params_helpers import DELETE, PARAMS, edited_params

REPO = Path(__file__).resolve().parents[2]


_params = edited_params


def test_the_real_params_file_parses():
    cfg = read_features(load_params(REPO / "params.yaml"))
    section = PARAMS["features"]
    assert isinstance(cfg, FeaturesConfig)
    assert cfg.windows == tuple(sorted(set(section["windows"])))
    assert cfg.max_lookback_months == section["max_lookback_months"] >= max(cfg.windows)
    assert cfg.leakage_auc_threshold == section["leakage_auc_threshold"]
    assert cfg.allow_leaky_features == tuple(section["allow_leaky_features"])
    assert (cfg.date_parts, cfg.max_categories) == (
        section["date_parts"],
        section["max_categories"],
    )
    assert cfg.split.test_fraction == section["split"]["test_fraction"]
    assert cfg.split.validation_fraction == section["split"]["validation_fraction"]
    assert cfg.split.test_periods == section["split"]["test_periods"]
    assert cfg.split.seed == PARAMS["seed"]
    assert cfg.table_features.max_categories == section["max_categories"]


def test_windows_are_sorted_and_unique(tmp_path):
    assert read_features(_params(tmp_path, features__windows=[12, 3, 6, 3])).windows == (3, 6, 12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features__window": [3]}, "features.window: is not a known key"),
        ({"features__split__test_share": 0.2}, "features.split.test_share: is not a known key"),
        ({"features__date_parts": DELETE}, "features.date_parts: is required"),
        ({"features__max_lookback_months": DELETE}, "features.max_lookback_months: is required"),
        ({"features__split__seed": 1}, "features.split.seed: is not a known key"),
        ({"features__split__test_periods": DELETE}, "features.split.test_periods: is required"),
    ],
)
def test_typos_and_missing_keys_fail_naming_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_features(_params(tmp_path, **change))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"features__leakage_auc_threshold": 0.3},
            "features.leakage_auc_threshold: expected a finite number in (0.5, 1], got 0.3",
        ),
        (
            {"features__leakage_auc_threshold": "high"},
            "features.leakage_auc_threshold: expected a number, got 'high'",
        ),
        (
            {"features__windows": [0, 3]},
            "features.windows: expected integers in [1, 60], got [0, 3]",
        ),
        ({"features__windows": []}, "features.windows: expected a non-empty list"),
        (
            {"features__max_lookback_months": 6},
            "features.max_lookback_months: must be at least the longest window (12 months), got 6",
        ),
        (
            {"features__max_lookback_months": 0},
            "features.max_lookback_months: expected an integer in [1, 120], got 0",
        ),
        (
            {"features__max_lookback_months": 24.5},
            "features.max_lookback_months: expected an integer, got 24.5",
        ),
        ({"features__date_parts": "no"}, "features.date_parts: expected true or false, got 'no'"),
        (
            {"features__max_categories": 1},
            "features.max_categories: expected an integer in [2, inf], got 1",
        ),
        (
            {"features__allow_leaky_features": "recoveries"},
            "features.allow_leaky_features: expected a list of strings, got 'recoveries'",
        ),
        (
            {"features__split__test_fraction": 0.0},
            "features.split.test_fraction: expected a finite number in (0, 1), got 0.0",
        ),
        (
            {"features__split__validation_fraction": True},
            "features.split.validation_fraction: expected a number, got True",
        ),
        (
            {"features__split__validation_fraction": 0.45, "features__split__test_fraction": 0.5},
            "features.split: validation_fraction + test_fraction must leave at least 10% for "
            "training, got 0.95",
        ),
        (
            {"features__split__test_periods": 0},
            "features.split.test_periods: expected an integer in [1, inf], got 0",
        ),
        (
            {"features__split__test_periods": 1.5},
            "features.split.test_periods: expected an integer, got 1.5",
        ),
        ({"seed": "42"}, "seed: expected an integer, got '42'"),
    ],
)
def test_wrong_values_fail_with_the_message_shape(tmp_path, change, message):
    with pytest.raises(ConfigError) as err:
        read_features(_params(tmp_path, **change))
    assert str(err.value) == f"{tmp_path / 'params.yaml'}: {message}"


def test_split_reader_alone(tmp_path):
    split = read_split(
        _params(
            tmp_path, seed=9, features__split__test_fraction=0.3, features__split__test_periods=3
        )
    )
    assert (split.test_fraction, split.test_periods, split.seed) == (0.3, 3, 9)

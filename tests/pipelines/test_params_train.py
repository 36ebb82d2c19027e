"""The `train` section reader: exact keys, typed values, the rules of each key, no defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from core.errors import ConfigError
from pipelines.params import load_params
from pipelines.params.train import TRAIN_KEYS, read_train

REPO = Path(__file__).resolve().parents[2]


def _real() -> dict[str, Any]:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def _read(tmp_path: Path, **train: Any):
    """read_train on the real params.yaml with some `train:` keys changed (None deletes one)."""
    data = _real()
    for key, value in train.items():
        if value is None:
            del data["train"][key]
        else:
            data["train"][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return read_train(load_params(path))


def test_real_params_give_the_production_config():
    cfg = read_train(load_params(REPO / "params.yaml"))
    assert (cfg.learning_rate, cfg.num_leaves, cfg.calibration) == (0.03, 15, "platt")
    assert cfg.grades.names[0] == "1" and cfg.grades.upper_bounds[-1] == 1.0
    assert cfg.scaling.base_points == 600 and cfg.scaling.pdo == 20
    assert cfg.seed == 42 and isinstance(cfg.num_boost_round, int)
    assert isinstance(cfg.learning_rate, float) and isinstance(cfg.extra_trees, bool)


def test_params_yaml_states_every_key():
    assert list(_real()["train"]) == list(TRAIN_KEYS)


def test_message_shape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _real()
    data["train"]["learning_rate"] = "fast"
    Path("params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as exc:
        read_train(load_params("params.yaml"))
    assert str(exc.value) == "params.yaml: train.learning_rate: expected a number, got 'fast'"


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"learning_rte": 0.1}, "train.learning_rte: is not a known key"),
        ({"num_leaves": None}, "train.num_leaves: is required"),
        ({"learning_rate": 2}, "train.learning_rate: expected a finite number in"),
        ({"learning_rate": 0}, "train.learning_rate"),
        ({"calibration": "beta"}, "train.calibration: expected one of"),
        ({"num_leaves": 3.5}, "train.num_leaves: expected an integer"),
        ({"num_leaves": 1}, "train.num_leaves"),
        ({"path_smooth": 5.0}, "train.path_smooth: must be 0 when monotone_constraints is on"),
        ({"extra_trees": "yes"}, "train.extra_trees: expected true or false"),
        ({"monotone_constraints": 1}, "train.monotone_constraints: expected true or false"),
        ({"monotone_method": "strict"}, "train.monotone_method"),
        ({"objective": "regression"}, "train.objective"),
        ({"pd_floor": 0.5}, "train.pd_floor"),
        ({"baseline_max_rows": 10}, "train.baseline_max_rows"),
        ({"max_train_rows": 10}, "train.max_train_rows"),
        ({"feature_fraction": 0}, "train.feature_fraction"),
        ({"lambda_l2": -1}, "train.lambda_l2"),
        ({"num_threads": -1}, "train.num_threads"),
        ({"scaling": {"base_points": 600, "base_odds": 50, "pdo": 0}}, "train.scaling.pdo"),
        ({"scaling": {"base_points": 600, "base_odds": 50}}, "train.scaling.pdo: is required"),
        ({"scaling": {"base_points": "600", "base_odds": 50, "pdo": 20}}, "train.scaling.base"),
        ({"grades": {}}, "train.grades: must map at least one grade"),
        (
            {"grades": {"A": 0.1, "B": 0.05, "C": 1.0}},
            "train.grades: upper PD bounds must increase",
        ),
        (
            {"grades": {"A": 0.1, "B": 0.5}},
            "train.grades: the last grade's upper bound must be 1.0",
        ),
        ({"grades": {"A": "x", "B": 1.0}}, "train.grades.A: expected a number"),
        ({"grades": {1: 0.1, "B": 1.0}}, "train.grades: expected a non-empty string"),
        ({"grades": [0.1, 1.0]}, "train.grades: expected a mapping"),
        (
            {"grades": {"A": 0.1, "D": 1.0}},
            "train.grades: grade name 'D' is reserved for accounts in default",
        ),
    ],
)
def test_bad_values_fail_with_the_key(tmp_path, changes, match):
    with pytest.raises(ConfigError, match=match.replace("(", r"\(")):
        _read(tmp_path, **changes)


def test_path_smooth_allowed_without_monotone_constraints(tmp_path):
    cfg = _read(tmp_path, path_smooth=5.0, monotone_constraints=False)
    assert cfg.path_smooth == 5.0 and not cfg.monotone_constraints


def test_seed_is_read_strictly(tmp_path):
    data = _real()
    data["seed"] = True
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match="seed: expected an integer"):
        read_train(load_params(path))

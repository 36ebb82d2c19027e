"""The training recipe's settings: tree size scaled to the training rows, LightGBM params."""

from __future__ import annotations

from dataclasses import replace

import pytest

from models.train_config import effective_tree_size, lgb_params, monotone_vector, scaled_to_rows
from tests.models.train_helpers import production_train_config


def test_monotone_vector_and_params(catalogue, fast_config):
    assert monotone_vector(catalogue) == [1, -1, 1, -1, 0, 0, 0]
    p = lgb_params(fast_config, catalogue)
    assert p["monotone_constraints"] == [1, -1, 1, -1, 0, 0, 0]
    assert "is_unbalance" not in p and "scale_pos_weight" not in p
    assert "monotone_constraints" not in lgb_params(
        replace(fast_config, monotone_constraints=False), catalogue
    )


@pytest.mark.parametrize(
    "n_train,leaves,min_child,per_group,feature_fraction,extra_trees",
    [
        (600, 7, 15, 15, 0.5, True),  # German credit in table mode: 1,000 rows, 60% train
        (200, 2, 10, 10, 0.5, True),  # the floors
        (4_000, 15, 100, 100, 0.5, True),
        (8_000, 15, 200, 100, 0.8, False),  # share x n reaches min_child_samples: not small
        (82_000, 15, 200, 100, 0.8, False),  # the built-in book: params.yaml's values unchanged
    ],
)
def test_tree_size_scales_with_training_rows(
    n_train, leaves, min_child, per_group, feature_fraction, extra_trees
):
    config = production_train_config()
    assert (config.num_leaves, config.min_child_samples, config.min_data_per_group) == (
        15,
        200,
        100,
    )
    assert effective_tree_size(config, n_train) == {
        "num_leaves": leaves,
        "min_child_samples": min_child,
        "min_data_per_group": per_group,
        "feature_fraction": feature_fraction,
        "extra_trees": extra_trees,
    }


def test_scaled_config_reaches_lightgbm_and_the_record(catalogue):
    config = production_train_config()
    scaled, record = scaled_to_rows(config, 600)
    params = lgb_params(scaled, catalogue)
    assert (params["num_leaves"], params["min_child_samples"]) == (7, 15)
    assert (params["min_data_per_group"], params["feature_fraction"]) == (15, 0.5)
    assert params["extra_trees"] is True
    assert record["small_table"] is True and record["n_train"] == 600
    assert record["num_leaves"] == {"configured": 15, "effective": 7}
    assert scaled_to_rows(config, 82_000)[0] == config


def test_the_flat_config_is_what_a_run_logs():
    """`to_flat_dict` flattens the nested settings into MLflow-style keys, one per value."""
    flat = production_train_config().to_flat_dict()
    assert flat["calibration"] == "platt" and flat["seed"] == 42
    assert flat["scaling.pdo"] == 20 and flat["grade.1"] == 0.0015 and flat["grade.12"] == 1.0
    assert flat["small_table.rows_per_leaf"] == 80 and flat["dask.retries"] == 1
    assert not any(isinstance(v, dict | list) for v in flat.values())

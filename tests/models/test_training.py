"""models.training: the training sample and the stage's library entry."""

from __future__ import annotations

import pandas as pd
import pytest


def test_no_cap_or_a_small_table_trains_on_every_row():
    import numpy as np

    from models.training import training_sample

    y = np.array([0, 1] * 50)
    for cap in (None, 100, 5000):
        sample = training_sample(y, cap, seed=1)
        assert sample.rows is None and sample.weights is None and sample.of == 100


def test_the_training_sample_keeps_the_defaults_and_the_weighted_class_totals():
    import numpy as np

    from models.training import training_sample

    rng = np.random.default_rng(3)
    y = (rng.random(100_000) < 0.03).astype(int)
    sample = training_sample(y, 10_000, seed=7)
    assert sample.rows is not None and sample.rows.size == 10_000
    assert np.all(np.diff(sample.rows) > 0)  # ascending positions, no repeats
    kept = y[sample.rows].astype(bool)
    assert kept.sum() == y.sum()  # every default kept (they fit in half the sample)
    for cls in (True, False):  # the weights restore each class's count
        assert sample.weights[kept == cls].sum() == pytest.approx((y == cls).sum())
    again = training_sample(y, 10_000, seed=7)
    assert np.array_equal(again.rows, sample.rows)
    assert sample.to_dict()["sampled"] and sample.to_dict()["rates"]["default"] == 1.0
    many = training_sample(np.ones(5000, dtype=int) * (rng.random(5000) < 0.8), 1000, seed=7)
    assert many.rows.size == 1000 and many.rates["default"] < 1.0  # defaults capped at half


def test_a_weighted_sample_trains_a_model_as_good_as_all_rows(feature_table, catalogue):
    """The booster on a capped, weighted sample ranks the test split about as well as on every
    row, and its PDs stay calibrated (the calibrator never sees sampled rows)."""
    import numpy as np

    from models.training import train_pd
    from tests.models.train_helpers import fast_train_config

    full = train_pd(feature_table, catalogue, None, fast_train_config(max_train_rows=None))
    n_train = int((feature_table["split"] == "train").sum())
    capped = train_pd(
        feature_table, catalogue, None, fast_train_config(max_train_rows=max(1000, n_train // 3))
    )
    drawn = capped.metrics["samples"]["train"]["sample"]
    assert drawn["sampled"] and drawn["of"] == n_train
    assert drawn["rows"] == max(1000, n_train // 3)  # the booster's rows
    assert capped.metrics["samples"]["train"]["n"] == n_train  # metrics: every train row
    # the scores record which train rows the booster learned on
    used = capped.scores.loc[capped.scores["split"] == "train", "sample"].value_counts()
    assert used["train"] == drawn["rows"] and used["train_unsampled"] == n_train - drawn["rows"]
    assert (full.scores.loc[full.scores["split"] == "train", "sample"] == "train").all()
    assert capped.metrics["test"]["auc"] > full.metrics["test"]["auc"] - 0.02
    test = feature_table["split"] == "test"
    observed = feature_table.loc[test, "default"].astype(float).mean()
    predicted = capped.scores.loc[capped.scores["split"] == "test", "pd"].mean()
    assert abs(predicted - observed) < 0.3 * observed + 0.005
    assert np.isfinite(capped.scores["pd"]).all()


# ------------------------------------------------- the train stage reads the table block by block
def test_training_from_blocks_equals_training_on_the_whole_table(tmp_path, catalogue):
    """The stage reads the labelled rows and, after training, the current book in blocks; the
    model, metrics and scores (in the table's row order) equal the in-memory `train_pd`."""
    from models.training import book_blocks, read_labelled_splits, train_on_splits, train_pd
    from tests.models.conftest import make_feature_table, write_feature_dir
    from tests.models.train_helpers import fast_train_config

    table = make_feature_table(n=4000, seed=5)
    table.loc[table.index[::97], "policy__days_past_due"] = 120  # some in default: left out
    fdir, _ = write_feature_dir(tmp_path, table, catalogue)
    config = fast_train_config()
    whole = train_pd(table, catalogue, None, config)
    parts = read_labelled_splits(fdir, catalogue, block_rows=700)
    assert all(part.index.is_monotonic_increasing for part in parts.values())
    blocks = list(book_blocks(fdir, catalogue, block_rows=700))
    assert len(blocks) > 1 and all((b["split"] == "score").all() for b in blocks)
    from_blocks = train_on_splits(parts, blocks, catalogue, None, config)
    pd.testing.assert_frame_equal(from_blocks.scores, whole.scores, check_exact=True)
    assert from_blocks.metrics == whole.metrics
    assert from_blocks.model.booster.model_to_string() == whole.model.booster.model_to_string()
    defaulted = from_blocks.scores["grade"].eq("D")
    assert defaulted.any() and not from_blocks.scores.loc[defaulted, "split"].ne("score").any()


def test_a_missing_label_or_policy_input_in_a_later_block_is_named_by_table_row(
    tmp_path, catalogue
):
    from core.errors import DataValidationError
    from models.training import read_labelled_splits
    from tests.models.conftest import make_feature_table, write_feature_dir

    table = make_feature_table(n=3000, seed=6)
    row = int(table.index[(table["split"] == "validation").to_numpy()][-1])
    unlabelled = table.copy()
    unlabelled.loc[row, "default"] = pd.NA
    fdir, _ = write_feature_dir(tmp_path / "a", unlabelled, catalogue)
    with pytest.raises(DataValidationError, match=rf"row {row}: split 'validation' has a missing"):
        read_labelled_splits(fdir, catalogue, block_rows=500)
    # a required flag missing on one current-book row (the last block): stop before training
    flagged = table.assign(policy__dispute=pd.array([False] * len(table), dtype="boolean"))
    last_book_row = int(table.index[(table["split"] == "score").to_numpy()][-1])
    flagged.loc[last_book_row, "policy__dispute"] = pd.NA
    fdir, _ = write_feature_dir(tmp_path / "b", flagged, catalogue)
    with pytest.raises(DataValidationError, match=r"\['dispute'\] missing on 1 of 3000 rows"):
        read_labelled_splits(fdir, catalogue, block_rows=500)

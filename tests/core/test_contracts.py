"""Table contracts and the one declaration of the policy inputs."""

from __future__ import annotations

import pandas as pd
import pytest

from core.contracts import (
    FEATURE_TO_POLICY,
    POLICY_INPUT_NAMES,
    POLICY_INPUTS,
    POLICY_PREFIX,
    REASONS,
    SCORES,
    STAGE_TABLES,
    check_samples,
)
from core.errors import DataValidationError, PipelineError


def _scores(**override) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "account_id": [1, 2],
            "observation_date": pd.to_datetime(["2025-01-01", "2025-01-01"]),
            "split": ["test", "score"],
            "sample": ["test", "score"],
            "default": pd.array([0, pd.NA], dtype="Int8"),
            "raw_score": [-3.0, -1.0],
            "pd": [0.01, 0.2],
            "score": [650.0, 580.0],
            "grade": ["A", "F"],
        }
    )
    return frame.assign(**override)


def test_a_valid_frame_passes_with_int_or_text_ids():
    SCORES.check(_scores(), "scores.parquet")
    SCORES.check(_scores(account_id=["a-1", "a-2"]), "scores.parquet")


def test_missing_column_names_file_and_column():
    with pytest.raises(DataValidationError, match="file 's.parquet', column 'grade'"):
        SCORES.check(_scores().drop(columns="grade"), "s.parquet")


def test_wrong_dtype_and_unknown_split_are_rejected():
    with pytest.raises(DataValidationError, match="column 'pd'.*expected a column of kind 'float'"):
        SCORES.check(_scores(pd=["low", "high"]), "s.parquet")
    with pytest.raises(DataValidationError, match=r"column 'split', row 1: value 'scoring'"):
        SCORES.check(_scores(split=["test", "scoring"]), "s.parquet")
    with pytest.raises(DataValidationError, match="column 'pd', row 0: missing value"):
        SCORES.check(_scores(pd=[None, 0.2]), "s.parquet")


def test_read_names_the_stage_that_writes_a_missing_file(tmp_path):
    with pytest.raises(PipelineError, match="run the train stage first"):
        SCORES.read(tmp_path / "scores.parquet", stage="train")
    path = tmp_path / "scores.parquet"
    _scores().to_parquet(path)
    got = SCORES.read(path, columns=["account_id", "pd"])
    assert list(got.columns) == ["account_id", "pd"]


def test_policy_inputs_are_declared_once_and_consistently():
    assert len(set(POLICY_INPUT_NAMES)) == len(POLICY_INPUTS)
    assert all(p.feature_column == POLICY_PREFIX + p.name for p in POLICY_INPUTS)
    assert set(FEATURE_TO_POLICY.values()) == set(POLICY_INPUT_NAMES)
    # flags are never guessed: every boolean input is required
    assert all(p.required for p in POLICY_INPUTS if p.dtype == "bool")
    dpd = next(p for p in POLICY_INPUTS if p.name == "days_past_due")
    assert dpd.request_column({"utilisation"}) == "days_past_due"
    assert dpd.request_column({"days_past_due"}) == "policy__days_past_due"


def test_every_stage_table_has_a_key_and_a_parquet_file():
    for name, contract in STAGE_TABLES.items():
        assert contract.key, name
        assert set(contract.key) <= set(contract.columns), name
        assert contract.file.endswith(".parquet"), name


def test_a_nullable_label_may_be_float_with_nan_but_only_whole_numbers():
    import numpy as np

    SCORES.check(_scores(default=[0.0, np.nan]), "s.parquet")
    with pytest.raises(DataValidationError, match="column 'default'.*of kind 'int'"):
        SCORES.check(_scores(default=[0.5, np.nan]), "s.parquet")


def test_read_names_a_missing_column_and_filters_rows(tmp_path):
    path = tmp_path / "scores.parquet"
    _scores().to_parquet(path)
    with pytest.raises(DataValidationError, match="column 'tier'"):
        SCORES.read(path, columns=["account_id", "tier"])
    got = SCORES.read(path, filters=[("split", "in", ["score"])])
    assert got["split"].tolist() == ["score"]


def test_declared_range_is_enforced_and_names_the_first_row():
    import numpy as np

    SCORES.check(_scores(default=[1.0, np.nan]), "s.parquet")  # a missing label is not compared
    with pytest.raises(
        DataValidationError, match=r"column 'default', row 1: value 2.*above the max"
    ):
        SCORES.check(_scores(default=pd.array([0, 2], dtype="Int8")), "s.parquet")
    with pytest.raises(
        DataValidationError, match=r"column 'default', row 0: value -1.*below the min"
    ):
        SCORES.check(_scores(default=[-1.0, np.nan]), "s.parquet")
    reasons = pd.DataFrame(
        {
            "account_id": [1, 1],
            "observation_date": pd.to_datetime(["2025-01-01"] * 2),
            "rank": [1, 0],
            "feature": ["utilisation"] * 2,
            "value": ["0.9"] * 2,
            "contribution": [0.3, 0.1],
            "text": ["high utilisation"] * 2,
        }
    )
    with pytest.raises(DataValidationError, match=r"column 'rank', row 1: value 0 below the min"):
        REASONS.check(reasons, "r.parquet")


def test_a_duplicate_key_names_the_key_columns_and_the_first_repeat():
    frame = pd.concat([_scores(), _scores().iloc[[1]]], ignore_index=True)
    with pytest.raises(
        DataValidationError,
        match=r"column 'account_id,observation_date', row 2: duplicate key.*account_id=2",
    ):
        SCORES.check(frame, "s.parquet")
    # the same account at another date is a different key
    SCORES.check(
        frame.assign(observation_date=pd.to_datetime(["2025-01-01"] * 2 + ["2025-02-01"])), "s"
    )
    # a missing date is a value of the key like any other
    nat = frame.assign(observation_date=pd.NaT)
    with pytest.raises(DataValidationError, match="row 2: duplicate key"):
        SCORES.check(nat, "s.parquet")


def test_read_checks_the_key_only_when_all_its_columns_are_read(tmp_path):
    path = tmp_path / "scores.parquet"
    pd.concat([_scores(), _scores().iloc[[1]]], ignore_index=True).to_parquet(path)
    with pytest.raises(DataValidationError, match="duplicate key"):
        SCORES.read(path)
    with pytest.raises(DataValidationError, match="duplicate key"):
        SCORES.read(path, columns=["account_id", "observation_date", "pd"])
    assert len(SCORES.read(path, columns=["account_id", "pd"])) == 3


def test_check_is_fast_on_a_book_sized_table():
    import time

    import numpy as np

    n = 300_000
    frame = pd.DataFrame(
        {
            "account_id": np.arange(n),
            "observation_date": pd.Timestamp("2025-01-01"),
            "split": "test",
            "sample": pd.Categorical(["test"] * n),
            "default": np.where(np.arange(n) % 2, 1.0, np.nan),
            "raw_score": np.zeros(n),
            "pd": np.full(n, 0.1),
            "score": np.full(n, 600.0),
            "grade": "A",
        }
    )
    start = time.perf_counter()
    check_samples(SCORES.check(frame, "s.parquet"), "s.parquet")
    assert time.perf_counter() - start < 2.0


def test_a_sample_must_be_a_part_of_its_split():
    """SCORES `sample` records what training used a row for; it refines the row's split."""
    with pytest.raises(DataValidationError, match=r"column 'sample', row 1: value 'holdout'"):
        SCORES.check(_scores(sample=["test", "holdout"]), "s.parquet")
    check_samples(_scores(sample=["test", "score"]), "s.parquet")
    with pytest.raises(
        DataValidationError,
        match=r"column 'sample', row 1: sample 'early_stopping' is not a part of split 'score'",
    ):
        check_samples(_scores(sample=["test", "early_stopping"]), "s.parquet")
    both = _scores(split=["validation", "validation"], sample=["early_stopping", "calibration"])
    check_samples(SCORES.check(both, "s.parquet"), "s.parquet")

"""models.training readers: the true PD is optional only when no file is named."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import PipelineError
from models.training import read_truth


def test_no_truth_path_means_no_truth():
    assert read_truth(None) is None


def test_a_named_but_missing_truth_file_names_the_file_and_the_stage(tmp_path):
    path = tmp_path / "truth" / "true_pd.parquet"
    with pytest.raises(PipelineError, match=r"true_pd.parquet' not found; run the ingest stage"):
        read_truth(path)


def test_an_existing_truth_file_is_read_through_its_contract(tmp_path):
    path = tmp_path / "true_pd.parquet"
    pd.DataFrame(
        {
            "account_id": [1, 2],
            "observation_date": pd.to_datetime(["2024-01-01", "2024-01-01"]),
            "true_pd": [0.1, 0.2],
        }
    ).to_parquet(path, index=False)
    assert read_truth(path)["true_pd"].tolist() == [0.1, 0.2]

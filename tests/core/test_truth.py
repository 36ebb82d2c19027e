"""core.truth: the built-in book's truth, read through its contracts; a lender's book has none."""

from __future__ import annotations

import pandas as pd
import pytest

from core.contracts import CUSTOMER_EFFECTS, MACRO, TRUE_PD
from core.errors import DataValidationError, PipelineError
from core.truth import month_after, read_truth


def _true_pd(n: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": list(range(1, n + 1)),
            "observation_date": pd.to_datetime(["2024-01-01"] * n),
            "true_pd": [0.1, 0.2][:n] if n <= 2 else [0.1] * n,
        }
    )


def test_no_truth_directory_means_no_truth():
    truth = read_truth(None)
    assert truth.true_pd is None and truth.effects is None and truth.macro is None


def test_a_named_directory_without_true_pd_names_the_file_and_the_stage(tmp_path):
    with pytest.raises(PipelineError, match=r"true_pd.parquet' not found; run the ingest stage"):
        read_truth(tmp_path / "truth")


def test_each_part_is_read_through_its_contract(tmp_path):
    _true_pd().to_parquet(tmp_path / TRUE_PD.file, index=False)
    pd.DataFrame({"account_id": [1, 2], "slow_cure": [0.5, -0.1]}).to_parquet(
        tmp_path / CUSTOMER_EFFECTS.file, index=False
    )
    pd.DataFrame(
        {"month": pd.to_datetime(["2024-01-01", "2024-02-01"]), "macro_factor": [0.0, 0.8]}
    ).to_parquet(tmp_path / MACRO.file, index=False)
    truth = read_truth(tmp_path)
    assert truth.true_pd["true_pd"].tolist() == [0.1, 0.2]
    assert truth.effects["slow_cure"].tolist() == [0.5, -0.1]
    assert truth.macro["macro_factor"].tolist() == [0.0, 0.8]
    only = read_truth(tmp_path, parts=("effects",))
    assert only.true_pd is None and only.effects is not None


def test_a_lender_book_has_an_empty_true_pd_and_no_other_truth(tmp_path):
    _true_pd().iloc[:0].to_parquet(tmp_path / TRUE_PD.file, index=False)
    truth = read_truth(tmp_path)
    assert truth.true_pd is None and truth.effects is None and truth.macro is None


def test_a_truth_table_off_contract_is_refused(tmp_path):
    _true_pd().to_parquet(tmp_path / TRUE_PD.file, index=False)
    pd.DataFrame(
        {"month": pd.to_datetime(["2024-01-01"] * 2), "macro_factor": [0.0, 1.0]}
    ).to_parquet(tmp_path / MACRO.file, index=False)
    with pytest.raises(DataValidationError, match="duplicate key of the macro table"):
        read_truth(tmp_path)
    with pytest.raises(ValueError, match="unknown truth parts"):
        read_truth(tmp_path, parts=("oracle",))


def test_month_after_is_the_factor_of_the_next_month_or_zero():
    macro = pd.DataFrame(
        {"month": pd.to_datetime(["2024-02-01", "2024-03-01"]), "macro_factor": [0.4, 0.8]}
    )
    dates = pd.Series(pd.to_datetime(["2024-01-01", "2024-02-01"]))
    assert month_after(macro, dates) == 0.8
    assert month_after(macro, pd.Series(pd.to_datetime(["2024-03-01"]))) == 0.0
    assert month_after(None, dates) == 0.0

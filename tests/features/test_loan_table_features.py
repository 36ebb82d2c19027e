"""Table mode: typing, categories from the training split, protected and policy columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.catalogue import Catalogue, to_model_frame
from core.errors import DataValidationError, InvalidConfig
from features.loan_table_features import TableFeatureConfig, build_table_features

CFG = TableFeatureConfig(date_parts=False, max_categories=50)


def _loans(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "account_id": [f"L{i}" for i in range(n)],
            "observation_date": pd.Timestamp("2021-01-01")
            + pd.to_timedelta(np.arange(n), unit="D"),
            "default": pd.array(rng.random(n) < 0.2, dtype="Int8"),
            "loan_amnt": rng.integers(1000, 30000, n).astype(float),
            "int_rate": [f" {r:.2f}%" for r in rng.uniform(5, 25, n)],
            "grade": rng.choice(["A", "B", "C"], n),
            "issue_d": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 600, n), "D"),
            "gender": rng.choice(["f", "m"], n),
            "desc": [f"free text {i}" for i in range(n)],
            "constant": "same",
            "home ownership[x]": rng.choice(["RENT", "OWN"], n),
        }
    )


def _split(n: int, train: int) -> pd.Series:
    return pd.Series(["train"] * train + ["test"] * (n - train))


def test_types_protected_and_policy_columns():
    loans = _loans()
    frame, cat = build_table_features(loans, _split(400, 300), protected=["gender"], cfg=CFG)
    names = cat.model_columns
    assert "gender" not in names and "protected__gender" in frame
    assert cat.protected == ["protected__gender"]
    assert cat.spec("int_rate").dtype == "float"  # " 13.56%" text coerced
    assert frame["int_rate"].dtype == np.float32
    assert cat.spec("grade").dtype == "category" and cat.spec("grade").categories == ["A", "B", "C"]
    assert "desc" not in names and "constant" not in names  # id-like text and constants dropped
    assert "issue_d_year" not in names  # dates only when asked
    assert "home_ownership_x" in names  # names made safe for LightGBM/JSON
    assert cat.spec("home_ownership_x").sources == ["home ownership[x]"]
    assert list(frame.columns[:4]) == ["account_id", "observation_date", "default", "split"]
    # no arrears columns: a current book, flags cannot escalate; time zones are never invented
    assert not frame["policy__dispute"].any() and frame["policy__timezone"].isna().all()
    assert set(cat.policy_columns) <= set(frame.columns)
    pd.testing.assert_frame_equal(
        to_model_frame(frame, cat).astype("float64", errors="ignore"),
        to_model_frame(frame, Catalogue.from_dict(cat.to_dict())).astype(
            "float64", errors="ignore"
        ),
    )


def test_date_parts_when_asked():
    frame, cat = build_table_features(
        _loans(), _split(400, 300), cfg=TableFeatureConfig(date_parts=True, max_categories=50)
    )
    assert {"issue_d_year", "issue_d_month", "issue_d_dayofweek", "observation_month"} <= set(
        cat.model_columns
    )
    assert "observation_year" not in cat.model_columns


def test_categories_learned_on_training_rows_only_and_unseen_scores_missing():
    loans = _loans()
    loans.loc[300:, "grade"] = "Z"  # appears only outside training
    frame, cat = build_table_features(loans, _split(400, 300), cfg=CFG)
    assert "Z" not in cat.spec("grade").categories
    assert frame.loc[300:, "grade"].isna().all()
    # scoring later: an unseen value maps to missing instead of failing
    new = frame.head(3).copy()
    new["grade"] = pd.Series(["B", "never-seen", None], dtype="object").to_numpy()
    served = to_model_frame(new, Catalogue.from_dict(cat.to_dict()))
    assert served["grade"].iloc[0] == "B"
    assert served["grade"].isna().tolist() == [False, True, True]
    assert list(served["grade"].cat.categories) == ["A", "B", "C"]


def test_numeric_column_with_a_typo_names_column_and_row():
    loans = _loans()
    loans["loan_amnt"] = loans["loan_amnt"].astype(str)
    loans.loc[17, "loan_amnt"] = "12k"
    with pytest.raises(DataValidationError) as err:
        build_table_features(loans, _split(400, 300), cfg=CFG)
    assert err.value.column == "loan_amnt" and err.value.row == 17
    assert "12k" in str(err.value) and "drop_columns" in str(err.value)


def test_policy_columns_taken_from_same_named_table_columns():
    loans = _loans().assign(days_past_due=np.arange(400) % 3, dispute=np.arange(400) % 2 == 0)
    frame, _ = build_table_features(loans, _split(400, 300), cfg=CFG)
    np.testing.assert_array_equal(frame["policy__days_past_due"], np.arange(400) % 3)
    assert frame["policy__dispute"].sum() == 200


def test_missing_protected_column_is_reported():
    with pytest.raises(DataValidationError, match="protected"):
        build_table_features(_loans(), _split(400, 300), protected=["race"], cfg=CFG)


def test_flags_are_never_guessed_for_tables_with_arrears():
    loans = pd.DataFrame(
        {
            "account_id": [str(i) for i in range(40)],
            "observation_date": pd.NaT,
            "default": [0, 1] * 20,
            "amount": np.arange(40.0),
            "days_past_due": [0, 5] * 20,
            "dispute": [True, None] + [False] * 38,
        }
    )
    frame, _ = build_table_features(loans, _split(40, 30), cfg=CFG)
    assert frame["policy__days_past_due"].tolist()[:2] == [0, 5]
    assert frame["policy__dispute"].isna().sum() == 1  # a missing value stays missing
    assert frame["policy__deceased"].isna().all()  # an absent flag column is not invented


def test_table_mode_fills_every_policy_input_of_the_contract():
    from core.contracts import POLICY_FEATURE_COLUMNS

    frame, cat = build_table_features(_loans(), _split(400, 300), cfg=CFG)
    assert tuple(cat.policy_columns) == POLICY_FEATURE_COLUMNS
    assert list(frame.columns[-len(POLICY_FEATURE_COLUMNS) :]) == list(POLICY_FEATURE_COLUMNS)


def test_numeric_share_is_a_library_rule():
    with pytest.raises(InvalidConfig, match="numeric_share"):
        TableFeatureConfig(date_parts=False, max_categories=50, numeric_share=0.2)

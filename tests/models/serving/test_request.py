"""The one mapping from table rows to a request, and its typing rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.contracts import POLICY_INPUTS
from core.errors import DataValidationError
from models.serving.request import request_schema, to_request, to_request_frame

from .conftest import serving_catalogue, serving_table

TYPES = {"x": "double", "band": "string", "dispute": "boolean", "timezone": "string"}


def test_feature_table_policy_columns_take_their_request_names():
    frame = pd.DataFrame(
        {"account_id": [1], "policy__dispute": [True], "policy__timezone": ["Asia/Shanghai"]}
    )
    out = to_request(frame, TYPES)
    assert list(out.columns) == ["account_id", "dispute", "timezone"]  # ids pass through
    both = frame.assign(dispute=[False])
    assert not to_request(both, TYPES)["dispute"].iloc[0]  # a plain column present wins


def test_typing_rules():
    frame = pd.DataFrame(
        {
            "x": pd.array([1, None], dtype="Int64"),
            "band": pd.Categorical(["a", None]),
            "dispute": [True, False],
            "timezone": [np.nan, np.nan],  # CSV reads an all-empty column as float
        }
    )
    out = to_request(frame, TYPES)
    assert out["x"].dtype == np.float64 and np.isnan(out["x"].iloc[1])
    assert out["band"].dtype == object and out["band"].tolist() == ["a", None]
    assert out["timezone"].tolist() == [None, None]
    assert out["dispute"].dtype == bool
    numbers_as_text = to_request(pd.DataFrame({"band": [1, 2]}), TYPES)
    assert numbers_as_text["band"].tolist() == ["1", "2"]


def test_a_missing_flag_is_not_guessed():
    frame = pd.DataFrame({"dispute": [True, None]})
    assert to_request(frame, TYPES)["dispute"].tolist() == [True, None]


def test_request_frame_columns_follow_the_schema():
    catalogue = serving_catalogue()
    rows = serving_table(n=50)
    request = to_request_frame(rows, catalogue, with_policy=True)
    schema = request_schema(catalogue, with_policy=True)
    assert list(request.columns) == [c.name for c in schema]
    assert len(schema) == len(catalogue.model_columns) + len(POLICY_INPUTS)
    assert request["timezone"].dtype == object and request["income_band"].dtype == object
    pd_only = to_request_frame(rows, catalogue)
    assert list(pd_only.columns) == catalogue.model_columns


def test_request_frame_needs_required_policy_inputs_not_optional_ones():
    catalogue = serving_catalogue()
    rows = serving_table(n=20)
    no_zone = to_request_frame(rows.drop(columns="policy__timezone"), catalogue, with_policy=True)
    assert "timezone" not in no_zone.columns
    with pytest.raises(DataValidationError, match="policy__dispute"):
        to_request_frame(rows.drop(columns="policy__dispute"), catalogue, with_policy=True)

"""The serving bundle in-process: same functions as the pipeline, request validation, options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataValidationError
from models.serving.pyfunc import (
    POLICY_INPUTS,
    ServingBundle,
    ServingConfig,
    request_columns,
    signature_and_example,
    to_request_frame,
)

from .conftest import POLICY, REASONS, TOP_K, serving_catalogue, serving_table


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, serving_fast_config):
    from models.pd_model import fit_pd_model

    df = serving_table(n=3000, seed=5)
    cat = serving_catalogue()
    model, _ = fit_pd_model(
        df[df["split"] == "train"], df[df["split"] == "validation"], cat, serving_fast_config
    )
    d = tmp_path_factory.mktemp("bundle") / "model"
    model.save(d)
    b = ServingBundle.load(d, POLICY, REASONS, ServingConfig(top_k=TOP_K))
    return b, df[df["split"] == "test"].head(300).reset_index(drop=True)


def test_collision_keeps_feature_table_name():
    names = request_columns(serving_catalogue())
    assert names["first_time_delinquency"] == "policy__first_time_delinquency"
    assert names["days_past_due"] == "days_past_due" and set(names) == set(POLICY_INPUTS)


def test_outputs_match_library_calls(bundle):
    from collection_policy.engine import accounts_from_features, assign_tiers
    from collection_policy.loader import load_policy
    from models.explain.reasons import load_reason_dictionary, reason_codes, reasons_wide
    from models.explain.treeshap import shap_values

    b, rows = bundle
    request = to_request_frame(rows, b.model.catalogue, with_policy=True)
    out = b.score(request)
    assert list(out.columns) == b.output_columns()
    scored = b.model.predict_frame(rows)
    np.testing.assert_allclose(out["pd"], scored["pd"], atol=1e-12)
    policy_cols = rows[[c for c in rows.columns if c.startswith("policy__")]]
    acc = accounts_from_features(pd.concat([policy_cols, scored[["pd", "score", "grade"]]], axis=1))
    tiers = assign_tiers(acc, load_policy(POLICY), "rules")
    assert (out["tier"].to_numpy() == tiers["tier"].to_numpy()).all()
    assert out["channels"].tolist() == tiers["channels"].astype(str).tolist()
    x = b.model.model_frame(rows)
    sv = shap_values(b.model.booster, x, progress=False)
    wide = reasons_wide(
        reason_codes(sv.values, x, b.model.catalogue, load_reason_dictionary(REASONS), TOP_K),
        TOP_K,
        index=x.index,
    )
    for k in range(1, TOP_K + 1):
        want = [None if pd.isna(v) else v for v in wide[f"reason_{k}"]]
        assert out[f"reason_{k}"].tolist() == want
    assert out["reason_1"].notna().mean() > 0.5


def test_reasons_off_and_request_order(bundle):
    b, rows = bundle
    request = to_request_frame(rows, b.model.catalogue, with_policy=True)
    fast = b.score(request, reasons=False)
    assert not any(c.startswith("reason_") for c in fast.columns)
    rev = b.score(request.iloc[::-1], reasons=False)
    np.testing.assert_array_equal(rev["pd"].to_numpy(), fast["pd"].to_numpy()[::-1])


def test_unseen_categories_missing_values_and_no_timezone_score(bundle):
    b, rows = bundle
    request = to_request_frame(rows.head(5), b.model.catalogue, with_policy=True)
    request.loc[0, "income_band"] = "never_seen"
    request.loc[1, "channel"] = None
    request.loc[2, "utilisation"] = np.nan
    request = request.drop(columns="timezone")
    out = b.score(request)
    assert out["pd"].between(0, 1).all() and out["tier"].notna().all()
    same = request.copy()
    same.loc[0, "income_band"] = None  # unseen == missing
    assert b.score(same, reasons=False)["pd"][0] == out["pd"][0]


@pytest.mark.parametrize(
    "column,change,match",
    [
        ("dispute", "drop", "dispute"),
        ("days_past_due", 2.5, "whole days"),
        ("utilisation", "high", "utilisation"),
        ("overdue_amount", -1.0, "overdue_amount"),
    ],
)
def test_bad_requests_name_the_column(bundle, column, change, match):
    b, rows = bundle
    request = to_request_frame(rows.head(3), b.model.catalogue, with_policy=True)
    if change == "drop":
        request = request.drop(columns=column)
    else:
        if isinstance(change, str):
            request[column] = request[column].astype(object)
        request.loc[1, column] = change
    with pytest.raises(DataValidationError, match=match):
        b.score(request)


def test_signature_states_request_and_response(bundle):
    b, rows = bundle
    sig, example = signature_and_example(rows, b)
    inputs = {c.name: c for c in sig.inputs.inputs}
    assert str(inputs["income_band"].type) == "DataType.string"
    assert str(inputs["policy__first_time_delinquency"].type) == "DataType.boolean"
    assert inputs["timezone"].required is False and inputs["dispute"].required is True
    assert list(example.columns) == list(inputs)
    assert sig.outputs.input_names() == b.output_columns()
    assert sig.params.params[0].name == "reasons"

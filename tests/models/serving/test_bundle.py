"""The serving bundle in-process: same functions as the pipeline, request validation, options."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.contracts import POLICY_INPUT_NAMES, POLICY_INPUTS
from core.errors import ConfigError, DataValidationError
from models.serving.pyfunc import (
    ServingBundle,
    ServingConfig,
    request_columns,
    signature_and_example,
    to_request_frame,
)

from .conftest import POLICY, REASONS, TOP_K, serving_catalogue, serving_config, serving_table


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from models.pd_estimator import PDEstimator
    from tests.models.train_helpers import fast_train_config

    df = serving_table(n=3000, seed=5)
    train, validation = df[df["split"] == "train"], df[df["split"] == "validation"]
    model = (
        PDEstimator(fast_train_config(num_boost_round=200), serving_catalogue())
        .fit(train, validation)
        .model_
    )
    path = tmp_path_factory.mktemp("bundle") / "model"
    model.save(path)
    return path, df[df["split"] == "test"].head(300).reset_index(drop=True)


@pytest.fixture(scope="module")
def bundle(model_dir):
    path, rows = model_dir
    return ServingBundle.load(path, POLICY, REASONS, serving_config(top_k=TOP_K)), rows


def test_collision_keeps_feature_table_name():
    names = request_columns(serving_catalogue())
    assert names["first_time_delinquency"] == "policy__first_time_delinquency"
    assert names["days_past_due"] == "days_past_due" and set(names) == set(POLICY_INPUT_NAMES)


def test_outputs_match_library_calls(bundle):
    from collection_policy.engine import accounts_from_features, assign_tiers
    from collection_policy.loader import load_policy
    from models.explain.reason_dictionary import load_reason_dictionary
    from models.explain.reasons import reason_codes, reasons_wide
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
    model_frame = b.model.model_frame(rows)
    shap = shap_values(b.model.booster, model_frame, progress=False)
    dictionary = load_reason_dictionary(REASONS)
    wide = reasons_wide(
        reason_codes(shap.values, model_frame, b.model.catalogue, dictionary, TOP_K),
        TOP_K,
        index=model_frame.index,
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
    # flags: `any`, so that MLflow's REST parsing does not cast null/"false" with astype(bool)
    assert str(inputs["policy__first_time_delinquency"].type) == "Any"
    # presence is checked by the model (short 400), not by MLflow (dump of request + schema)
    assert not any(c.required for c in inputs.values())
    assert list(example.columns) == list(inputs)
    assert sig.outputs.input_names() == b.output_columns()
    assert sig.params.params[0].name == "reasons"


def test_the_example_is_the_first_complete_rows_found_block_by_block(bundle, monkeypatch):
    """Requests are built a block at a time until five complete rows are found: the same rows as
    converting the whole frame, and the first rows when too few are complete."""
    import models.serving.pyfunc as pyfunc
    from models.serving.request import to_request_frame

    b, rows = bundle
    rows = rows.reset_index(drop=True).copy()
    model_column = b.model.catalogue.model_columns[0]
    rows.loc[: len(rows) - 8, model_column] = np.nan  # complete rows only among the last 7
    whole = to_request_frame(rows, b.model.catalogue, with_policy=True).dropna().head(5)
    monkeypatch.setattr(pyfunc, "EXAMPLE_SCAN_ROWS", 3)
    _, example = signature_and_example(rows, b)
    pd.testing.assert_frame_equal(example, whole.reset_index(drop=True))
    rows.loc[:, model_column] = np.nan  # none complete: the first rows as they are
    _, example = signature_and_example(rows, b)
    first = to_request_frame(rows.head(5), b.model.catalogue, with_policy=True)
    pd.testing.assert_frame_equal(example, first)


def test_signature_is_derived_from_the_policy_input_declaration(bundle):
    from models.serving.request import request_schema

    b, rows = bundle
    sig, _ = signature_and_example(rows, b)
    inputs = {c.name: c for c in sig.inputs.inputs}
    names = request_columns(b.model.catalogue)
    required = {c.name: c.required for c in request_schema(b.model.catalogue, with_policy=True)}
    for p in POLICY_INPUTS:
        spec = inputs[names[p.name]]
        want = "Any" if p.mlflow_type == "boolean" else f"DataType.{p.mlflow_type}"
        assert str(spec.type) == want and required[names[p.name]] is p.required
    model_inputs = [n for n in inputs if n not in names.values()]
    assert model_inputs == b.model.catalogue.model_columns


@pytest.mark.parametrize(
    "values,row,match",
    [
        ([True, None, False], 1, "flag is null: required, never guessed"),
        ([True, False, "false"], 2, "got 'false'"),
        (["no", True, True], 0, "got 'no'"),
        ([True, 0, False], 1, "got 0"),
        ([0.0, 1.0, 2.0], 2, "got 2.0"),
    ],
)
def test_flags_must_be_booleans(bundle, values, row, match):
    b, rows = bundle
    request = to_request_frame(rows.head(3), b.model.catalogue, with_policy=True)
    request["dispute"] = pd.Series(values, dtype=float if isinstance(values[0], float) else object)
    with pytest.raises(DataValidationError, match=match) as err:
        b.score(request)
    assert err.value.column == "dispute" and err.value.row == row


def test_flags_as_objects_bools_or_01_score_alike(bundle):
    b, rows = bundle
    request = to_request_frame(rows.head(20), b.model.catalogue, with_policy=True)
    want = b.score(request)
    as_objects = request.assign(dispute=request["dispute"].astype(object))
    as_01 = request.assign(hardship=request["hardship"].astype(np.int64))
    pd.testing.assert_frame_equal(b.score(as_objects), want)
    pd.testing.assert_frame_equal(b.score(as_01), want)


def test_small_and_large_requests_give_the_same_answer(bundle, monkeypatch):
    import models.serving.pyfunc as pyfunc

    b, rows = bundle
    request = to_request_frame(rows, b.model.catalogue, with_policy=True)
    small = pd.concat([b.score(request.iloc[[i]]) for i in range(40)], ignore_index=True)
    monkeypatch.setattr(pyfunc, "SMALL_REQUEST_ROWS", 0)  # the batch path: shap_values
    pd.testing.assert_frame_equal(small, b.score(request.head(40)))


def _as_sent(request: pd.DataFrame, how: str) -> pd.DataFrame:
    """The same rows as a client may send them: holes, unseen categories, other dtypes."""
    out = request.copy()
    n = len(out)
    if how == "holes":  # missing numbers and categories, unseen and numeric category values
        out["utilisation"] = out["utilisation"].where(np.arange(n) % 3 != 0)
        out["income_band"] = out["income_band"].astype(object)
        out.loc[out.index[1::4], "income_band"] = "never_seen"
        out.loc[out.index[2::5], "income_band"] = None
        out.loc[out.index[3::7], "channel"] = float("nan")
    elif how == "ints":
        out["max_dpd_6m"] = out["max_dpd_6m"].fillna(0).astype(np.int64)
    elif how == "text":
        out["months_on_book"] = out["months_on_book"].map(repr).astype(object)
    elif how == "categorical":
        out["channel"] = out["channel"].astype("category")
    elif how == "str":
        out["income_band"] = out["income_band"].astype("str")
    elif how == "equal_values":  # 1, 1.0 and True are one value to the general path
        out["channel"] = pd.Series([[1, 1.0, True][i % 3] for i in range(n)], dtype=object)
    return out


@pytest.mark.parametrize("how", ["holes", "ints", "text", "categorical", "str", "equal_values"])
def test_small_requests_equal_the_general_path_whatever_the_columns_hold(bundle, monkeypatch, how):
    """One row at a time and 40 rows at once through the small path (direct matrix or its
    fallback, one thread, TreeSHAP from the matrix, reasons from the matrix) give the general
    path's frame exactly."""
    import models.serving.pyfunc as pyfunc

    b, rows = bundle
    request = _as_sent(to_request_frame(rows.head(40), b.model.catalogue, with_policy=True), how)
    one_by_one = pd.concat([b.score(request.iloc[[i]]) for i in range(40)], ignore_index=True)
    at_once = b.score(request)
    monkeypatch.setattr(pyfunc, "SMALL_REQUEST_ROWS", 0)
    general = b.score(request)
    pd.testing.assert_frame_equal(one_by_one, general)
    pd.testing.assert_frame_equal(at_once, general)
    assert general["reason_1"].notna().any()


def test_row_limit_applies_only_when_served(model_dir, monkeypatch):
    from types import SimpleNamespace

    import models.serving.pyfunc as pyfunc

    path, rows = model_dir
    config = serving_config(top_k=TOP_K).to_dict()
    model = pyfunc.PDPyfuncModel()
    arts = {"model_dir": str(path), "policy": str(POLICY), "reasons": str(REASONS)}
    model.load_context(SimpleNamespace(artifacts=arts, model_config=config))
    request = to_request_frame(rows.head(5), model.bundle.model.catalogue, with_policy=True)
    monkeypatch.setattr(pyfunc, "MAX_REQUEST_ROWS", 4)
    assert len(model.predict(None, request, {"reasons": False})) == 5  # in-process: no limit
    monkeypatch.setenv("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "true")
    with pytest.raises(pyfunc.RequestError, match="request has 5 rows; .* at most 4"):
        model.predict(None, request)
    bad = request.assign(dispute=[True, None, False, False, True])
    with pytest.raises(pyfunc.RequestError) as err:
        model.predict(None, bad.head(4))
    err.value.message = "Failed to predict data '<the request>'. Error: " + err.value.message
    assert err.value.message.startswith("file 'request', column 'dispute', row 1: flag is null")


def test_pd_only_bundle_needs_no_config(model_dir):
    path, rows = model_dir
    pd_only = ServingBundle.load(path)
    assert pd_only.config is None and pd_only.output_columns() == ["pd", "score", "grade"]
    sig, example = signature_and_example(rows, pd_only)
    assert "dispute" not in example.columns
    assert list(pd_only.score(example).columns) == ["pd", "score", "grade"]
    with pytest.raises(ConfigError, match="model_config: is required"):
        ServingBundle.load(path, POLICY, REASONS)


def test_stored_config_round_trips_and_is_checked():
    config = serving_config(top_k=TOP_K)
    assert ServingConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="MLmodel: model_config.top_k: expected an integer"):
        ServingConfig.from_dict({**config.to_dict(), "top_k": 0})
    with pytest.raises(ConfigError, match="model_config.tier_mode: expected one of"):
        ServingConfig.from_dict({**config.to_dict(), "tier_mode": "fast"})
    with pytest.raises(ConfigError, match="model_config.shap_batch_rows: is required"):
        ServingConfig.from_dict({"tier_mode": "rules", "top_k": 4})


def test_learned_ev_rates_travel_with_the_bundle(model_dir, tmp_path):
    """With the collection_rates stage's file the served expected-value tiers are the engine's
    under the same rates: one code path, one set of rates for batch and serving."""
    import json

    from collection_policy.engine import accounts_from_features, assign_tiers
    from collection_policy.ev_rates import ev_rates_json
    from collection_policy.loader import load_policy
    from collection_policy.rate_learning import learn_ev_rates
    from collection_policy.simulated.history import simulate_history
    from collection_policy.simulated.response import ResponseModel
    from tests.collection_policy.conftest import past_due_book

    book = past_due_book(20_000, seed=2)
    history, _ = simulate_history(
        book, np.full(len(book), 4), book["slow_cure"], np.zeros(len(book)), ResponseModel(), 1, 2
    )
    rates = learn_ev_rates(history, 6, 1)
    rates_path = tmp_path / "ev_rates.json"
    rates_path.write_text(json.dumps(ev_rates_json(rates)))
    path, rows = model_dir
    config = serving_config(top_k=TOP_K, tier_mode="expected_value")
    served = ServingBundle.load(path, POLICY, REASONS, config, rates_path)
    assumed = ServingBundle.load(path, POLICY, REASONS, config)
    request = to_request_frame(rows, served.model.catalogue, with_policy=True)
    out = served.score(request, reasons=False)
    scored = served.model.predict_frame(rows)
    policy_cols = rows[[c for c in rows.columns if c.startswith("policy__")]]
    acc = accounts_from_features(pd.concat([policy_cols, scored[["pd", "score", "grade"]]], axis=1))
    engine = assign_tiers(acc, load_policy(POLICY), "expected_value", ev_rates=rates)
    assert (out["tier"].to_numpy() == engine["tier"].to_numpy()).all()
    plain = assumed.score(request, reasons=False)["tier"].to_numpy()
    past_due = acc["days_past_due"].to_numpy() > 0
    assert (out["tier"].to_numpy()[past_due] != plain[past_due]).any()  # the rates matter

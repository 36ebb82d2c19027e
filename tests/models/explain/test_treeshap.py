"""Native TreeSHAP: exact (additive), in agreement with shap, batch-invariant, float32."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.catalogue import to_model_frame
from models.explain import treeshap


@pytest.fixture(scope="module")
def shap_test(book):
    X = book.X[book.df["split"].isin(["test", "score"]).to_numpy()]
    return X, treeshap.shap_values(book.booster, X, batch_rows=97, progress=False)


def test_values_are_float32_and_additive(book, shap_test):
    X, res = shap_test
    assert res.values.dtype == np.float32
    assert res.values.shape == X.shape
    raw = book.booster.predict(X, raw_score=True)
    np.testing.assert_allclose(res.raw_score, raw, rtol=0, atol=1e-12)
    # float64 additivity inside the batch loop, and the stored float32 values still add up
    assert res.additivity_max_abs_err < 1e-9
    assert treeshap.additivity_error(res.values, res.base_value, raw) < 1e-5


def test_batching_does_not_change_values(book, shap_test):
    X, res = shap_test
    whole = treeshap.shap_values(book.booster, X, batch_rows=len(X) + 5, progress=False)
    np.testing.assert_array_equal(whole.values, res.values)
    assert whole.base_value == res.base_value


def test_agrees_with_shap_tree_explainer(book, shap_test):
    X, res = shap_test
    diff = treeshap.check_against_shap(
        book.booster, X, res.values, res.base_value, n_rows=150, tol=1e-6
    )
    assert diff < 1e-6


def test_disagreement_with_shap_fails_the_stage(book, shap_test):
    X, res = shap_test
    bad = res.values.copy()
    bad[:, 1] += np.float32(1e-3)  # e.g. a column-order or iteration-limit bug
    with pytest.raises(treeshap.ExplanationError, match="disagrees with shap.TreeExplainer"):
        treeshap.check_against_shap(book.booster, X, bad, res.base_value, n_rows=len(X), tol=1e-6)


def test_broken_additivity_is_detected(book, monkeypatch):
    X = book.X.iloc[:50]
    real_predict = book.booster.predict

    def shifted(data, **kw):
        out = real_predict(data, **kw)
        return out + 0.01 if kw.get("raw_score") else out

    monkeypatch.setattr(book.booster, "predict", shifted)
    with pytest.raises(treeshap.ExplanationError, match="additivity broken"):
        treeshap.shap_values(book.booster, X, progress=False)


def test_model_columns_must_match_catalogue(book):
    from core.errors import DataValidationError

    treeshap.check_model_columns(book.booster, book.catalogue.model_columns, "booster.txt")
    with pytest.raises(DataValidationError, match="model features differ"):
        treeshap.check_model_columns(
            book.booster, book.catalogue.model_columns[::-1], "booster.txt"
        )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_additivity_property_on_random_rows(book, data):
    """Any row a caller can build - out-of-range values, missing values, unseen categories - is
    explained exactly: contributions + base value == raw score."""
    n = data.draw(st.integers(1, 12))
    num = st.one_of(st.none(), st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False))
    rows = {
        name: data.draw(st.lists(num, min_size=n, max_size=n))
        for name in book.catalogue.model_columns
        if name != "channel"
    }
    rows["channel"] = data.draw(
        st.lists(st.sampled_from(["app", "web", "partner", "unseen", None]), min_size=n, max_size=n)
    )
    frame = pd.DataFrame({k: pd.Series(v, dtype="object") for k, v in rows.items()})
    X = to_model_frame(frame, book.catalogue)
    res = treeshap.shap_values(
        book.booster, X, batch_rows=data.draw(st.integers(1, 5)), progress=False
    )
    raw = book.booster.predict(X, raw_score=True)
    total = res.values.astype(np.float64).sum(axis=1) + res.base_value
    np.testing.assert_allclose(total, raw, rtol=0, atol=1e-5)
    assert res.additivity_max_abs_err < 1e-9


def test_global_importance_ranks_true_drivers(shap_test):
    X, res = shap_test
    imp = treeshap.global_importance(res.values, res.feature_names)
    assert list(imp.columns) == ["rank", "feature", "mean_abs_shap", "mean_shap", "share"]
    assert imp["mean_abs_shap"].is_monotonic_decreasing
    assert imp["share"].sum() == pytest.approx(1.0)
    # the generator's strongest drivers are delinquency and utilisation
    assert set(imp["feature"].head(3)) >= {"max_dpd_6m", "utilisation_current"}


def test_shap_by_grade_orders_grades_and_rises_with_risk(book, shap_test):
    X, res = shap_test
    scores = pd.read_parquet(book.paths.scores).set_index("account_id")
    grades = scores.loc[book.df.loc[X.index, "account_id"], "grade"].reset_index(drop=True)
    by = treeshap.shap_by_grade(res.values, res.feature_names, grades)
    order = list(dict.fromkeys(by["grade"]))
    assert order == treeshap.grade_order(pd.Series(order))  # natural order: 1, 2, .., 10, 11
    assert by.groupby("grade")["n"].first().sum() == len(X)
    dpd = by[by["feature"] == "max_dpd_6m"].set_index("grade")["mean_shap"]
    assert dpd.iloc[-1] > dpd.iloc[0]  # worst grade gets far more from delinquency than the best


def test_empty_frame_is_fine(book):
    res = treeshap.shap_values(book.booster, book.X.iloc[:0], progress=False)
    assert res.values.shape == (0, book.X.shape[1])


def test_grade_order_is_natural_with_the_default_grade_last():
    grades = pd.Series(["10", "2", "D", "1", "12", "9", "2"])
    assert treeshap.grade_order(grades) == ["1", "2", "9", "10", "12", "D"]
    assert treeshap.grade_order(pd.Series(["C", "A", "B"])) == ["A", "B", "C"]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.integers(0, 10_000), min_size=1, max_size=30),
    holes=st.lists(st.tuples(st.integers(0, 29), st.integers(0, 5)), max_size=12),
    threads=st.sampled_from([None, 1]),
)
def test_matrix_path_equals_shap_values(book, rows, holes, threads):
    """A few rows given as their model matrix and raw scores: the values `shap_values` stores
    (float32, to the bit), its base value, its raw scores; missing values (NaN numbers and
    categories) included; one thread or the booster's own."""
    from core.catalogue import model_matrix

    X = book.X.iloc[[r % len(book.X) for r in rows]].reset_index(drop=True).copy()
    for r, c in holes:
        X.iloc[r % len(X), c] = np.nan  # a missing number, or a missing category
    want = treeshap.shap_values(book.booster, X, progress=False)
    matrix = model_matrix(X)
    raw = book.booster.predict(matrix, raw_score=True)
    got = treeshap.matrix_shap_values(
        book.booster, matrix, raw, list(X.columns), num_threads=threads
    )
    assert got.values.dtype == np.float32
    assert got.values.tobytes() == want.values.tobytes()
    assert got.base_value == want.base_value and got.feature_names == want.feature_names
    assert got.raw_score.tobytes() == want.raw_score.tobytes()
    assert got.additivity_max_abs_err == want.additivity_max_abs_err


def test_matrix_path_checks_additivity(book):
    from core.catalogue import model_matrix

    matrix = model_matrix(book.X.iloc[:5])
    raw = book.booster.predict(matrix, raw_score=True)
    names = list(book.X.columns)
    with pytest.raises(treeshap.ExplanationError, match=r"additivity broken in rows 0..4"):
        treeshap.matrix_shap_values(book.booster, matrix, raw + 0.01, names, num_threads=1)
    empty = treeshap.matrix_shap_values(book.booster, matrix[:0], raw[:0], names)
    assert empty.values.shape == (0, len(names)) and empty.values.dtype == np.float32
    nothing = treeshap.shap_values(book.booster, book.X.iloc[:0], progress=False)
    assert np.isnan(empty.base_value) and np.isnan(nothing.base_value)

"""`model_matrix` feeds LightGBM exactly what it would derive from the DataFrame itself, and
`direct_model_matrix` (a request's matrix straight from its columns) is that matrix to the bit."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.catalogue import (
    Catalogue,
    FeatureSpec,
    _direct_matrix,
    direct_model_matrix,
    model_matrix,
    to_model_frame,
)
from core.errors import DataValidationError


def _catalogue() -> Catalogue:
    return Catalogue(
        features=[
            FeatureSpec("x", "float"),
            FeatureSpec("band", "category", categories=["a", "b", "c"]),
        ]
    )


def test_codes_and_missing():
    x = to_model_frame(
        pd.DataFrame({"x": [1.5, None, 3.0], "band": ["c", "zz", None]}), _catalogue()
    )
    m = model_matrix(x)
    assert m.dtype == np.float64 and m.shape == (3, 2)
    assert m[0, 1] == 2.0  # "c" is the third category
    assert np.isnan(m[1, 1]) and np.isnan(m[2, 1])  # unseen and missing categories
    assert np.isnan(m[1, 0]) and m[2, 0] == 3.0


def test_lightgbm_scores_match_the_dataframe_path():
    rng = np.random.default_rng(0)
    n = 2000
    raw = pd.DataFrame({"x": rng.normal(size=n), "band": rng.choice(["a", "b", "c"], n)})
    y = (raw["x"] + (raw["band"] == "c") * 1.5 + rng.normal(size=n) > 1).astype(int)
    x = to_model_frame(raw, _catalogue())
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(x, y), 30
    )
    probe = to_model_frame(
        raw.assign(band=raw["band"].where(rng.random(n) > 0.1, "new")), _catalogue()
    )
    np.testing.assert_array_equal(
        booster.predict(probe, raw_score=True), booster.predict(model_matrix(probe), raw_score=True)
    )
    np.testing.assert_array_equal(
        booster.predict(probe, pred_contrib=True),
        booster.predict(model_matrix(probe), pred_contrib=True),
    )


# ------------------------------------------------------------------- direct_model_matrix
_CATS = ["a", "b", "1", "True", "0.0"]


def _wide_catalogue() -> Catalogue:
    return Catalogue(
        features=[
            FeatureSpec("x", "float"),
            FeatureSpec("band", "category", categories=_CATS),
            FeatureSpec("n", "int"),
            FeatureSpec("zone", "category", categories=["north", "south"]),
            FeatureSpec("flag", "bool"),
        ]
    )


def _general(df: pd.DataFrame, catalogue: Catalogue) -> np.ndarray:
    return model_matrix(to_model_frame(df, catalogue, "request"))


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal to the last bit (NaN where NaN, -0.0 apart from 0.0)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64), st.sampled_from([0.0, -0.0])
)
_labels = st.one_of(
    st.sampled_from([*_CATS, "unseen", "", "north"]), st.none(), st.just(float("nan"))
)


def _number_column(kind: str, values: list[float]) -> pd.Series:
    """A number column as a client may send it: float64, ints, text, float32, bool, objects."""
    arr = np.array(values, dtype=np.float64)
    finite = np.nan_to_num(arr, nan=0.0, posinf=7.0, neginf=-7.0)
    if kind == "int":
        return pd.Series(np.clip(finite, -1e6, 1e6).astype(np.int64))
    if kind == "text":  # numbers as text, one missing
        return pd.Series([None if i == 0 else repr(v) for i, v in enumerate(arr)], dtype=object)
    if kind == "float32":
        return pd.Series(np.clip(finite, -1e30, 1e30).astype(np.float32))
    if kind == "bool":
        return pd.Series(finite > 0)
    if kind == "object":
        return pd.Series(list(arr), dtype=object)
    return pd.Series(arr)


def _category_column(kind: str, labels: list, floats: list[float]) -> pd.Series:
    """A category column as a client may send it: text (object or str dtype, missing and
    unseen values), a categorical dtype, numbers, or values that compare equal (1, 1.0, True)."""
    if kind == "str":
        return pd.Series(labels, dtype="str")
    if kind == "categorical":
        return pd.Series(pd.Categorical([v if isinstance(v, str) else None for v in labels]))
    if kind == "numbers":
        return pd.Series(np.array(floats, dtype=np.float64))
    if kind == "equal_values":
        pool = [1, 1.0, True, "1", 0.0, -0.0, None]
        return pd.Series([pool[i % len(pool)] for i in range(len(labels))], dtype=object)
    return pd.Series(labels, dtype=object)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 12),
    x_kind=st.sampled_from(["float", "float", "int", "text", "float32", "bool", "object"]),
    band_kind=st.sampled_from(
        ["object", "object", "str", "categorical", "numbers", "equal_values"]
    ),
)
def test_direct_matrix_equals_the_general_path(data, n, x_kind, band_kind):
    """Whatever the request's columns hold, the direct matrix is the general path's, to the bit."""
    floats = data.draw(st.lists(_floats, min_size=n, max_size=n))
    labels = data.draw(st.lists(_labels, min_size=n, max_size=n))
    df = pd.DataFrame(
        {
            "x": _number_column(x_kind, floats),
            "band": _category_column(band_kind, labels, floats),
            "n": pd.Series(np.array(floats[::-1], dtype=np.float64)),
            "zone": pd.Series(labels[::-1], dtype=object),
            "flag": pd.Series(np.array(floats, dtype=np.float64)),
            "extra": "ignored",
        }
    )
    catalogue = _wide_catalogue()
    try:
        want = _general(df, catalogue)
    except DataValidationError as exc:  # unparseable text: the same error
        with pytest.raises(DataValidationError) as got:
            direct_model_matrix(df, catalogue, "request")
        assert str(got.value) == str(exc)
        return
    assert _same_bits(direct_model_matrix(df, catalogue, "request"), want)


def test_floats_and_text_categories_take_the_direct_path():
    """The served request's usual shape (float64 numbers, text or missing categories) is read
    without `to_model_frame`; the answer is still the general path's."""
    catalogue = _wide_catalogue()
    df = pd.DataFrame(
        {
            "x": [1.5, np.nan, -0.0],
            "band": pd.Series(["b", "unseen", None], dtype=object),
            "n": [3.0, 4.0, np.nan],
            "zone": pd.Series(["south", float("nan"), "north"], dtype="str"),
            "flag": [1.0, 0.0, 1.0],
        }
    )
    direct = _direct_matrix(df, catalogue.matrix_layout)
    assert direct is not None and _same_bits(direct, _general(df, catalogue))
    assert direct[0, 1] == 1.0 and np.isnan(direct[1, 1]) and np.isnan(direct[2, 1])


@pytest.mark.parametrize(
    "change",
    [
        {"n": pd.Series([3, 4, 5])},  # ints: cast by to_model_frame
        {"x": pd.Series(["1.5", None, "2"], dtype=object)},  # text in a number column
        {"band": pd.Categorical(["a", "b", None], categories=_CATS)},  # a categorical dtype
        {"band": pd.Series([1, True, 1.0], dtype=object)},  # equal values: "1" for all three
    ],
)
def test_other_columns_fall_back_to_the_general_path(change):
    catalogue = _wide_catalogue()
    df = pd.DataFrame(
        {"x": [1.5, 2.0, 3.0], "band": ["a", "b", None], "n": [1.0, 2.0, 3.0]}
        | {"zone": ["north", "south", None], "flag": [0.0, 1.0, 0.0]}
    ).assign(**change)
    assert _direct_matrix(df, catalogue.matrix_layout) is None
    assert _same_bits(direct_model_matrix(df, catalogue), _general(df, catalogue))


def test_a_missing_column_is_the_general_paths_error():
    catalogue = _wide_catalogue()
    df = pd.DataFrame({"x": [1.0], "band": ["a"], "n": [1.0], "flag": [0.0]})
    with pytest.raises(DataValidationError, match=r"missing model input column\(s\) \['zone'\]"):
        direct_model_matrix(df, catalogue, "request")


def test_the_layout_is_worked_out_once_per_catalogue():
    catalogue = _wide_catalogue()
    assert catalogue.matrix_layout is catalogue.matrix_layout
    assert catalogue.matrix_layout.numeric == ("x", "n", "flag")
    assert catalogue.matrix_layout.numeric_at.tolist() == [0, 2, 4]
    assert Catalogue.from_dict(catalogue.to_dict()) == catalogue  # the cache is not a field

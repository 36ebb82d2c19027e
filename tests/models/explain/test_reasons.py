"""Reason codes: positive family contributions only, ranked, one per family, worded from the
dictionary, never protected and never a non-adverse (lender-controlled or declared) feature."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.catalogue import Catalogue, FeatureSpec
from models.explain import reasons, treeshap
from models.explain.reason_dictionary import fallback_text, parse_reason_dictionary


@pytest.fixture(scope="module")
def explained(book):
    X = book.X[book.df["split"].isin(["test", "score"]).to_numpy()].reset_index(drop=True)
    return X, treeshap.shap_values(book.booster, X, progress=False)


def _reason_mask(X, catalogue, dictionary):
    """Columns that may be reasons: eligible (model input, not protected) and adverse."""
    eligible = reasons.eligible_features(list(X.columns), catalogue)
    return eligible & np.array([dictionary.adverse(f) for f in X.columns])


def test_top_k_positive_contributions_in_order(book, explained, reason_dictionary):
    """On the tiny book every family has one feature: reasons are the top positive
    contributions of the adverse features (channel, a lender decision, never is one)."""
    X, res = explained
    long = reasons.reason_codes(res.values, X, book.catalogue, reason_dictionary, top_k=3)
    assert list(long.columns) == reasons.REASON_COLUMNS
    assert (long["contribution"] > 0).all()
    assert long["rank"].between(1, 3).all()
    mask = _reason_mask(X, book.catalogue, reason_dictionary)
    assert not mask[list(X.columns).index("channel")]
    for row, g in long.groupby("row"):
        assert list(g["rank"]) == list(range(1, len(g) + 1))
        assert g["contribution"].is_monotonic_decreasing
        # they are the k largest positive contributions of that row among reason features
        c = res.values[row][mask]
        expected = sorted((v for v in c if v > 0), reverse=True)[:3]
        np.testing.assert_allclose(g["contribution"].to_numpy(), expected, rtol=1e-6)
    # rows without any positive contribution get no reason at all
    none = set(range(len(X))) - set(long["row"])
    assert all((res.values[r][mask] <= 0).all() for r in none)
    assert set(long["family"]) <= {"delinquency", "utilisation", "repayment", "tenure"} | {
        "mystery_score_x"  # no family in the dictionary: its own
    }


def test_text_comes_from_dictionary_with_value(book, explained, reason_dictionary):
    X, res = explained
    long = reasons.reason_codes(res.values, X, book.catalogue, reason_dictionary, top_k=6)
    dpd = long[(long["feature"] == "max_dpd_6m") & (long["value"] == "45")]
    assert not dpd.empty
    assert set(dpd["text"]) == {"Payments up to 45 days late in the last 6 months"}
    util = long[long["feature"] == "utilisation_current"].iloc[0]
    pct = f"{float(X.loc[util['row'], 'utilisation_current']):.0%}"
    assert util["text"] == f"Balance at {pct} of the credit limit at the last statement"
    # channel is a lender decision (`adverse: false`): it counts in the score, never a reason
    assert "channel" not in set(long["feature"])
    assert not long["text"].str.startswith("Account opened through the ").any()


def test_fallback_phrase_for_features_not_in_dictionary(book, explained, reason_dictionary):
    X, res = explained
    long = reasons.reason_codes(res.values, X, book.catalogue, reason_dictionary, top_k=6)
    mystery = long[long["feature"] == "mystery_score_x"]
    assert not mystery.empty
    first = mystery.iloc[0]
    assert first["text"] == f"High value of mystery score x ({first['value']})"
    assert fallback_text("payment_ratio", 0.2, -1, False) == "Low value of payment ratio (0.2)"
    assert fallback_text("region_code", "north", 0, True) == "Region code: north"
    assert fallback_text("x_6m", float("nan"), 1, False) == "X 6 months not available"


def test_protected_attributes_never_appear(book, explained, reason_dictionary):
    """Even if a protected attribute became a model input, it is filtered out of the reasons."""
    X, res = explained
    plain = reasons.reason_codes(res.values, X, book.catalogue, reason_dictionary, top_k=6)
    assert "utilisation_current" in set(plain["feature"])  # it is a real, frequent reason...
    guarded = dataclasses.replace(
        book.catalogue, protected=["protected__gender", "utilisation_current"]
    )
    long = reasons.reason_codes(res.values, X, guarded, reason_dictionary, top_k=6)
    assert "utilisation_current" not in set(long["feature"])  # ...until it is declared protected
    assert not long["feature"].str.startswith("protected__").any()
    assert not long["text"].str.contains("credit limit").any()
    # the next-best features move up instead: every row with a positive reason feature has reasons
    mask = _reason_mask(X, guarded, reason_dictionary)
    has_pos = (res.values[:, mask] > 0).any(axis=1)
    assert set(long["row"]) == set(np.flatnonzero(has_pos))


@settings(max_examples=40, deadline=None)
@given(
    contribs=st.lists(
        st.lists(st.floats(-5, 5, allow_nan=False), min_size=6, max_size=6), min_size=1, max_size=20
    ),
    protected=st.sets(st.sampled_from(["max_dpd_6m", "channel", "months_on_book"])),
    top_k=st.integers(1, 6),
)
def test_protected_property(book, contribs, protected, top_k):
    """For any contributions, reasons are positive, ranked, at most k and never protected."""
    c = np.asarray(contribs, dtype=np.float32)
    X = book.X.iloc[: len(c)].reset_index(drop=True)
    cat = dataclasses.replace(book.catalogue, protected=sorted(protected))
    d = parse_reason_dictionary({"max_dpd_6m": "late {value:.0f}"})
    long = reasons.reason_codes(c, X, cat, d, top_k=top_k)
    assert not set(long["feature"]) & protected
    assert (long["contribution"] > 0).all()
    assert long.empty or long.groupby("row").size().max() <= top_k


def test_row_wise_use_matches_batch(book, explained, reason_dictionary):
    """The served model calls it on one account: same result as the batch run."""
    X, res = explained
    batch = reasons.reason_codes(res.values, X, book.catalogue, reason_dictionary, top_k=4)
    for i in (0, 5, 17):
        one = reasons.reason_codes(
            res.values[i : i + 1], X.iloc[i : i + 1], book.catalogue, reason_dictionary, top_k=4
        )
        expected = batch[batch["row"] == X.index[i]].reset_index(drop=True)
        pd.testing.assert_frame_equal(one, expected)


def test_wide_helper(book, explained, reason_dictionary):
    X, res = explained
    long = reasons.reason_codes(res.values, X, book.catalogue, reason_dictionary, top_k=4)
    wide = reasons.reasons_wide(long, 4, index=X.index)
    assert list(wide.columns) == ["reason_1", "reason_2", "reason_3", "reason_4"]
    assert len(wide) == len(X)
    r = int(long["row"].iloc[0])
    assert wide.loc[r, "reason_1"] == long[(long["row"] == r) & (long["rank"] == 1)]["text"].iloc[0]
    dist = reasons.reason_distribution(long)
    assert dist["accounts"].sum() == long["row"].nunique()
    assert dist["share"].sum() == pytest.approx(1.0)


def test_shape_mismatch_and_bad_k(book, reason_dictionary):
    cat = Catalogue(features=[FeatureSpec("a", "float")])
    X = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(ValueError, match="does not match"):
        reasons.reason_codes(np.zeros((3, 1)), X, cat, reason_dictionary, top_k=4)
    with pytest.raises(ValueError, match="top_k"):
        reasons.reason_codes(np.zeros((2, 1)), X, cat, reason_dictionary, top_k=0)


def _wide_texts(long: pd.DataFrame, top_k: int, index: pd.Index) -> dict[str, list]:
    """The served model's reading of `reasons_wide`: text, or None where a row has no reason."""
    wide = reasons.reasons_wide(long, top_k, index=index)
    return {c: [None if pd.isna(v) else v for v in wide[c]] for c in wide.columns}


_SHOWN = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 30.0, 0.5, 1e6, float("nan")]),
    st.floats(-100, 100, allow_nan=False),
)


#: Every feature its own adverse family (the repo's dictionary never gives `channel`), with
#: exact-value, missing and sign-showing sentences.
_EVERY_FEATURE_ADVERSE = parse_reason_dictionary(
    {
        "channel": {"text": "Came through {value}", "values": {"web": "Online"}, "missing": "?"},
        "max_dpd_6m": {"text": "Late {value:.0f} days", "values": {0: "Never late"}},
        "utilisation_current": {"text": "Uses {value:.0%}", "missing": "Use unknown"},
        "months_on_book": "{value:+.1f} months",
    }
)


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    n=st.integers(1, 12),
    top_k=st.integers(1, 7),
    min_contribution=st.sampled_from([0.0, 0.0, 0.05]),
    protected=st.sets(st.sampled_from(["mystery_score_x", "channel"])),
    repo_dictionary=st.booleans(),
)
def test_matrix_reasons_equal_reason_codes(
    book, reason_dictionary, data, n, top_k, min_contribution, protected, repo_dictionary
):
    """From the model matrix, the same reason_1..reason_k as `reasons_wide(reason_codes(...))` on
    the model frame, for any contributions and values: NaN, -0.0 beside 0.0, repeated values,
    unseen and missing categories, protected and non-adverse features, ties."""
    from core.catalogue import model_matrix, to_model_frame

    cat = dataclasses.replace(book.catalogue, protected=sorted(protected))
    names = cat.model_columns
    dictionary = reason_dictionary if repo_dictionary else _EVERY_FEATURE_ADVERSE
    raw = {
        f: data.draw(
            st.lists(
                st.sampled_from(["app", "web", "partner", "unseen", None]), min_size=n, max_size=n
            )
            if spec.dtype == "category"
            else st.lists(_SHOWN, min_size=n, max_size=n)
        )
        for f, spec in zip(names, cat.features, strict=True)
    }
    frame = pd.DataFrame({f: pd.Series(v, dtype=object) for f, v in raw.items()})
    X = to_model_frame(frame, cat)
    contribs = np.asarray(
        data.draw(
            st.lists(
                st.lists(
                    st.sampled_from([0.0, 0.3, -0.2]) | st.floats(-2, 2, width=32),
                    min_size=len(names),
                    max_size=len(names),
                ),
                min_size=n,
                max_size=n,
            )
        ),
        dtype=np.float32,
    )
    long = reasons.reason_codes(contribs, X, cat, dictionary, top_k, min_contribution)
    got = reasons.matrix_reasons_wide(
        contribs, model_matrix(X), cat, dictionary, top_k, min_contribution
    )
    assert {c: v.tolist() for c, v in got.items()} == _wide_texts(long, top_k, X.index)
    assert all(v.dtype == object and len(v) == n for v in got.values())


def test_matrix_reasons_on_the_book_and_their_checks(book, explained, reason_dictionary):
    from core.catalogue import model_matrix

    X, res = explained
    layout = reasons.family_layout(list(X.columns), book.catalogue, reason_dictionary)
    long = reasons.reason_codes(res.values, X, book.catalogue, reason_dictionary, top_k=4)
    matrix = model_matrix(X)
    got = reasons.matrix_reasons_wide(
        res.values, matrix, book.catalogue, reason_dictionary, 4, layout=layout
    )
    assert {c: v.tolist() for c, v in got.items()} == _wide_texts(long, 4, X.index)
    assert sum(v is not None for v in got["reason_1"]) > len(X) / 2
    with pytest.raises(ValueError, match="does not match"):
        reasons.matrix_reasons_wide(res.values[:3], matrix, book.catalogue, reason_dictionary, 4)
    with pytest.raises(ValueError, match="top_k"):
        reasons.matrix_reasons_wide(res.values, matrix, book.catalogue, reason_dictionary, 0)
    with pytest.raises(ValueError, match="other columns"):
        reasons.matrix_reasons_wide(
            res.values,
            matrix,
            book.catalogue,
            reason_dictionary,
            4,
            layout=reasons.FamilyLayout(layout.names, layout.codes[:-1]),
        )

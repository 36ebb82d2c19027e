"""Which rows the explain stage explains: the actionable current book and a stratified test sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.explain import treeshap as E


def _frame(seed: int = 3, n_test: int = 5000, n_book: int = 4000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_test + n_book
    split = np.array(["test"] * n_test + ["score"] * n_book)
    rng.shuffle(split)
    pd_ = rng.beta(0.6, 12, n)
    grade = np.select([pd_ < 0.02, pd_ < 0.05, pd_ < 0.1, pd_ < 0.2], list("ABCD"), "E")
    default = pd.array(np.where(split == "test", rng.random(n) < pd_, None), dtype="Int8")
    dpd = np.where(rng.random(n) < 0.1, rng.integers(1, 120, n), 0).astype(np.int16)
    return pd.DataFrame(
        {"split": split, "pd": pd_, "grade": grade, "default": default, "days_past_due": dpd}
    )


def test_actionable_selects_overdue_or_high_pd_book_rows():
    f = _frame()
    sel = E.select_rows(f, "actionable", actionable_min_pd=0.1, test_sample_rows=1000, seed=1)
    book = f["split"] == "score"
    want = book & ((f["days_past_due"] > 0) | (f["pd"] >= 0.1))
    chosen = np.zeros(len(f), bool)
    chosen[sel.positions] = True
    assert (chosen[book.to_numpy()] == want[book].to_numpy()).all()
    assert (np.diff(sel.positions) > 0).all()
    assert len(sel.why) == len(sel.positions)
    why = pd.Series(sel.why, index=sel.positions)
    assert (f.loc[why[why == "overdue"].index, "days_past_due"] > 0).all()
    hi = why[why == "pd_at_least_min"].index
    assert (f.loc[hi, "pd"] >= 0.1).all() and (f.loc[hi, "days_past_due"] == 0).all()
    c = sel.counts
    assert c["score"]["explained"] == int(want.sum())
    assert c["score"]["skipped"] == int(book.sum() - want.sum())
    assert c["score"]["overdue"] == int((book & (f["days_past_due"] > 0)).sum())
    assert c["explained"] == len(sel.positions)


def test_test_sample_size_and_shares():
    f = _frame()
    sel = E.select_rows(f, "actionable", test_sample_rows=1000, seed=1)
    test_pos = sel.positions[f["split"].to_numpy()[sel.positions] == "test"]
    assert len(test_pos) == 1000 == sel.counts["test"]["explained"]
    assert set(sel.why[f["split"].to_numpy()[sel.positions] == "test"]) == {"test_sample"}
    # proportional: each grade x default stratum within one row of its share
    all_test = f[f["split"] == "test"]
    key = all_test["grade"] + all_test["default"].astype(str)
    share = key.value_counts() * (1000 / len(all_test))
    got = (f.loc[test_pos, "grade"] + f.loc[test_pos, "default"].astype(str)).value_counts()
    got = got.reindex(share.index, fill_value=0)
    assert (np.abs(got - share) < 1.0 + 1e-9).all()
    # seeded: same seed, same sample; another seed, another sample
    again = E.select_rows(f, "actionable", test_sample_rows=1000, seed=1)
    np.testing.assert_array_equal(again.positions, sel.positions)
    other = E.select_rows(f, "actionable", test_sample_rows=1000, seed=2)
    assert not np.array_equal(other.positions, sel.positions)


def test_all_mode_and_no_cap_take_everything():
    f = _frame(n_test=300, n_book=400)
    sel = E.select_rows(f, "all", test_sample_rows=None)
    np.testing.assert_array_equal(sel.positions, np.arange(len(f)))
    assert sel.counts["score"]["skipped"] == 0 and sel.counts["test"]["rule"] == "every row"
    assert set(sel.why) == {"all", "test_all"}
    # a cap above the split's size is no sample either
    assert E.select_rows(f, "all", test_sample_rows=10_000).counts["test"]["explained"] == 300


def test_drilldown_rows_are_always_explained():
    f = _frame(n_test=500, n_book=500)
    quiet = np.flatnonzero(
        ((f["split"] == "score") & (f["days_past_due"] == 0) & (f["pd"] < 0.1)).to_numpy()
    )[:3]
    sel = E.select_rows(f, "actionable", test_sample_rows=100, always=quiet)
    assert set(quiet) <= set(sel.positions)
    assert sel.counts["drilldown_extra"] == 3
    assert set(pd.Series(sel.why, index=sel.positions).loc[quiet]) == {"drilldown"}


def test_without_days_past_due_the_pd_rule_alone_applies():
    f = _frame(n_test=200, n_book=800).drop(columns="days_past_due")
    sel = E.select_rows(f, "actionable", actionable_min_pd=0.1, test_sample_rows=100)
    book = sel.positions[f["split"].to_numpy()[sel.positions] == "score"]
    assert (f.loc[book, "pd"] >= 0.1).all()
    assert "not available" in sel.counts["score"]["days_past_due"]


def test_bad_population_is_rejected():
    with pytest.raises(ValueError, match="population"):
        E.select_rows(_frame(n_test=10, n_book=10), "everyone")


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.sampled_from(["a", "b", "c", None]), min_size=0, max_size=300),
    frac=st.floats(0, 1.2),
    seed=st.integers(0, 2**16),
)
def test_stratified_sample_property(labels, frac, seed):
    """Exactly n distinct sorted positions (or all), each stratum within one row of its quota."""
    strata = np.array(labels, dtype=object)
    n = int(frac * len(strata))
    idx = E.stratified_sample(strata, n, seed=seed)
    assert len(idx) == min(n, len(strata))
    assert len(np.unique(idx)) == len(idx) and (np.diff(idx) > 0).all()
    if len(strata) and n < len(strata):
        s = pd.Series(strata, dtype=object).fillna("<na>")
        quota = s.value_counts() * (n / len(strata))
        got = s.iloc[idx].value_counts().reindex(quota.index, fill_value=0)
        assert (np.abs(got - quota) < 1.0 + 1e-9).all()

"""Which rows the explain stage explains: the actionable current book and a stratified test sample."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collection_policy.loader import load_policy, policy_from_dict
from core.config import read_yaml_mapping
from models.explain import selection

POLICY_YAML = Path(__file__).resolve().parents[3] / "configs" / "collection_policy.yaml"


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
    sel = selection.select_rows(
        f, "actionable", actionable_min_pd=0.1, test_sample_rows=1000, seed=1
    )
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
    sel = selection.select_rows(
        f, "actionable", actionable_min_pd=0.1, test_sample_rows=1000, seed=1
    )
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
    again = selection.select_rows(
        f, "actionable", actionable_min_pd=0.1, test_sample_rows=1000, seed=1
    )
    np.testing.assert_array_equal(again.positions, sel.positions)
    other = selection.select_rows(
        f, "actionable", actionable_min_pd=0.1, test_sample_rows=1000, seed=2
    )
    assert not np.array_equal(other.positions, sel.positions)


def test_all_mode_and_no_cap_take_everything():
    f = _frame(n_test=300, n_book=400)
    sel = selection.select_rows(f, "all", actionable_min_pd=0.1, test_sample_rows=None, seed=0)
    np.testing.assert_array_equal(sel.positions, np.arange(len(f)))
    assert sel.counts["score"]["skipped"] == 0 and sel.counts["test"]["rule"] == "every row"
    assert set(sel.why) == {"all", "test_all"}
    # a cap above the split's size is no sample either
    assert (
        selection.select_rows(
            f, "all", actionable_min_pd=0.1, test_sample_rows=10_000, seed=0
        ).counts["test"]["explained"]
        == 300
    )


def test_drilldown_rows_are_always_explained():
    f = _frame(n_test=500, n_book=500)
    quiet = np.flatnonzero(
        ((f["split"] == "score") & (f["days_past_due"] == 0) & (f["pd"] < 0.1)).to_numpy()
    )[:3]
    sel = selection.select_rows(
        f, "actionable", actionable_min_pd=0.1, test_sample_rows=100, seed=0, always=quiet
    )
    assert set(quiet) <= set(sel.positions)
    assert sel.counts["drilldown_extra"] == 3
    assert set(pd.Series(sel.why, index=sel.positions).loc[quiet]) == {"drilldown"}


def test_without_days_past_due_the_pd_rule_alone_applies():
    f = _frame(n_test=200, n_book=800).drop(columns="days_past_due")
    sel = selection.select_rows(
        f, "actionable", actionable_min_pd=0.1, test_sample_rows=100, seed=0
    )
    book = sel.positions[f["split"].to_numpy()[sel.positions] == "score"]
    assert (f.loc[book, "pd"] >= 0.1).all()
    assert "not available" in sel.counts["score"]["days_past_due"]


def test_bad_population_is_rejected():
    with pytest.raises(ValueError, match="population"):
        selection.select_rows(
            _frame(n_test=10, n_book=10),
            "everyone",
            actionable_min_pd=0.1,
            test_sample_rows=None,
            seed=0,
        )


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
    idx = selection.stratified_sample(strata, n, seed=seed)
    assert len(idx) == min(n, len(strata))
    assert len(np.unique(idx)) == len(idx) and (np.diff(idx) > 0).all()
    if len(strata) and n < len(strata):
        s = pd.Series(strata, dtype=object).fillna("<na>")
        quota = s.value_counts() * (n / len(strata))
        got = s.iloc[idx].value_counts().reindex(quota.index, fill_value=0)
        assert (np.abs(got - quota) < 1.0 + 1e-9).all()


# ------------------------------------------------------------------- the policy's contact line
def _policy_with(edit) -> object:
    data = copy.deepcopy(read_yaml_mapping(POLICY_YAML, "policy"))
    rules = {r["name"]: r for r in data["rules"]}
    edit(rules)
    return policy_from_dict(data, source="edited policy")


def test_contact_line_of_the_repo_policy_is_its_pre_due_nudge():
    """The built-in policy nudges a current account from PD 0.10: the old explain.actionable_min_pd."""
    assert selection.lowest_contact_pd(load_policy(POLICY_YAML)) == 0.10


def test_contact_line_follows_the_nudge_rule():
    def move(rules):
        rules["current_low_pd"]["when"]["pd"] = {"lt": 0.2}
        rules["current_high_pd_pre_due_nudge"]["when"]["pd"] = {"gte": 0.2}

    assert selection.lowest_contact_pd(_policy_with(move)) == 0.2

    def open_edge(rules):
        rules["current_low_pd"]["when"]["pd"] = {"lte": 0.15}
        rules["current_high_pd_pre_due_nudge"]["when"]["pd"] = {"gt": 0.15}

    # `pd > 0.15` is explained as `pd >= 0.15`: a superset by the boundary point only
    assert selection.lowest_contact_pd(_policy_with(open_edge)) == 0.15


def test_no_nudge_means_no_current_account_is_actionable():
    def silence(rules):
        rules["current_high_pd_pre_due_nudge"]["channels"] = []

    line = selection.lowest_contact_pd(_policy_with(silence))
    assert math.isinf(line)
    f = _frame(n_test=50, n_book=400)
    sel = selection.select_rows(
        f, "actionable", actionable_min_pd=line, test_sample_rows=None, seed=0
    )
    book = sel.positions[f["split"].to_numpy()[sel.positions] == "score"]
    assert (f.loc[book, "days_past_due"] > 0).all()  # only the overdue accounts are explained


def test_a_contacting_rule_for_every_current_account_means_every_pd():
    def nudge_all(rules):
        rules["current_low_pd"]["channels"] = ["email"]

    assert selection.lowest_contact_pd(_policy_with(nudge_all)) == 0.0


# ---------------------------------------------------------------------------------- drill-down
def test_drilldown_picks_highest_pd_and_both_sides_of_each_grade_boundary():
    f = pd.DataFrame(
        {
            "pd": [0.01, 0.03, 0.04, 0.08, 0.30, 0.50, 0.02],
            "grade": ["A", "B", "B", "C", "E", "E", "A"],
        }
    )
    pick = selection.select_drilldown(f, n_top=2)
    cases = dict(zip(pick.index, pick["case"], strict=True))
    assert cases[5] == cases[4] == "highest PD"
    assert cases[6] == "grade boundary A/B: top of A"
    assert cases[1] == "grade boundary A/B: bottom of B"
    assert cases[2] == "grade boundary B/C: top of B"
    assert cases[3].startswith("grade boundary B/C: bottom of C")
    assert 0 not in cases and len(pick) == len(set(pick.index))


def test_drilldown_leaves_out_accounts_in_default():
    """Grade D (PD 1 by status, no model score) is neither a 'highest PD' case nor a boundary."""
    f = pd.DataFrame({"pd": [0.01, 0.20, 1.0, 1.0, 0.05], "grade": ["1", "2", "D", "D", "1"]})
    pick = selection.select_drilldown(f, n_top=2)
    cases = dict(zip(pick.index, pick["case"], strict=True))
    assert 2 not in cases and 3 not in cases
    assert cases[1] == "highest PD" and cases[4] == "highest PD"
    assert not any("/D" in c for c in cases.values())

"""Reason families: contributions summed within a family, one reason per family, worded from the
family's strongest feature; non-adverse features count in the score but are never reasons; every
reason says what it is compared with (the model's base value)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.catalogue import Catalogue, FeatureSpec, to_model_frame
from core.contracts import REASONS
from models.explain import reasons
from models.explain.reason_dictionary import (
    parse_reason_dictionary,
    reference_note,
    sentence,
)

NON_ADVERSE = {"credit_limit", "income_band", "city_tier", "channel"}


# ------------------------------------------------------------------ pure family aggregation
def test_aggregate_families_sums_and_strongest():
    c = np.array([[0.5, 0.7, -0.1, 0.2, 9.0], [-0.4, 0.1, 0.3, -0.2, 9.0]])
    codes = np.array([0, 0, 1, 1, -1])  # the last column is never a reason
    sums, strongest = reasons.aggregate_families(c, codes)
    np.testing.assert_allclose(sums, [[1.2, 0.1], [-0.3, 0.1]])
    np.testing.assert_array_equal(strongest, [[1, 3], [1, 2]])
    rows, fams, ranks, cols, contrib = reasons.top_families(c, codes, top_k=4)
    # row 0: family 0 (1.2, strongest col 1) then family 1 (0.1, col 3); row 1: family 1 only
    np.testing.assert_array_equal(rows, [0, 0, 1])
    np.testing.assert_array_equal(fams, [0, 1, 1])
    np.testing.assert_array_equal(ranks, [1, 2, 1])
    np.testing.assert_array_equal(cols, [1, 3, 2])
    np.testing.assert_allclose(contrib, [1.2, 0.1, 0.1])
    with pytest.raises(ValueError, match="do not align"):
        reasons.aggregate_families(c, codes[:3])


_ROW = st.integers(2, 12).flatmap(
    lambda p: st.tuples(
        st.lists(st.floats(-3, 3, allow_nan=False), min_size=p, max_size=p),
        st.lists(st.integers(-1, 3), min_size=p, max_size=p),
        st.lists(st.floats(-1, 1, allow_nan=False), min_size=p, max_size=p),
    )
)


@settings(max_examples=300, deadline=None)
@given(row=_ROW, delta=st.floats(0, 0.05))
def test_small_change_away_from_a_tie_never_changes_the_top_reason(row, delta):
    """Move every contribution by at most `delta`: when the top family leads every other family
    (and zero) by more than the largest shift its sums can take, and its strongest feature leads
    the family's other features by more than 2 * delta, the top reason (family and feature, so
    its sentence) is the same."""
    values, codes, unit = (np.asarray(x, dtype=np.float64) for x in row)
    codes = codes.astype(np.int64)
    assume((codes >= 0).any())
    c = values[None, :]
    moved = c + delta * unit[None, :]
    sums, strongest = reasons.aggregate_families(c, codes)
    size = np.bincount(codes[codes >= 0], minlength=sums.shape[1])
    top = int(np.argmax(sums[0]))
    shift = delta * size  # the most a family's sum can move
    others = [sums[0, f] + shift[f] for f in range(sums.shape[1]) if f != top and size[f]]
    assume(sums[0, top] - shift[top] > max([0.0, *others]) + 1e-9)
    members = np.flatnonzero(codes == top)
    best = values[strongest[0, top]]
    rest = [values[j] for j in members if j != strongest[0, top]]
    assume(all(best - v > 2 * delta + 1e-9 for v in rest))

    before = reasons.top_families(c, codes, top_k=1)
    after = reasons.top_families(moved, codes, top_k=1)
    assert before[1].tolist() == after[1].tolist() == [top]  # family
    assert before[3].tolist() == after[3].tolist()  # strongest feature


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(1, 6).flatmap(
        lambda n: st.lists(
            st.lists(st.floats(-2, 2, allow_nan=False), min_size=7, max_size=7),
            min_size=n,
            max_size=n,
        )
    ),
    codes=st.lists(st.integers(-1, 3), min_size=7, max_size=7),
    top_k=st.integers(1, 5),
)
def test_family_reasons_are_distinct_positive_and_worded_from_the_strongest(rows, codes, top_k):
    c = np.asarray(rows, dtype=np.float64)
    codes_a = np.asarray(codes, dtype=np.int64)
    r, fams, ranks, cols, contrib = reasons.top_families(c, codes_a, top_k)
    assert (contrib > 0).all()
    assert (codes_a[cols] == fams).all()  # the feature worded belongs to the family
    for i in np.unique(r):
        sel = r == i
        assert len(set(fams[sel])) == sel.sum() <= top_k  # one reason per family
        assert (np.diff(contrib[sel]) <= 0).all()
        assert ranks[sel].tolist() == list(range(1, sel.sum() + 1))
        for f, j, s in zip(fams[sel], cols[sel], contrib[sel], strict=True):
            members = codes_a == f
            assert s == pytest.approx(c[i, members].sum())
            assert c[i, j] == c[i, members].max()
    # a row left out had no family with a positive sum
    for i in set(range(len(c))) - set(r.tolist()):
        sums = [c[i, codes_a == f].sum() for f in set(codes) - {-1}]
        assert all(s <= 0 for s in sums)


# --------------------------------------------------- a trained model with multi-feature families
def family_catalogue() -> Catalogue:
    return Catalogue(
        features=[
            FeatureSpec("max_dpd_6m", "float", "Max DPD, 6 months.", [], 1),
            FeatureSpec("late_payments_6m", "float", "Late payments, 6 months.", [], 1),
            FeatureSpec("late_payments_12m", "float", "Late payments, 12 months.", [], 1),
            FeatureSpec("utilisation_current", "float", "Balance / limit.", [], 1),
            FeatureSpec("utilisation_max_6m", "float", "Max balance / limit.", [], 1),
            FeatureSpec("payment_ratio_min_mean_3m", "float", "Paid / min due.", [], -1),
            FeatureSpec("months_on_book", "float", "Tenure.", [], -1),
            FeatureSpec("credit_limit", "float", "Credit limit.", [], -1),
            FeatureSpec("city_tier", "float", "City tier.", [], 0),
            FeatureSpec(
                "income_band", "category", "Declared income.", [], 0, ["low", "mid", "high"]
            ),
        ],
        protected=["protected__gender"],
        policy_columns=["policy__days_past_due"],
    )


def make_family_book(n: int = 3000, seed: int = 11) -> pd.DataFrame:
    """Delinquency and utilisation measured several ways; limit, income and city drive risk."""
    rng = np.random.default_rng(seed)
    late12 = rng.poisson(np.where(rng.random(n) < 0.7, 0.2, 3.0)).astype(float)
    late6 = np.minimum(late12, rng.binomial(late12.astype(int), 0.6)).astype(float)
    dpd = np.where(late6 > 0, rng.choice([5, 15, 30, 60], n), 0).astype(float)
    util = rng.uniform(0, 1.1, n)
    util_max = np.minimum(util + rng.uniform(0, 0.3, n), 1.3)
    pay = rng.gamma(2.0, 0.6, n)
    mob = rng.integers(1, 60, n).astype(float)
    limit = rng.choice([2000.0, 5000.0, 10000.0, 30000.0], n)
    city = rng.integers(1, 5, n).astype(float)
    income = rng.choice(["low", "mid", "high"], n, p=[0.3, 0.5, 0.2])
    logit = (
        -3.5
        + 0.02 * dpd
        + 0.35 * late6
        + 0.2 * late12
        + 1.2 * util
        + 1.0 * util_max
        - 0.5 * np.minimum(pay, 2.0)
        - 0.01 * mob
        - 0.6 * np.log(limit / 5000)
        + 0.3 * city
        + np.where(income == "low", 0.8, 0.0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int8")
    split = rng.choice(["train", "test", "score"], n, p=[0.6, 0.2, 0.2])
    obs = np.where(split == "score", np.datetime64("2025-01-01"), np.datetime64("2024-07-01"))
    return pd.DataFrame(
        {
            "account_id": np.arange(200_000, 200_000 + n, dtype=np.int64),
            "observation_date": pd.to_datetime(obs),
            "default": pd.array(np.where(split == "score", None, y), dtype="Int8"),
            "split": pd.array(split, dtype="str"),
            "max_dpd_6m": dpd,
            "late_payments_6m": late6,
            "late_payments_12m": late12,
            "utilisation_current": util,
            "utilisation_max_6m": util_max,
            "payment_ratio_min_mean_3m": pay,
            "months_on_book": mob,
            "credit_limit": limit,
            "city_tier": city,
            "income_band": pd.Categorical(income, categories=["low", "mid", "high"]),
            "protected__gender": pd.array(rng.choice(["f", "m"], n), dtype="str"),
            "policy__days_past_due": dpd.astype(np.int16),
        }
    )


@pytest.fixture(scope="module")
def family_run(tmp_path_factory, helpers, explain_config):
    """The explain stage on a book whose families have several features (tiny model)."""
    from pipelines.explain import run as run_explain

    root = tmp_path_factory.mktemp("family_book")
    df = make_family_book()
    catalogue = family_catalogue()
    X = to_model_frame(df, catalogue)
    train = (df["split"] == "train").to_numpy()
    booster = helpers.train_booster(X[train], df.loc[train, "default"].astype(int).to_numpy())
    helpers.write_book(root, df, catalogue, booster)
    paths = helpers.stage_paths(root)
    summary = run_explain(paths, explain_config, progress=False)
    return paths, summary, df, catalogue, X, booster


def test_stage_gives_one_reason_per_family_and_no_non_adverse_feature(
    family_run, reason_dictionary
):
    paths, summary, *_ = family_run
    out = REASONS.read(paths.explanations_dir / REASONS.file, stage="explain")
    assert list(out.columns) == [c.name for c in REASONS.schema.columns]  # contract unchanged
    assert not out.empty
    out["family"] = out["feature"].map(reason_dictionary.family_of)
    per_account = out.groupby(["account_id", "observation_date"])["family"]
    assert (per_account.nunique() == per_account.size()).all()
    assert not set(out["feature"]) & NON_ADVERSE
    assert not out["text"].str.contains("Credit limit of|declared income|tier", case=False).any()
    assert (out["contribution"] > 0).all()
    s = summary["reasons"]
    assert s["accounts_with_two_reasons_from_one_family"] == 0
    assert set(s["never_reasons"]) == {"credit_limit", "city_tier", "income_band"}
    ref = s["compared_with"]
    assert ref["base_pd"] == pytest.approx(1 / (1 + math.exp(-ref["base_value_log_odds"])))
    assert f"{ref['base_value_log_odds']:.2f}" in ref["text"]
    assert "trained on" in ref["text"]


def test_families_change_what_the_old_ranking_would_give(family_run, reason_dictionary):
    """Per-feature ranking gives some accounts two reasons from one family and cites
    non-adverse features; the family ranking never does, and its contribution is the sum."""
    from models.explain.treeshap import shap_values

    _, _, df, catalogue, X, booster = family_run
    score = (df["split"] == "score").to_numpy()
    Xs = X[score].reset_index(drop=True)
    res = shap_values(booster, Xs, progress=False)
    names = list(Xs.columns)
    fam = [reason_dictionary.family_of(f) for f in names]
    rows, cols, _ = reasons.top_positive(
        res.values, reasons.eligible_features(names, catalogue), top_k=4
    )
    old = pd.DataFrame({"row": rows, "family": np.asarray(fam, dtype=object)[cols]})
    old["feature"] = np.asarray(names, dtype=object)[cols]
    g = old.groupby("row")["family"]
    assert (g.nunique() < g.size()).any()  # the problem the families fix...
    assert old["feature"].isin(NON_ADVERSE).any()  # ...and the lender's decisions as reasons

    new = reasons.reason_codes(res.values, Xs, catalogue, reason_dictionary, top_k=4)
    g = new.groupby("row")["family"]
    assert (g.nunique() == g.size()).all()
    assert not new["feature"].isin(NON_ADVERSE).any()
    for _, r in new.sample(50, random_state=0).iterrows():
        members = [j for j, f in enumerate(fam) if f == r["family"]]
        assert r["contribution"] == pytest.approx(res.values[r["row"], members].sum(), rel=1e-6)
        strongest = names[members[int(np.argmax(res.values[r["row"], members]))]]
        assert r["feature"] == strongest
        assert r["text"] == sentence(
            strongest,
            Xs.loc[r["row"], strongest],
            reason_dictionary,
            catalogue.spec(strongest).direction,
            catalogue.spec(strongest).dtype == "category",
        )
    # a layout built once gives the same table (the served model can cache it)
    layout = reasons.family_layout(names, catalogue, reason_dictionary)
    pd.testing.assert_frame_equal(
        new, reasons.reason_codes(res.values, Xs, catalogue, reason_dictionary, 4, layout=layout)
    )


def test_report_says_what_a_reason_is_compared_with(family_run):
    paths, summary, *_ = family_run
    page = (paths.report_dir / "report.html").read_text()
    assert "PIPL" in page
    assert "ECOA" not in page and "Regulation B" not in page
    assert "trained on" in page
    assert f"{summary['reasons']['compared_with']['base_value_log_odds']:.2f}" in page


def test_reference_note_and_adverse_flags():
    d = parse_reason_dictionary(
        {
            "reference": "Compared with {base_value:.1f} ({base_pd:.1%})",
            "families": {
                "delinquency": {
                    "label": "Delinquency",
                    "features": {
                        "max_dpd_{w}m": "late {value:.0f}",
                        "dpd_current": {"text": "now {value:.0f}", "adverse": False},
                    },
                },
                "limit": {
                    "label": "Limit",
                    "adverse": False,
                    "features": {"credit_limit": "CNY {value:,.0f}"},
                },
            },
        }
    )
    assert reference_note(d, 0.0) == "Compared with 0.0 (50.0%)"
    assert d.family_of("max_dpd_12m") == "delinquency"
    assert d.adverse("max_dpd_12m") and not d.adverse("dpd_current")
    assert not d.adverse("credit_limit")
    assert d.adverse("unknown_feature") and d.family_of("unknown_feature") is None
    cat = Catalogue(
        features=[
            FeatureSpec(n, "float")
            for n in ("max_dpd_6m", "dpd_current", "credit_limit", "mystery", "max_dpd_12m")
        ]
    )
    layout = reasons.family_layout(cat.model_columns, cat, d)
    assert layout.names == ("delinquency", "mystery")  # an unknown feature is its own family
    assert layout.codes.tolist() == [0, -1, -1, 1, 0]
    default = parse_reason_dictionary({"max_dpd_6m": {"text": "x", "family": "d"}})
    assert "trained on" in reference_note(default, -5.3)
    assert "0.50%" in reference_note(default, -5.3)

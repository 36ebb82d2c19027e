"""The validation document on a small synthetic book whose true PD is known."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from core.catalogue import Catalogue, FeatureSpec
from models.metrics import DPD_SEGMENTS
from models.scaling import DEFAULT_GRADE, MasterScale, ScoreScaling
from models.validation.validation_doc import (
    ModelCard,
    ValidationConfig,
    ValidationResult,
    run_validate,
)

SCALE = MasterScale(("1", "2", "3", "4", "5"), (0.02, 0.05, 0.1, 0.2, 1.0))
GRADES = list(SCALE.names)
SCALING = ScoreScaling(base_points=600.0, base_odds=50.0, pdo=20.0)
CHANNELS = ["app", "web", "partner"]
#: (split, observation date, rows)
LAYOUT = (
    ("train", "2025-01-01", 2500),
    ("train", "2025-04-01", 2500),
    ("validation", "2025-07-01", 3000),
    ("test", "2025-10-01", 2500),
    ("test", "2026-01-01", 2500),
    ("score", "2026-04-01", 2000),
)
LABEL = "90+ DPD within 6 months"


def make_catalogue() -> Catalogue:
    return Catalogue(
        features=[
            FeatureSpec("utilisation", "float", "balance / limit", direction=1),
            FeatureSpec("payment_ratio", "float", "paid / due", direction=-1),
            FeatureSpec("noise", "float", "irrelevant", direction=0),
            FeatureSpec("channel", "category", "acquisition channel", categories=CHANNELS),
        ],
        policy_columns=["policy__days_past_due"],
    )


def make_book(
    seed: int = 0, hidden_weight: float = 1.5, n_defaulted: int = 30
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(features, scores, true PD indexed like scores) of a book scored by its true PD.

    The true PD leans on a `hidden` driver the feature table does not carry, so the "model"
    (the true PD itself) ranks better than any scorecard on the features can. A few current-book
    rows are in default (grade D), and a handful of test rows sit in the 61-89 DPD segment with
    no default (a one-class segment: no AUC).
    """
    rng = np.random.default_rng(seed)
    split = np.concatenate([[s] * n for s, _, n in LAYOUT])
    dates = pd.to_datetime(np.concatenate([[d] * n for _, d, n in LAYOUT]))
    n = split.size
    ids = rng.permutation(np.arange(1_000_000, 1_000_000 + n))
    util = rng.beta(2, 3, n)
    pay = rng.beta(4, 2, n)
    noise = rng.normal(size=n)
    hidden = rng.normal(size=n)
    channel = rng.choice(CHANNELS, n, p=[0.5, 0.3, 0.2])
    effect = pd.Series(channel).map({"app": 0.0, "web": 0.2, "partner": 0.6}).to_numpy()
    logit = -3.2 + 2.5 * util - 1.5 * pay + effect + hidden_weight * hidden
    true_pd = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(n) < true_pd).astype("float64")
    dpd = np.where(rng.random(n) < 0.9, 0, rng.integers(1, 61, n))
    test_rows = np.flatnonzero(split == "test")
    one_class = test_rows[:8]
    dpd[one_class] = 70
    y[one_class] = 0.0
    y[split == "score"] = np.nan
    defaulted = np.r_[np.flatnonzero(split == "score")[:n_defaulted], test_rows[-3:]]
    dpd[defaulted] = 95
    y[test_rows[-3:]] = 1.0  # labelled rows already in default: left out of every sample

    features = pd.DataFrame(
        {
            "account_id": ids,
            "observation_date": dates,
            "default": y,
            "split": split,
            "utilisation": util.astype("float32"),
            "payment_ratio": pay.astype("float32"),
            "noise": noise.astype("float32"),
            "channel": pd.Categorical(channel, categories=CHANNELS),
            "policy__days_past_due": dpd.astype("int32"),
        }
    )
    pd_ = true_pd.copy()
    grade = SCALE.assign(pd_).astype(object)
    pd_[defaulted], grade[defaulted] = 1.0, DEFAULT_GRADE
    score = np.full(n, np.nan)
    ok = grade != DEFAULT_GRADE
    score[ok] = SCALING.points(pd_[ok])
    # the train stage's record of the validation cut: a third of the accounts fitted the calibrator
    in_valid = split == "validation"
    every_third = np.cumsum(in_valid) % 3 == 0
    sample = np.where(in_valid, np.where(every_third, "calibration", "early_stopping"), split)
    scores = pd.DataFrame(
        {
            "account_id": ids,
            "observation_date": dates,
            "split": split,
            "sample": pd.Categorical(sample),
            "default": pd.array(y, dtype="Float64").astype("Int8"),
            "raw_score": np.where(ok, logit, np.nan),
            "pd": pd_,
            "score": score,
            "grade": grade.astype(str),
        }
    )
    return features, scores, pd.Series(true_pd, index=scores.index, name="true_pd")


def regraded(scores: pd.DataFrame, factor: float) -> pd.DataFrame:
    """The scores with every performing PD times `factor`, points and grades redone."""
    out = scores.copy()
    ok = out["grade"] != DEFAULT_GRADE
    new_pd = out.loc[ok, "pd"].to_numpy() * factor
    out.loc[ok, "pd"] = new_pd
    out.loc[ok, "score"] = SCALING.points(new_pd)
    out.loc[ok, "grade"] = SCALE.assign(new_pd).astype(str)
    return out


CONFIG = ValidationConfig(seed=3, ks_bootstrap=50)


def run(features, scores, **kwargs) -> ValidationResult:
    return run_validate(
        features,
        scores,
        make_catalogue(),
        GRADES,
        SCALING,
        kwargs.pop("config", CONFIG),
        kwargs.pop("promotion", None),
        label_definition=LABEL,
        **kwargs,
    )


@pytest.fixture(scope="module")
def book() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    return make_book()


@pytest.fixture(scope="module")
def result(book) -> ValidationResult:
    features, scores, truth = book
    shuffled = features.sample(frac=1.0, random_state=1)  # rows matched by key, not position
    return run(shuffled, scores, true_pd=truth, rejected_rows=4)


# ---------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"level": 1.2}, "level"),
        ({"red": 0.05, "amber": 0.01}, "red < amber"),
        ({"hl_groups": 2}, "hl_groups"),
        ({"ks_bootstrap": 0}, "ks_bootstrap"),
        ({"scorecard_max_bins": 1}, "scorecard_max_bins"),
        ({"scorecard_min_bin_size": 0.6}, "scorecard_min_bin_size"),
        ({"scorecard_max_fit_rows": 10}, "scorecard_max_fit_rows"),
    ],
)
def test_config_rejects_bad_values(change, message) -> None:
    with pytest.raises(ValueError, match=message):
        replace(CONFIG, **change)


def test_model_card_rejects_empty_text() -> None:
    with pytest.raises(ValueError, match="purpose"):
        ModelCard(purpose=" ")
    with pytest.raises(ValueError, match="limitations"):
        ModelCard(limitations="one string, not a list")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- document
def test_doc_is_strict_json_with_every_block(result) -> None:
    doc = result.doc
    json.dumps(doc, allow_nan=False)
    for key in (
        "samples",
        "model_card",
        "auc_ci",
        "discrimination",
        "calibration_by_grade",
        "calibration_by_period",
        "calibration_holdout",
        "hosmer_lemeshow",
        "hosmer_lemeshow_by_sample",
        "calibration_summary",
        "oracle",
        "stability",
        "scorecard",
        "vs_scorecard",
        "gate",
        "findings",
    ):
        assert key in doc, key
    assert doc["gate"] is None
    low, high = doc["auc_ci"]
    t = doc["discrimination"]["test"]
    assert low == t["auc_low"] < t["auc"] < t["auc_high"] == high
    assert t["gini"] == pytest.approx(2 * t["auc"] - 1)
    assert t["ks_low"] <= t["ks"] <= t["ks_high"]
    assert set(doc["hosmer_lemeshow"]) == {"statistic", "df", "p"}


def test_samples_are_the_ones_training_recorded(book, result) -> None:
    """The hold-out and the calibration sample are the scores' `sample` record, not a new cut."""
    _, scores, _ = book
    s = result.doc["samples"]
    recorded = scores.loc[scores["split"] == "validation", "sample"].value_counts()
    assert s["holdout"]["n"] == recorded["early_stopping"] == 2000
    assert s["calibration"]["n"] == recorded["calibration"] == 1000
    assert s["test"]["n"] == 5000 - 3 and s["test"]["periods"] == ["2025-10", "2026-01"]
    assert s["score"]["n"] == 2000 - 30 and s["excluded_in_default"] == 33
    card = result.doc["model_card"]
    assert card["label_definition"] == LABEL
    by_split = card["exclusions"]["in_default_at_snapshot"]["by_split"]
    assert by_split == {"train": 0, "validation": 0, "test": 3, "score": 30}
    assert card["data"]["labelled_rows_by_split"]["test"] == 5000 - 3
    assert card["exclusions"]["rejected_at_ingest"] == 4
    splits = {"train": 5000, "validation": 3000, "test": 5000, "score": 2000}
    assert card["data"]["rows_by_split"] == splits
    assert card["purpose"] == ModelCard().purpose


def test_segments_and_periods(result) -> None:
    disc = result.doc["discrimination"]
    assert list(disc["segments"]) == [name for name, _, _ in DPD_SEGMENTS]
    one_class = disc["segments"]["dpd_61_89"]
    assert one_class["n"] == 8 and one_class["defaults"] == 0 and one_class["auc"] is None
    current = disc["segments"]["not_past_due"]
    assert current["auc_low"] < current["auc"] < current["auc_high"]
    assert list(disc["periods"]) == ["2025-10", "2026-01"]
    assert sum(p["n"] for p in disc["periods"].values()) == disc["test"]["n"]


def test_calibration_rows_per_grade_and_period(result) -> None:
    doc = result.doc
    rows = doc["calibration_by_grade"]
    assert [r["grade"] for r in rows] == GRADES
    assert sum(r["n"] for r in rows) == doc["samples"]["test"]["n"]
    for r in rows:
        assert {"grade", "n", "defaults", "mean_pd", "observed_rate", "binomial_p"} <= set(r)
        assert {"jeffreys_p", "light", "expected", "oe_ratio", "oe_low", "oe_high"} <= set(r)
    assert list(doc["calibration_by_period"]) == ["2025-10", "2026-01"]
    assert sum(r["n"] for r in doc["calibration_holdout"]) == doc["samples"]["holdout"]["n"]
    summary = doc["calibration_summary"]
    assert set(summary) == {"test", "holdout", "calibration", "periods"}
    for s in (summary["test"], *summary["periods"].values()):
        assert s["red"] + s["amber"] + s["green"] + s["n/a"] == len(GRADES)
        assert s["oe_low"] <= s["oe_ratio"] <= s["oe_high"]
    hl = doc["hosmer_lemeshow_by_sample"]
    assert set(hl["periods"]) == {"2025-10", "2026-01"} and hl["test"] == doc["hosmer_lemeshow"]


def test_calibrated_model_passes_and_halved_pd_goes_red(book, result) -> None:
    doc = result.doc
    assert all(r["light"] != "red" for r in doc["calibration_by_grade"])
    assert doc["hosmer_lemeshow"]["p"] > 0.05
    assert (
        doc["calibration_summary"]["test"]["oe_low"]
        < 1
        < doc["calibration_summary"]["test"]["oe_high"]
    )
    features, scores, _ = book
    halved = run(features, regraded(scores, 0.5)).doc
    assert halved["calibration_summary"]["test"]["red"] >= 3
    assert halved["calibration_summary"]["holdout"]["red"] >= 1
    assert halved["hosmer_lemeshow"]["p"] < 1e-6
    assert halved["calibration_summary"]["test"]["oe_low"] > 1.5


def test_oracle_only_with_true_pd(book, result) -> None:
    features, scores, truth = book
    oracle = result.doc["oracle"]
    assert oracle["n"] == result.doc["samples"]["test"]["n"]
    assert [r["grade"] for r in oracle["calibration_by_grade"]] == GRADES
    assert set(oracle["periods"]) == {"2025-10", "2026-01"}
    low, auc, high = (oracle["discrimination"][k] for k in ("auc_low", "auc", "auc_high"))
    assert low < auc < high and auc == oracle["auc"]
    paired = oracle["model_vs_oracle"]
    assert paired["diff"] == pytest.approx(paired["auc_a"] - paired["auc_b"])
    assert paired["auc_b"] == pytest.approx(auc) and 0 <= paired["p_value"] <= 1
    # A model whose PD is halved fails while the truth on the same rows passes.
    halved = run(features, regraded(scores, 0.5), true_pd=truth).doc
    assert halved["oracle"]["summary"]["red"] == 0
    assert halved["calibration_summary"]["test"]["red"] > 0
    assert not any("not a mis-fitted model" in f for f in halved["findings"])  # holdout red too
    # Only the out-of-time PDs too low (a shift of the period): the findings say so.
    shifted = regraded(scores, 0.5)
    kept = shifted["split"] != "test"
    shifted[kept] = scores[kept]
    period = run(features, shifted, true_pd=truth).doc
    assert period["calibration_summary"]["holdout"]["red"] == 0
    assert period["calibration_summary"]["test"]["red"] > 0
    assert any("not a mis-fitted model" in f for f in period["findings"])
    # The TRUE_PD table works as well as a Series, and gives the same numbers.
    table = scores[["account_id", "observation_date"]].assign(true_pd=truth.to_numpy())
    from_table = run(features, scores, true_pd=table.sample(frac=1.0, random_state=2)).doc
    assert from_table["oracle"] == oracle
    without = run(features, scores).doc
    assert without["oracle"] is None


def test_oracle_needs_every_test_row(book) -> None:
    features, scores, truth = book
    with pytest.raises(ValueError, match="lacks 1 of"):
        run(features, scores, true_pd=truth.drop(index=scores.index[scores.split == "test"][0]))


def test_scorecard_benchmark_loses_to_a_better_model(result) -> None:
    vs = result.doc["vs_scorecard"]
    assert vs["auc_gbm"] > vs["auc_scorecard"] + 0.03
    assert vs["p"] < 1e-4 and vs["low"] > 0
    sc = result.doc["scorecard"]
    assert 1 <= sc["variables_selected"] <= 4 and sc["variables_offered"] == 4
    assert sc["test"]["auc"] == pytest.approx(vs["auc_scorecard"])
    assert sc["iv"][0]["variable"] in {"utilisation", "payment_ratio", "channel"}
    bins = result.binning_table
    assert {"variable", "bin", "count", "event_rate", "woe", "iv", "points"} <= set(bins.columns)
    assert set(bins["variable"]) == set(sc["selected"])


def test_scorecard_even_with_a_model_no_better() -> None:
    """Without the hidden driver the scorecard sees all the risk: no significant gap."""
    features, scores, _ = make_book(seed=5, hidden_weight=0.0)
    vs = run(features, scores).doc["vs_scorecard"]
    assert abs(vs["diff"]) < 0.02 and vs["p"] > 0.001


def test_stability_psi_small_for_same_distribution_large_for_shift(book, result) -> None:
    st = result.doc["stability"]
    assert st["reference"] == "holdout"
    assert set(st["psi"]) == {"2025-10", "2026-01", "test", "score"}
    assert all(v < 0.05 for v in st["psi"].values())
    assert set(st["status"].values()) == {"stable"}
    features, scores, _ = book
    shifted = scores.copy()
    moved = (shifted["split"] == "test") & (shifted["grade"] != DEFAULT_GRADE)
    shifted.loc[moved, "score"] = shifted.loc[moved, "score"] - 40.0
    psi = run(features, shifted).doc["stability"]["psi"]
    assert psi["test"] > 0.25 and psi["score"] < 0.05


def test_gate_is_passed_through(book) -> None:
    features, scores, _ = book
    gate = {"promote": False, "reasons": ["FAIL: test AUC 0.5 < floor 0.6"]}
    assert run(features, scores, promotion=gate).doc["gate"] == gate


def test_rows_without_features_are_an_error(book) -> None:
    features, scores, _ = book
    test_key = scores.loc[scores["split"] == "test", "account_id"].iloc[0]
    with pytest.raises(ValueError, match="no feature row"):
        run(features[features["account_id"] != test_key], scores)


def test_label_definition_and_grades_are_checked(book) -> None:
    features, scores, _ = book
    with pytest.raises(ValueError, match="label_definition"):
        run_validate(
            features, scores, make_catalogue(), GRADES, SCALING, CONFIG, label_definition=""
        )
    with pytest.raises(ValueError, match="grade_order"):
        run_validate(
            features,
            scores,
            make_catalogue(),
            [*GRADES, DEFAULT_GRADE],
            SCALING,
            CONFIG,
            label_definition=LABEL,
        )


def test_a_sample_outside_its_split_or_no_sample_column_stops_the_report(book) -> None:
    from core.errors import DataValidationError

    features, scores, _ = book
    wrong = scores.copy()
    row = int(np.flatnonzero(wrong["split"].eq("test").to_numpy())[0])
    wrong["sample"] = wrong["sample"].astype(str)
    wrong.loc[row, "sample"] = "calibration"
    with pytest.raises(DataValidationError, match=rf"row {row}.*not a part of split 'test'"):
        run(features, wrong)
    with pytest.raises(ValueError, match=r"scores lacks the column\(s\) \['sample'\]"):
        run(features, scores.drop(columns="sample"))

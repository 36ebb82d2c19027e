"""The statistical promotion gate (pure): floor, non-inferiority, calibration, stability, modes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from models.gate import (
    AWAITING_APPROVAL,
    PROMOTED,
    REJECTED,
    ChampionEvidence,
    GateConfig,
    GateEvidence,
    decide_promotion,
)
from models.scaling import MasterScale, ScoreScaling

GATE = GateConfig(
    mode="auto",
    min_auc=0.6,
    margin=0.005,
    level=0.95,
    calibration_sample="holdout",
    red=0.01,
    max_psi=0.25,
    allow_feature_set_change=False,
    vs_baseline_margin=0.0,
)
SCALE = MasterScale(("1", "2", "3", "4"), (0.01, 0.03, 0.1, 1.0))
POINTS = ScoreScaling(600, 50, 20)


def _book(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from a known PD: a calibrated, discriminating model."""
    rng = np.random.default_rng(seed)
    true_pd = 1 / (1 + np.exp(-(rng.normal(-3.5, 1.2, n))))
    return (rng.random(n) < true_pd).astype("int8"), true_pd


def evidence(
    n: int = 20_000, seed: int = 0, pd_factor: float = 1.0, noise: float = 0.0
) -> GateEvidence:
    """The challenger's evidence; `pd_factor` mis-calibrates it, `noise` blurs its ranking."""
    y, true_pd = _book(n, seed)
    rng = np.random.default_rng(seed + 1)
    logit = np.log(true_pd / (1 - true_pd)) + rng.normal(0, noise, n) if noise else None
    pd_test = true_pd if logit is None else 1 / (1 + np.exp(-logit))
    y_cal, pd_cal = _book(n // 2, seed + 2)
    pd_cal = np.clip(pd_cal * pd_factor, 1e-6, 1 - 1e-6)
    return GateEvidence(
        test_y=y,
        test_pd=pd_test,
        test_score=POINTS.points(pd_test),
        calibration_y=y_cal,
        calibration_pd=pd_cal,
        calibration_grade=SCALE.assign(pd_cal),
        reference_score=POINTS.points(_book(n // 2, seed + 3)[1]),
        grade_order=list(SCALE.names),
    )


def _check(decision, name):
    return next(c for c in decision.checks if c["check"] == name)


def test_first_version_meets_the_floor_and_is_promoted():
    d = decide_promotion(evidence(), None, GATE)
    assert d.passed and d.status == PROMOTED and d.promote
    assert _check(d, "non_inferiority")["passed"] is None  # INFO: no champion
    assert d.challenger["low"] < d.challenger["auc"] < d.challenger["high"]
    json.dumps(d.to_dict(), allow_nan=False)  # promotion.json is strict JSON


def test_floor_refuses_a_weak_first_version():
    d = decide_promotion(evidence(), None, replace(GATE, min_auc=0.99))
    assert d.status == REJECTED and not _check(d, "floor")["passed"]


def test_same_model_as_champion_is_non_inferior():
    ev = evidence()
    d = decide_promotion(ev, ChampionEvidence("1", ev.test_pd.copy()), GATE)
    assert d.promote and _check(d, "non_inferiority")["passed"] is True
    assert d.champion == {"version": "1", "auc": pytest.approx(d.challenger["auc"])}


def test_clearly_worse_challenger_is_refused_with_the_test_numbers():
    champion = evidence()
    worse = evidence(noise=1.5)  # same rows and labels, blurred ranking
    d = decide_promotion(worse, ChampionEvidence("1", champion.test_pd), GATE)
    check = _check(d, "non_inferiority")
    assert d.status == REJECTED and check["passed"] is False
    assert check["diff"] < -0.02 and check["p"] > 0.5 and check["low"] < -GATE.margin
    assert any(r.startswith("FAIL: paired DeLong") for r in d.reasons)


def test_slightly_worse_but_within_margin_passes_on_a_large_sample():
    champion = evidence(n=200_000)
    near = evidence(n=200_000, noise=0.05)
    d = decide_promotion(near, ChampionEvidence("1", champion.test_pd), GATE)
    check = _check(d, "non_inferiority")
    assert -GATE.margin < check["diff"] < 0 and check["passed"] is True


def test_champion_that_cannot_score_refuses_unless_params_allow():
    lost = ChampionEvidence("4", None, error="feature 'x' is missing")
    refused = decide_promotion(evidence(), lost, GATE)
    assert refused.status == REJECTED
    assert "allow_feature_set_change" in _check(refused, "non_inferiority")["detail"]
    allowed = decide_promotion(evidence(), lost, replace(GATE, allow_feature_set_change=True))
    assert allowed.promote and _check(allowed, "non_inferiority")["passed"] is True


def test_a_red_grade_on_the_calibration_sample_refuses():
    d = decide_promotion(evidence(pd_factor=0.5), None, GATE)  # PD halved: defaults > expected
    check = _check(d, "calibration")
    assert d.status == REJECTED and check["passed"] is False and check["red_grades"]
    assert {g["grade"] for g in check["grades"]} <= set(SCALE.names)


def test_score_shift_against_the_development_reference_refuses():
    ev = evidence()
    shifted = replace(ev, test_score=ev.test_score - 60)  # three doublings of the odds
    d = decide_promotion(shifted, None, GATE)
    assert d.status == REJECTED and _check(d, "stability")["psi"] > GATE.max_psi


def test_approval_mode_keeps_a_passing_challenger_waiting():
    d = decide_promotion(evidence(), None, replace(GATE, mode="approval"))
    assert d.passed and d.status == AWAITING_APPROVAL and not d.promote
    assert d.to_dict()["promote"] is False


@pytest.mark.parametrize(
    "change,match",
    [
        ({"mode": "manual"}, "mode"),
        ({"calibration_sample": "train"}, "calibration_sample"),
        ({"level": 0.4}, "level"),
        ({"red": 0.05}, "red"),
        ({"margin": -0.1}, "margin"),
        ({"vs_baseline_margin": -0.01}, "vs_baseline_margin"),
    ],
)
def test_config_rules(change, match):
    with pytest.raises(ValueError, match=match):
        replace(GATE, **change)


def _blurred(ev: GateEvidence, noise: float, seed: int) -> np.ndarray:
    """The evidence's test PD with its ranking blurred by `noise` on the logit scale."""
    logit = np.log(ev.test_pd / (1 - ev.test_pd))
    return 1 / (1 + np.exp(-(logit + np.random.default_rng(seed).normal(0, noise, logit.size))))


def test_model_significantly_worse_than_its_baseline_is_refused():
    ev = evidence()
    worse = replace(ev, test_pd=_blurred(ev, 1.5, 7), baseline_pd=ev.test_pd)
    d = decide_promotion(worse, None, GATE)
    check = _check(d, "vs_baseline")
    assert d.status == REJECTED and check["passed"] is False
    assert check["auc_model"] < check["auc_baseline"] and check["high"] < 0
    assert "own logistic baseline" in check["detail"]
    json.dumps(d.to_dict(), allow_nan=False)


def test_model_level_with_or_better_than_its_baseline_passes():
    ev = evidence()
    better = replace(ev, baseline_pd=_blurred(ev, 1.5, 7))
    assert _check(decide_promotion(better, None, GATE), "vs_baseline")["passed"] is True
    same = replace(ev, baseline_pd=ev.test_pd)  # identical scores: se 0, diff 0
    assert _check(decide_promotion(same, None, GATE), "vs_baseline")["passed"] is True


def test_small_test_split_gives_the_model_the_benefit_of_the_doubt():
    """200 rows, a slightly worse model: not significantly worse, so not refused."""
    ev = evidence(n=200, seed=3)
    slightly = replace(ev, test_pd=_blurred(ev, 0.3, 1), baseline_pd=ev.test_pd)
    check = _check(decide_promotion(slightly, None, GATE), "vs_baseline")
    assert check["diff"] <= 0 and check["passed"] is True


def test_margin_tolerates_a_small_significant_loss():
    ev = evidence()
    worse = replace(ev, test_pd=_blurred(ev, 0.4, 2), baseline_pd=ev.test_pd)
    strict = _check(decide_promotion(worse, None, GATE), "vs_baseline")
    assert strict["passed"] is False  # 20,000 rows: a small loss is significant
    loose = replace(GATE, vs_baseline_margin=-strict["diff"] + 0.01)
    assert _check(decide_promotion(worse, None, loose), "vs_baseline")["passed"] is True


def test_no_saved_baseline_is_info_only():
    d = decide_promotion(evidence(), None, GATE)
    assert _check(d, "vs_baseline")["passed"] is None and d.passed

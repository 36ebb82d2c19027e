"""Points and master-scale grades."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.scaling import DEFAULT_GRADE, MasterScale, ScoreScaling

PARAMS_SCALING = ScoreScaling(base_points=600, base_odds=50, pdo=20)  # params.yaml train.scaling


def scale(grades: dict[str, float]) -> MasterScale:
    return MasterScale(names=tuple(grades), upper_bounds=tuple(grades.values()))


def test_points_anchor_and_pdo():
    s = PARAMS_SCALING  # 600 at 50:1, 20 points to double the odds
    pd_at = lambda odds: 1 / (1 + odds)  # noqa: E731
    assert s.points(pd_at(50)) == pytest.approx(600.0)
    assert s.points(pd_at(100)) == pytest.approx(620.0)
    assert s.points(pd_at(25)) == pytest.approx(580.0)
    assert s.factor == pytest.approx(20 / math.log(2))
    assert s.offset == pytest.approx(600 - 20 / math.log(2) * math.log(50))


@given(st.floats(1e-6, 1 - 1e-6))
def test_points_invert(p):
    s = ScoreScaling(base_points=500, base_odds=20, pdo=40)
    assert s.pd_from_points(s.points(p)) == pytest.approx(p, rel=1e-9)


def test_points_reject_degenerate_pd():
    with pytest.raises(ValueError):
        PARAMS_SCALING.points([0.0])
    with pytest.raises(ValueError, match="positive"):
        ScoreScaling(base_points=600, base_odds=50, pdo=0)


def test_master_scale_bounds_inclusive():
    ms = scale({"A": 0.01, "B": 0.05, "C": 1.0})
    got = ms.assign([0.0003, 0.01, 0.0100001, 0.05, 0.2, 1.0])
    assert list(got) == ["A", "A", "B", "B", "C", "C"]
    assert MasterScale.from_pairs(ms.to_list()) == ms


@pytest.mark.parametrize(
    "grades",
    [{}, {"A": 0.1, "B": 0.05, "C": 1.0}, {"A": 0.1, "B": 0.5}, {"A": 0.0, "B": 1.0}],
)
def test_master_scale_rejects_bad_bounds(grades):
    # params-level messages (a bound "x", a grade name 1) are tests/pipelines/test_params_train.py
    with pytest.raises(ValueError):
        scale(grades)
    with pytest.raises(ValueError, match="unique"):
        MasterScale(names=("A", "A"), upper_bounds=(0.1, 1.0))


def test_grades_monotone_in_pd():
    ms = scale({"A": 0.005, "B": 0.02, "C": 0.1, "E": 1.0})
    p = np.linspace(0.0003, 0.9999, 1000)
    idx = [ms.names.index(g) for g in ms.assign(p)]
    assert np.all(np.diff(idx) >= 0)


def test_the_default_grade_is_reserved():
    with pytest.raises(ValueError, match="'D' is reserved for accounts in default"):
        scale({"A": 0.1, "D": 1.0})
    assert DEFAULT_GRADE == "D"

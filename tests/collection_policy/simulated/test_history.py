"""The simulated collection log: its logging policy randomises every tier the rules reach."""

from __future__ import annotations

import numpy as np

from collection_policy.simulated.history import logging_tiers


def test_logging_tiers_stay_between_the_minimum_and_the_rules_tier() -> None:
    rule = np.array([0, 1, 2, 3, 4] * 2000)
    drawn = logging_tiers(rule, 1, seed=3)
    assert (drawn <= rule).all() and (drawn >= np.minimum(rule, 1)).all()
    assert set(drawn[rule == 4]) == {1, 2, 3, 4}  # every tier the rules reach gets contrasts
    assert np.array_equal(drawn, logging_tiers(rule, 1, seed=3))

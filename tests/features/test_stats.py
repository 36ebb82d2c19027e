"""The one AUC and the one PSI: shared pieces and the numeric PSI they make up."""

from __future__ import annotations

import numpy as np
import pytest

from features.stats import (
    auc,
    bin_index,
    bin_shares,
    decile_edges,
    psi,
    psi_from_shares,
)

RNG = np.random.default_rng(11)


def test_psi_is_psi_from_shares_over_reference_deciles():
    expected, actual = RNG.normal(0, 1, 5000), RNG.normal(0.4, 1.1, 3000)
    edges = decile_edges(expected)
    assert edges.size == 9  # ten bins, not eleven
    n = edges.size + 1
    by_hand = psi_from_shares(
        bin_shares(bin_index(expected, edges), n), bin_shares(bin_index(actual, edges), n)
    )
    assert psi(expected, actual) == by_hand
    shares = bin_shares(bin_index(expected, edges), n)
    np.testing.assert_allclose(shares, 0.1, atol=1e-3)


def test_psi_from_shares_is_zero_for_equal_shares_and_finite_for_empty_bins():
    assert psi_from_shares([0.5, 0.5], [0.5, 0.5]) == 0.0
    shifted = psi_from_shares([0.5, 0.5, 0.0], [0.0, 0.5, 0.5])
    assert np.isfinite(shifted) and shifted > 1.0


def test_point_mass_reference_has_one_bin_per_distinct_edge():
    zeros = np.r_[np.zeros(900), np.arange(1, 101)]
    edges = decile_edges(zeros)
    assert list(edges[:1]) == [0.0]
    assert psi(zeros, zeros) == pytest.approx(0.0)


def test_auc_ties_count_half_and_one_class_is_nan():
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert np.isnan(auc([1, 1], [0.1, 0.2]))
    with pytest.raises(ValueError, match="NaN"):
        auc([0, 1], [0.1, np.nan])


def test_a_point_mass_gets_its_own_bin_so_a_shift_off_it_is_seen():
    """90% zeros in the reference, 80% now: the zeros and the small positives must not share a bin."""
    import numpy as np

    from features.stats import decile_edges, psi

    rng = np.random.default_rng(0)
    reference = np.where(rng.random(10_000) < 0.9, 0.0, rng.integers(1, 90, 10_000))
    current = np.where(rng.random(10_000) < 0.8, 0.0, rng.integers(1, 90, 10_000))
    edges = decile_edges(reference)
    assert edges[0] == 0.0 and edges[1] == np.nextafter(0.0, np.inf)
    assert psi(reference, current) > 0.05
    # a continuous reference has no point mass: plain deciles, ten bins
    assert decile_edges(rng.normal(size=10_000)).size == 9

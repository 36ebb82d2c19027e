"""The one AUC and the one PSI: shared pieces and the numeric PSI they make up; the intervals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.stats import (
    auc,
    bin_index,
    bin_shares,
    decile_edges,
    newcombe_interval,
    psi,
    psi_from_shares,
    welch_interval,
    wilson_interval,
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

    from core.stats import decile_edges, psi

    rng = np.random.default_rng(0)
    reference = np.where(rng.random(10_000) < 0.9, 0.0, rng.integers(1, 90, 10_000))
    current = np.where(rng.random(10_000) < 0.8, 0.0, rng.integers(1, 90, 10_000))
    edges = decile_edges(reference)
    assert edges[0] == 0.0 and edges[1] == np.nextafter(0.0, np.inf)
    assert psi(reference, current) > 0.05
    # a continuous reference has no point mass: plain deciles, ten bins
    assert decile_edges(rng.normal(size=10_000)).size == 9


def _edges_by_unique(reference: np.ndarray, n_bins: int) -> np.ndarray:
    """The definition, written the slow way: masses counted by np.unique over every value."""
    edges = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, n_bins + 1))[1:-1])
    values, counts = np.unique(reference, return_counts=True)
    masses = values[counts >= reference.size / n_bins]
    above = np.nextafter(masses[np.isin(masses, edges)], np.inf)
    return np.unique(np.concatenate([edges, above]))


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(0, 12), min_size=1, max_size=300),
    scale=st.sampled_from([1.0, 0.5, 1e-3]),
    n_bins=st.integers(2, 12),
)
def test_decile_edges_equal_the_unique_count_definition(
    values: list[int], scale: float, n_bins: int
) -> None:
    """Point masses found at every ceil(n / n_bins)-th sorted position are all of them: a run of
    that many equal values always covers one such position (heavy ties drawn on purpose)."""
    reference = np.asarray(values, dtype=float) * scale
    expected = _edges_by_unique(reference, n_bins)
    np.testing.assert_array_equal(decile_edges(reference, n_bins), expected)
    np.testing.assert_array_equal(
        decile_edges(np.sort(reference), n_bins, presorted=True), expected
    )


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(-50, 50, width=32), st.just(float("nan"))), min_size=1, max_size=200
    ),
    n_edges=st.integers(0, 40),
)
def test_bin_index_equals_a_binary_search(values: list[float], n_edges: int) -> None:
    """The comparison loop (few edges) and the search (many) give np.searchsorted's bins, NaN in
    the last; float32 values against float64 edges included."""
    v = np.asarray(values, dtype=np.float32)
    edges = np.unique(np.linspace(-40, 40, n_edges) + 0.1)
    np.testing.assert_array_equal(bin_index(v, edges), np.searchsorted(edges, v, side="right"))


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Stat Med 17:873, example (a): 56/70 vs 48/80, method 10
    d, lo, hi = newcombe_interval(56, 70, 48, 80, 0.95)
    assert d == pytest.approx(0.2)
    assert (lo, hi) == pytest.approx((0.0524, 0.3339), abs=5e-4)
    assert wilson_interval(0, 10, 0.95)[0] == 0.0


def test_wilson_and_welch_intervals_at_their_edges():
    # Wilson (1927) score interval of 0/10 at 95%: [0, 0.2775]
    assert wilson_interval(0, 10, 0.95)[1] == pytest.approx(0.2775, abs=1e-4)
    assert all(np.isnan(wilson_interval(0, 0, 0.9)))
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 1.0])
    d, lo, hi = welch_interval(a, b, 0.95)
    se = np.sqrt(a.var(ddof=1) / 4 + b.var(ddof=1) / 2)
    assert d == 2.0 and (hi - lo) / 2 == pytest.approx(1.959964 * se, rel=1e-6)
    assert all(np.isnan(welch_interval(a, b[:1], 0.95)))

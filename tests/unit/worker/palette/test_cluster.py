"""The clustering kernels: scikit-learn's Lloyd loop and our seeding and Weiszfeld steps."""

from __future__ import annotations

import numpy as np
import pytest

from worker.palette import cluster


def _blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    centres = np.array([[20.0, 0, 0], [60, 20, -10], [80, -15, 25]])
    points = np.vstack([c + rng.normal(0, 4, (300, 3)) for c in centres])
    return points, rng.integers(1, 50, len(points)).astype(np.float64)


def test_private_lloyd_kernel_agrees_with_public_kmeans() -> None:
    """If scikit-learn ever drops ``_kmeans_single_lloyd`` the fallback gives the same."""
    points, weights = _blobs()
    init = points[[0, 300, 600]] + 5.0
    assert cluster._lloyd_kernel() is not None, "scikit-learn's Lloyd kernel moved"
    fast = cluster.lloyd(points, weights, init, max_iter=10)
    public = cluster.lloyd_public(points, weights, init, max_iter=10)
    assert np.allclose(fast, public, atol=1e-9)


def test_a_broken_private_kernel_falls_back_to_public_kmeans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scikit-learn release that changes the private kernel's signature still clusters."""
    points, weights = _blobs()
    init = points[[0, 300, 600]] + 5.0

    def changed_signature(*args: object, **kwargs: object) -> None:
        raise TypeError("_kmeans_single_lloyd() got an unexpected keyword argument 'tol'")

    monkeypatch.setattr(cluster, "_lloyd_kernel", lambda: changed_signature)
    public = cluster.lloyd_public(points, weights, init, max_iter=10)
    assert np.allclose(cluster.lloyd(points, weights, init, max_iter=10), public, atol=1e-9)


def test_lloyd_finds_weighted_means_of_separated_blobs() -> None:
    points, weights = _blobs()
    centres = cluster.lloyd(points, weights, points[[0, 300, 600]], max_iter=20)
    for block, centre in zip(range(0, 900, 300), centres, strict=True):
        members = slice(block, block + 300)
        mean = np.average(points[members], axis=0, weights=weights[members])
        assert centre == pytest.approx(mean)


def test_weiszfeld_moves_towards_the_median_not_the_mean() -> None:
    """One far point drags a mean; the geometric median hardly moves."""
    points = np.array([[50.0, 0, 0]] * 99 + [[50.0, 90, 0]])
    counts = np.ones(len(points))
    mean = points.mean(axis=0, keepdims=True)
    moved = cluster.weiszfeld(points, counts, mean, iterations=5)
    assert abs(moved[0, 1]) < abs(mean[0, 1]) / 5


def test_kmeans_plusplus_is_seeded_and_picks_distinct_points() -> None:
    points, weights = _blobs()
    first = cluster.kmeans_plusplus(points, weights, 3, np.random.default_rng(0))
    again = cluster.kmeans_plusplus(points, weights, 3, np.random.default_rng(0))
    assert np.array_equal(first, again)
    assert len({tuple(c) for c in first.round(6)}) == 3
    blocks = {int(np.argmin(np.linalg.norm(points - c, axis=1))) // 300 for c in first}
    assert blocks == {0, 1, 2}  # one seed per well-separated blob

"""Weighted clustering kernels: k-means++ seeding, scikit-learn's Lloyd, Weiszfeld steps.

Pure numpy functions of (points, weights, centres) in whatever space the caller chose;
``worker.palette`` decides what to cluster and how to judge it. Everything here runs
inside ``single_threaded()``: the problems are a few thousand points, and one thread
makes the sums, hence the centres, independent of the machine's core count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

SEED = 0
"""k-means++ seed: part of the output contract (same bytes → same palette)."""
WEISZFELD_FLOOR = 0.5
"""Smallest distance (clustering-space units, ~ΔE in DIN99o) a Weiszfeld weight divides by."""
SEEDING_TRIALS = 4
"""Candidates tried per k-means++ centre (sklearn uses 2 + log k)."""

FloatArray = npt.NDArray[np.float64]


def mean_distance(
    features: FloatArray, counts: npt.NDArray[np.int64], centres: FloatArray
) -> float:
    """Count-weighted mean distance to the nearest centre: the L1 objective restarts are
    ranked by (in DIN99o a stand-in for mean ΔE00; k-means' inertia would rank by squares).
    """
    nearest_squared = np.min(squared_distances(features, centres), axis=1)
    return float(counts.astype(np.float64) @ np.sqrt(nearest_squared))


def kmeans_plusplus(
    features: FloatArray, weights: FloatArray, k: int, rng: np.random.Generator
) -> FloatArray:
    """Greedy weighted k-means++ (as scikit-learn's, 2 + log k trials per centre).

    Ours rather than sklearn's ``kmeans_plusplus``: that one costs ~0.1 ms of input
    validation per centre, more than the arithmetic on a few thousand bins.
    """
    trials = max(2 + int(np.log(k)), SEEDING_TRIALS)
    norms = row_norms(features)
    chosen = [pick_weighted(weights, rng, 1)[0]]
    closest = squared_distances(features, features[chosen], norms)[:, 0]
    for _ in range(1, k):
        candidates = pick_weighted(weights * closest, rng, trials)
        d = np.minimum(closest[:, None], squared_distances(features, features[candidates], norms))
        best = int(np.argmin(weights @ d))
        chosen.append(int(candidates[best]))
        closest = d[:, best]
    return features[chosen].copy()


def pick_weighted(weights: FloatArray, rng: np.random.Generator, n: int) -> npt.NDArray[np.intp]:
    """``n`` indices drawn with probability proportional to ``weights``."""
    cumulative = np.cumsum(weights)
    if cumulative[-1] <= 0:
        return np.zeros(n, dtype=np.intp)
    draws = rng.random(n) * cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, draws, side="right"), len(weights) - 1)


def row_norms(points: FloatArray) -> FloatArray:
    """|x|^2 of each row: computed once per problem, reused by every distance call."""
    return np.einsum("ij,ij->i", points, points)


def squared_distances(
    points: FloatArray, centres: FloatArray, point_norms: FloatArray | None = None
) -> FloatArray:
    """(n, m) squared Euclidean distances as |x|^2 - 2 x.c + |c|^2 (one BLAS product).

    Why this form: on a few thousand points numpy's per-call cost dominates, and the
    product is one call where a per-channel difference is nine. Callers run it inside
    ``single_threaded()``, so BLAS sums in one fixed order and results are reproducible.
    ``point_norms``: ``row_norms(points)``, when the caller has it already.
    """
    d = points @ (-2.0 * centres.T)
    d += (row_norms(points) if point_norms is None else point_norms)[:, None]
    d += row_norms(centres)[None, :]
    return np.maximum(d, 0.0, out=d)


def lloyd(features: FloatArray, weights: FloatArray, init: FloatArray, max_iter: int) -> FloatArray:
    """scikit-learn's weighted Lloyd k-means from ``init`` (runs inside ``single_threaded``).

    Called through its Cython kernel, ``_kmeans_single_lloyd``, the loop ``KMeans.fit``
    runs: ``fit`` adds ~1 ms of validation, centring and thread-pool set-up around a
    loop that takes ~0.1 ms on a few thousand bins. The kernel is private to scikit-learn,
    so a version without it, or one whose kernel raises (a changed signature), falls back
    to ``KMeans.fit`` with the same settings (tol=0:
    both stop at the same iteration; tests/unit/worker/palette/test_cluster.py checks they agree).
    """
    kernel = _lloyd_kernel()
    if kernel is not None:
        try:
            _, _, centres, _ = kernel(
                features, weights, np.array(init, dtype=np.float64), max_iter=max_iter,
                tol=0.0, n_threads=1,
            )  # fmt: skip
            return np.asarray(centres, dtype=np.float64)
        except Exception:  # a private signature may change in any release: the public path
            pass
    return lloyd_public(features, weights, init, max_iter)


def lloyd_public(
    features: FloatArray, weights: FloatArray, init: FloatArray, max_iter: int
) -> FloatArray:
    """The same Lloyd iterations through scikit-learn's public ``KMeans``."""
    import sklearn
    from sklearn.cluster import KMeans

    model = KMeans(
        n_clusters=len(init), init=init, n_init=1, max_iter=max_iter, tol=0.0, random_state=SEED
    )
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        model.fit(features, sample_weight=weights)
    return np.asarray(model.cluster_centers_, dtype=np.float64)


@functools.cache
def _lloyd_kernel() -> Any:
    """scikit-learn's private Lloyd loop, or None when this version has no such function.

    Unwrapped from its per-call threadpoolctl limiter (``__wrapped__``, where present):
    every call already runs inside ``single_threaded``, and the limiter's enter/exit
    per call cost more than the loop itself (2,000 bins, k=5: 8.7 -> 5.8 ms per call
    under load, identical centres)."""
    try:
        from sklearn.cluster._kmeans import _kmeans_single_lloyd
    except Exception:  # private: gone, renamed or broken in any release
        return None
    return getattr(_kmeans_single_lloyd, "__wrapped__", _kmeans_single_lloyd)


def weiszfeld(
    features: FloatArray, counts: FloatArray, centres: FloatArray, iterations: int
) -> FloatArray:
    """``iterations`` Weiszfeld steps: each centre towards its members' geometric median.

    Distances are floored at ``WEISZFELD_FLOOR`` (about one ΔE), so a bin sitting on a
    centre cannot take all the weight. Each step's weighted sums are one product of a
    one-hot membership matrix with [w x, w] (fewer numpy calls than a bincount per axis).
    """
    norms = row_norms(features)
    one_hot = np.eye(len(centres))
    rows = np.arange(len(features))
    for _ in range(iterations):
        d = squared_distances(features, centres, norms)
        labels = np.argmin(d, axis=1)
        w = counts / np.maximum(np.sqrt(d[rows, labels]), WEISZFELD_FLOOR)
        sums = one_hot[labels].T @ np.column_stack([features * w[:, None], w])
        total = sums[:, -1:]
        centres = np.where(total > 0, sums[:, :-1] / np.maximum(total, 1e-300), centres)
    return centres


def nearest(points: FloatArray, centres: FloatArray) -> npt.NDArray[np.intp]:
    """Index of the nearest centre (squared Euclidean) for each point; ties → lowest.

    Ranked by |c|^2 - 2 x.c: a point's own |x|^2 is the same for every centre, so it is
    left out (this runs on up to 10,000 pixels per image: ``counting``)."""
    scores = points @ (-2.0 * centres.T)
    scores += row_norms(centres)[None, :]
    return np.argmin(scores, axis=1)


@contextmanager
def single_threaded() -> Iterator[None]:
    """Limit OpenMP/BLAS to one thread around the clustering.

    Why: the problems are small (a few thousand weighted points), where threads cost more
    than they save, Celery already runs one process per core, and sklearn's multi-thread
    reduction order would make centres depend on the thread count.
    """
    with _thread_controller().limit(limits=1):
        yield


@functools.cache
def _thread_controller() -> Any:
    """threadpoolctl's controller, built once per process (it inspects the loaded libraries,
    ~1 ms). It only sees libraries loaded when it is built: sklearn (and with it libgomp)
    is imported first, or OpenMP would silently stay multi-threaded."""
    import sklearn.cluster  # noqa: F401  loads the OpenMP runtime the controller must see
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def swap_pass(
    features: FloatArray,
    counts: FloatArray,
    centres: FloatArray,
    refine: Callable[[FloatArray], FloatArray],
    attempts: int,
) -> FloatArray:
    """Move the least useful centre into the worst-fitting cluster while that lowers the
    count-weighted mean distance (the L1 objective ``mean_distance``).

    Why: Lloyd only ever moves centres downhill, so a centre seeded on a thin fringe (the
    JPEG ringing between two flat areas) stays there and two real colours share one centre:
    the colour is lost (issue 13: 5 of 300 five-stripe JPEGs, ΔE00 12-18). One swap is the
    move that escapes: drop the centre whose removal costs least, add one where the error
    is largest, re-run ``refine`` (Lloyd + Weiszfeld), keep the result only if it is better.
    """
    norms = row_norms(features)
    best, d = centres, squared_distances(features, centres, norms)
    best_cost = _l1_cost(counts, d)
    for _ in range(attempts):
        trial = _swapped(features, counts, best, d, norms)
        if trial is None:
            break
        refined = refine(trial)
        refined_d = squared_distances(features, refined, norms)
        cost = _l1_cost(counts, refined_d)
        if cost >= best_cost * (1.0 - SWAP_GAIN):
            break
        best, best_cost, d = refined, cost, refined_d
    return best


SWAP_GAIN = 1e-3
"""Smallest relative drop of the objective a swap must bring to be kept."""
SWAP_PAYOFF = 2.0
"""A swap is tried only when the new centre gains this many times what dropping the old
one costs. Measured (gain / cost of the best swap): 0.46-1.29 on the 7 corpus photos at
k=5 and k=10, where no swap ever lowered the objective, and 6-34 on every flat image
that had lost a colour; so photos skip the extra Lloyd run entirely."""


def _l1_cost(counts: FloatArray, squared: FloatArray) -> float:
    """The count-weighted distance to the nearest centre, from squared distances."""
    return float(counts @ np.sqrt(squared.min(axis=1)))


def _swapped(
    features: FloatArray,
    counts: FloatArray,
    centres: FloatArray,
    squared: FloatArray,
    norms: FloatArray,
) -> FloatArray | None:
    """``centres`` with the cheapest-to-remove one moved to the best new place, or None.

    ``squared``: the points' squared distances to ``centres`` (the caller has them)."""
    k = len(centres)
    if k < 2:
        return None
    first = np.argmin(squared, axis=1)
    two = np.sqrt(np.partition(squared, 1, axis=1)[:, :2])
    d1, d2 = two[:, 0], two[:, 1]
    removal = np.bincount(first, weights=counts * (d2 - d1), minlength=k)
    drop = int(np.argmin(removal))
    # without ``drop``, each point's distance is d1, or d2 for drop's members
    current = np.where(first == drop, d2, d1)
    best = best_new_centre(features, counts, current, norms)
    if best is None or best[1] <= SWAP_PAYOFF * removal[drop]:
        return None
    return np.vstack([np.delete(centres, drop, axis=0), features[best[0]][None, :]])


SWAP_CANDIDATES = 16
"""Points tried as the new centre: those contributing most to the error."""


def best_new_centre(
    features: FloatArray, counts: FloatArray, current: FloatArray, norms: FloatArray
) -> tuple[int, float] | None:
    """The point that, made a centre, lowers the count-weighted distance the most, and
    by how much."""
    contribution = counts * current
    n = min(SWAP_CANDIDATES, len(features))
    candidates = np.argpartition(-contribution, n - 1)[:n]
    d = np.sqrt(squared_distances(features, features[candidates], norms))
    gains = counts @ np.maximum(current[:, None] - d, 0.0)
    best = int(np.argmax(gains))
    return (int(candidates[best]), float(gains[best])) if gains[best] > 0 else None

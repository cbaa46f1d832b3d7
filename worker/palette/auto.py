"""``k="auto"``: the smallest k after which one more colour stops improving the fit.

The rule: grow a palette one colour at a time (each new colour where it lowers the mean
distance most, then a few Lloyd iterations), tracking the fit, the count-weighted mean
distance in DIN99o (≈ mean ΔE00). Stop at the first k where the next colour's gain is
*not noticeable*:

    gain < ABSOLUTE_GAIN  and  gain < RELATIVE_GAIN x fit(k)

or as soon as fit(k) <= FLAT_FIT (every pixel already within a fraction of a JND), or at
``AUTO_MAX_K`` colours.

Why both tests: on a photo each colour improves the fit a little and ever less (corpus,
k=5: ~0.4 ΔE00 per colour), and a gain under half a JND on average is not something a
reader of the palette can see. On flat graphics the last real colour may gain little in
absolute terms (3 % of the image at ΔE00 15 is 0.45) while it removes most of the
remaining error: the relative test keeps it. The thresholds were measured on the corpus
and on ``benchmarks/flat_images.py`` (``benchmarks/bench_palette.py --auto``).

Why DIN99o whatever ``color_space`` says: the thresholds are in ΔE00 units, and DIN99o's
Euclidean distance tracks ΔE00 (``spaces``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from worker.palette import spaces
from worker.palette.cluster import best_new_centre, lloyd, row_norms, squared_distances
from worker.palette.fit import Bins
from worker.palette.options import Options

FloatArray = npt.NDArray[np.float64]

ABSOLUTE_GAIN = 0.5
"""A colour that lowers the mean ΔE00 by this much is worth returning (half a JND)."""
RELATIVE_GAIN = 0.3
"""... and so is one that removes this fraction of the remaining error."""
FLAT_FIT = 1.0
"""A fit this close (mean ΔE00: every pixel about a JND from its colour on average) needs
no further colour: what is left is anti-aliased edges, compression ringing or noise."""
LLOYD_STEPS = 4
"""Lloyd iterations after each added colour: enough to settle it, cheap on bins."""


def choose_k(bins: Bins, options: Options) -> int:
    """The number of colours ``k="auto"`` asks the fit for (1 to ``options.k_max``)."""
    features = _din99o(bins, options)
    counts = bins.counts.astype(np.float64)
    k_max = min(options.k_max, len(features))
    curve = fit_curve(features, counts, k_max)
    return stop_at(curve)


def fit_curve(features: FloatArray, counts: FloatArray, k_max: int) -> list[float]:
    """Mean distance of the greedy palettes of 1, 2, ... colours; it ends early once the
    fit is ``FLAT_FIT`` or a new colour would gain nothing."""
    norms = row_norms(features)
    total = float(counts.sum())
    centres = (counts @ features / total)[None, :]
    distance = np.sqrt(squared_distances(features, centres, norms)[:, 0])
    curve = [float(counts @ distance) / total]
    while len(centres) < k_max and curve[-1] > FLAT_FIT:
        new = best_new_centre(features, counts, distance, norms)
        if new is None:
            break
        centres = lloyd(features, counts, np.vstack([centres, features[new[0]]]), LLOYD_STEPS)
        distance = np.sqrt(squared_distances(features, centres, norms).min(axis=1))
        curve.append(float(counts @ distance) / total)
        if len(curve) >= 2 and not noticeable(curve[-2], curve[-1]):
            break
    return curve


def noticeable(before: float, after: float) -> bool:
    """Whether going from fit ``before`` to ``after`` is worth one more colour."""
    gain = before - after
    return gain >= ABSOLUTE_GAIN or gain >= RELATIVE_GAIN * before


def stop_at(curve: list[float]) -> int:
    """The k the curve says: the last one whose gain was noticeable."""
    k = 1
    while k < len(curve) and noticeable(curve[k - 1], curve[k]):
        k += 1
    return k


def _din99o(bins: Bins, options: Options) -> FloatArray:
    if options.color_space == "din99o":
        return bins.features
    return spaces.get("din99o").from_srgb(bins.rgb)

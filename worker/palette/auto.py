"""``k="auto"``: the smallest k after which one more colour stops improving the fit.

The rule: grow a palette one colour at a time (each new colour where it lowers the mean
distance most, then a few Lloyd iterations), tracking the fit, the count-weighted mean
distance in DIN99o (≈ mean ΔE00). Stop at the first k where the next colour's gain is
*not noticeable*:

    gain < ABSOLUTE_GAIN  and  (gain < RELATIVE_GAIN x fit(k)  or  its bin < SPIKE)

or at ``AUTO_MAX_K`` colours.

Why both tests: on a photo each colour improves the fit a little and ever less (corpus,
k=5: ~0.4 ΔE00 per colour), and a gain under half a JND on average is not something a
reader of the palette can see. On flat graphics the last real colour may gain little in
absolute terms (3 % of the image at ΔE00 15 is 0.45) while it removes most of the
remaining error: the relative test keeps it, as long as the colour is one (a spike in one
bin), not the thin spread of anti-aliased edges or JPEG ringing. The thresholds were
measured on the corpus photos (they get 5-8 colours) and on ``benchmarks/flat_images.py``
(``benchmarks/bench_flat.py`` prints how often k="auto" returns exactly the colours
drawn; ``benchmarks/bench_palette.py --auto`` its cost and choices on photos).

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
"""... and so is one that removes this fraction of the remaining error, if it is a colour
of its own: its bin alone holds ``SPIKE`` of the pixels."""
SPIKE = 0.01
"""Share of the pixels in the new colour's own bin that makes it a drawn colour rather
than a blend: a flat colour sits in one or two bins, while anti-aliased edges and JPEG
ringing spread thinly over many (on flat_images.py a blend bin holds up to 0.5 %: the
row of blended pixels along a whole stripe edge)."""
NEW_COLOUR = 3.0
"""... and lies at least this far (≈ ΔE00) from every colour already found: otherwise it
is a colour already there whose centre blends pulled aside, not a new one."""
FLAT_FIT = 0.1
"""A fit this close (mean ΔE00) needs no further colour; only saves time."""
LLOYD_STEPS = 4
"""Lloyd iterations after each added colour: enough to settle it, cheap on bins."""


def choose_k(bins: Bins, options: Options) -> int:
    """The number of colours ``k="auto"`` asks the fit for (1 to ``options.k_max``)."""
    features = _din99o(bins, options)
    counts = bins.counts.astype(np.float64)
    k_max = min(options.k_max, len(features))
    norms = row_norms(features)
    total = float(counts.sum())
    centres = (counts @ features / total)[None, :]
    distance = np.sqrt(squared_distances(features, centres, norms)[:, 0])
    fit = float(counts @ distance) / total
    while len(centres) < k_max and fit > FLAT_FIT:
        new = best_new_centre(features, counts, distance, norms)
        if new is None:
            break
        trial = lloyd(features, counts, np.vstack([centres, features[new[0]]]), LLOYD_STEPS)
        trial_distance = np.sqrt(squared_distances(features, trial, norms).min(axis=1))
        trial_fit = float(counts @ trial_distance) / total
        spike = counts[new[0]] / total if distance[new[0]] >= NEW_COLOUR else 0.0
        if not noticeable(fit, trial_fit, spike):
            break
        centres, distance, fit = trial, trial_distance, trial_fit
    return len(centres)


def noticeable(before: float, after: float, spike: float) -> bool:
    """Whether going from fit ``before`` to ``after`` is worth one more colour, whose own
    bin holds the share ``spike`` of the pixels."""
    gain = before - after
    return gain >= ABSOLUTE_GAIN or (gain >= RELATIVE_GAIN * before and spike >= SPIKE)


def _din99o(bins: Bins, options: Options) -> FloatArray:
    if options.color_space == "din99o":
        return bins.features
    return spaces.get("din99o").from_srgb(bins.rgb)

"""The clustering spaces, by name: each one's conversions and thresholds in one entry.

Why a registry: a colour space is one decision (where k-means measures distance) that
touches several steps (bins to the space, pixels to the space, centres back to sRGB, the
margin under which a bin's pixels are counted one by one). Keeping them in one
``ColourSpace`` means adding a space is one entry here (see the README, "Layout"), and an
unknown name fails in ``get`` with ``InvalidOptions``, never silently as another space.

Why DIN99o by default: the palette is judged by mean CIEDE2000 and k-means minimises
Euclidean distances; DIN99o is the space whose Euclidean distance tracks ΔE00 best
(correlation 0.97 vs 0.80 for CIELAB on random pairs), and it gave the lowest fit error
of oklab / cielab / din99o on the corpus (``benchmarks/bench_palette.py``).
``rgb`` clusters plain sRGB values, the original tutorial's method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from worker import errors
from worker.palette import colorspace

FloatArray = npt.NDArray[np.float64]
UInt8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ColourSpace:
    """How one clustering space converts, and how far apart its units are.

    ``from_linear``: linear-light sRGB (..., 3) to the space (None for ``rgb``, which
    clusters the encoded values). ``to_srgb8``: the space back to uint8 sRGB, gamut-clipped
    and rounded. ``ambiguity_per_level``: the distance margin, per sRGB level of bin width,
    under which a bin's pixels are assigned one by one (``counting.exact_counts``).
    """

    name: str
    from_linear: Callable[[FloatArray], FloatArray] | None
    to_srgb8: Callable[[FloatArray], UInt8Array]
    ambiguity_per_level: float
    from_srgb8: Callable[[UInt8Array], FloatArray] | None = None
    """A faster way from uint8 pixels to the space (table lookups), if the space has one."""

    def from_srgb(self, rgb255: FloatArray) -> FloatArray:
        """Float sRGB 0-255 (bin means, palette colours) to the space."""
        if self.from_linear is None:
            return np.asarray(rgb255, dtype=np.float64)
        return self.from_linear(colorspace.srgb_to_linear(rgb255 / 255.0))

    def from_pixels(self, rgb8: UInt8Array) -> FloatArray:
        """uint8 sRGB pixels (N, 3) to the space (linearised by table lookup: cheaper)."""
        if self.from_srgb8 is not None:
            return self.from_srgb8(rgb8)
        if self.from_linear is None:
            return rgb8.astype(np.float64)
        return self.from_linear(colorspace.srgb8_to_linear(rgb8))


def _din99o(linear: FloatArray) -> FloatArray:
    return colorspace.lab_to_din99o(colorspace.linear_to_lab(linear))


def _srgb8_to_din99o(rgb8: UInt8Array) -> FloatArray:
    return colorspace.lab_to_din99o(colorspace.srgb8_to_lab(rgb8))


def _din99o_to_srgb8(points: FloatArray) -> UInt8Array:
    return colorspace.lab_to_srgb8(colorspace.din99o_to_lab(points))


def _rgb_to_srgb8(points: FloatArray) -> UInt8Array:
    return colorspace.to_uint8(points / 255.0)


SPACES: dict[str, ColourSpace] = {
    space.name: space
    for space in (
        ColourSpace("oklab", colorspace.linear_to_oklab, colorspace.oklab_to_srgb8, 0.00625),
        ColourSpace(
            "cielab",
            colorspace.linear_to_lab,
            colorspace.lab_to_srgb8,
            0.625,
            colorspace.srgb8_to_lab,
        ),
        ColourSpace("din99o", _din99o, _din99o_to_srgb8, 0.625, _srgb8_to_din99o),
        ColourSpace("rgb", None, _rgb_to_srgb8, 3.47),
    )
}
"""Every clustering space, by the name ``Options.color_space`` takes.

``ambiguity_per_level``: in rgb the exact bound (2 x the bin's half-diagonal, sqrt(3));
in the perceptual spaces measured on the corpus: at 5 bits it makes the counts of the 7
photos equal to a pixel-by-pixel assignment within 0.05 pp.
"""

DEFAULT = "din99o"


def get(name: str) -> ColourSpace:
    """The space called ``name``; any other name is ``InvalidOptions``."""
    try:
        return SPACES[name]
    except (KeyError, TypeError):
        raise errors.InvalidOptions(
            f"color_space must be one of {', '.join(SPACES)} (got {name!r})"
        ) from None

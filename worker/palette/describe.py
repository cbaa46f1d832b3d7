"""Palette colours and counts → the JSON's ``colors`` list, in a stable order.

Why here, apart from the clustering: what a colour *means* to a reader (hex, share,
OKLCH, names, a readable text colour) changes for other reasons than how it was found.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from worker.palette import colorspace, naming
from worker.palette.render import largest_remainder

SHARE_UNITS = 1_000_000
"""Proportions are whole millionths, so their sum is exactly 1."""


def describe_colors(
    rgbs: npt.NDArray[np.uint8], pixel_counts: npt.NDArray[np.int64]
) -> list[dict[str, Any]]:
    """The ``colors`` list: sorted by count desc then hex, shares in exact millionths."""
    hexes = [to_hex(rgb) for rgb in rgbs]
    order = sorted(range(len(rgbs)), key=lambda i: (-int(pixel_counts[i]), hexes[i]))
    ordered = rgbs[order]
    counts = [int(pixel_counts[i]) for i in order]
    units = shares_in_units(counts)
    oklch = colorspace.srgb8_to_oklch(ordered)
    words = naming.describe_many(ordered)
    return [
        {
            "hex": hexes[i],
            "rgb": [int(v) for v in rgbs[i]],
            "proportion": units[position] / SHARE_UNITS,
            "pixel_count": counts[position],
            "oklch": [round(float(oklch[position, 0]), 4), round(float(oklch[position, 1]), 4),
                      round(float(oklch[position, 2]), 1)],
            **words[position],
        }
        for position, i in enumerate(order)
    ]  # fmt: skip


def shares_in_units(counts: list[int]) -> list[int]:
    """Counts → shares in millionths: sum exactly SHARE_UNITS, none zero if room allows."""
    units = largest_remainder([float(c) for c in counts], SHARE_UNITS)
    for i, c in enumerate(counts):
        if c > 0 and units[i] == 0:
            donor = int(np.argmax(units))
            units[donor] -= 1
            units[i] = 1
    return units


def to_hex(rgb: npt.ArrayLike) -> str:
    """uint8 triple → '#rrggbb'."""
    r, g, b = (int(v) for v in np.asarray(rgb).reshape(3))
    return f"#{r:02x}{g:02x}{b:02x}"

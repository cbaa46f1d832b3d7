"""Palette → bar PNG, like the original tutorial's histogram bar.

Why whole pixels by largest remainder: naive rounding of shares x 300 can give 299 or 301
pixels and can drop a small colour entirely; the bar must be exactly ``width`` wide and
show every colour the JSON lists (when there is room for one pixel each).

Pure: the PNG is a function of the colours and sizes only (no timestamps, no metadata,
fixed zlib level), so the same palette always gives the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image


def largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """Split the integer ``total`` in proportion to ``weights``, summing exactly to it.

    Floors first, then one unit each to the largest remainders (ties: earlier index).
    Shared by the bar widths and the JSON's rounded proportions.
    """
    _check_weights(weights)
    weight_sum = math.fsum(weights)
    if not weights or total < 0:
        raise ValueError("need at least one weight and a non-negative total")
    if weight_sum <= 0:
        raise ValueError("weights must have a positive sum")
    exact = [w * total / weight_sum for w in weights]
    parts = [math.floor(x) for x in exact]
    missing = total - sum(parts)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:missing]:
        parts[i] += 1
    return parts


def _check_weights(weights: Sequence[float]) -> None:
    for w in weights:
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"weights must be finite and >= 0, got {w!r}")


def ensure_visible(parts: list[int], weights: Sequence[float]) -> list[int]:
    """Give each positive weight at least one unit, taken from the largest part.

    Only possible when there are at least as many units as positive weights; otherwise
    the parts are returned unchanged.
    """
    parts = list(parts)
    positive = [i for i, w in enumerate(weights) if w > 0]
    if len(positive) > sum(parts):
        return parts
    for i in positive:
        if parts[i] == 0:
            donor = max(range(len(parts)), key=lambda j: (parts[j], -j))
            parts[donor] -= 1
            parts[i] = 1
    return parts


def segment_widths(proportions: list[float], width: int = 300) -> list[int]:
    """Whole-pixel widths for the bar's segments: sum == width, >= 1 px per share > 0."""
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    return ensure_visible(largest_remainder(proportions, width), proportions)


def bar_pixels(colors: list[dict[str, Any]], width: int, height: int) -> np.ndarray:
    """The bar as an (height, width, 3) uint8 array; segments left→right in list order."""
    if not colors:
        raise ValueError("a bar needs at least one colour")
    widths = segment_widths([float(c["proportion"]) for c in colors], width)
    row = np.repeat(np.array([_rgb(c) for c in colors], dtype=np.uint8), widths, axis=0)
    return np.broadcast_to(row[None, :, :], (height, width, 3))


def bar_png(colors: list[dict[str, Any]], width: int = 300, height: int = 50) -> bytes:
    """PNG bytes of one stacked bar; each colour needs ``proportion`` and ``rgb`` or ``hex``."""
    if height < 1:
        raise ValueError(f"height must be >= 1, got {height}")
    image = Image.fromarray(np.ascontiguousarray(bar_pixels(colors, width, height)), "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _rgb(color: dict[str, Any]) -> tuple[int, int, int]:
    if "rgb" in color:
        r, g, b = (int(v) for v in color["rgb"])
    else:
        raw = str(color["hex"]).lstrip("#")
        r, g, b = int(raw[0:2], 16), int(raw[2:4], 16), int(raw[4:6], 16)
    for v in (r, g, b):
        if not 0 <= v <= 255:
            raise ValueError(f"colour channel out of range: {color!r}")
    return r, g, b

"""Bar widths and bar PNG: exact sums, visible colours, deterministic bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from worker.palette.render import bar_png, largest_remainder, segment_widths


def test_widths_sum_exactly_to_width() -> None:
    assert segment_widths([1 / 3, 1 / 3, 1 / 3]) == [100, 100, 100]
    assert sum(segment_widths([0.2713, 0.25, 0.2, 0.1787, 0.1])) == 300


def test_largest_remainder_ties_go_to_earlier() -> None:
    assert largest_remainder([1, 1, 1], 2) == [1, 1, 0]


def test_tiny_share_still_gets_a_pixel() -> None:
    widths = segment_widths([0.999, 0.0005, 0.0005])
    assert widths == [298, 1, 1]


def test_zero_share_gets_nothing() -> None:
    assert segment_widths([0.5, 0.0, 0.5], 10) == [5, 0, 5]


def test_more_colours_than_pixels() -> None:
    widths = segment_widths([0.25] * 4, 2)
    assert sum(widths) == 2


@pytest.mark.parametrize("bad", [[], [0.0, 0.0], [-0.1, 1.1], [float("nan")]])
def test_bad_proportions_raise(bad: list[float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        segment_widths(bad)


@given(
    st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=32).filter(
        lambda xs: sum(xs) > 1e-9
    ),
    st.integers(min_value=1, max_value=1000),
)
def test_widths_properties(proportions: list[float], width: int) -> None:
    widths = segment_widths(proportions, width)
    assert sum(widths) == width
    assert all(w >= 0 for w in widths)
    positive = sum(1 for p in proportions if p > 0)
    if positive <= width:
        assert all(w >= 1 for w, p in zip(widths, proportions, strict=True) if p > 0)


COLORS = [
    {"hex": "#1f3a93", "rgb": [31, 58, 147], "proportion": 0.4},
    {"hex": "#d6b57e", "rgb": [214, 181, 126], "proportion": 0.35},
    {"hex": "#c43030", "proportion": 0.25},
]


def test_bar_png_is_300x50_with_segments_in_order() -> None:
    png = bar_png(COLORS)
    image = Image.open(io.BytesIO(png))
    assert image.size == (300, 50)
    assert image.mode == "RGB"
    pixels = np.asarray(image)
    assert tuple(pixels[0, 0]) == (31, 58, 147)
    assert tuple(pixels[49, 119]) == (31, 58, 147)
    assert tuple(pixels[0, 120]) == (214, 181, 126)
    assert tuple(pixels[25, 299]) == (196, 48, 48)


def test_bar_png_is_deterministic() -> None:
    assert bar_png(COLORS) == bar_png([dict(c) for c in COLORS])


def test_bar_png_custom_size_and_errors() -> None:
    assert Image.open(io.BytesIO(bar_png(COLORS, 10, 2))).size == (10, 2)
    with pytest.raises(ValueError):  # noqa: PT011
        bar_png([])
    with pytest.raises(ValueError):  # noqa: PT011
        bar_png([{"rgb": [300, 0, 0], "proportion": 1.0}])

"""Flat graphics (issue 13): every colour comes back, and k="auto" counts them."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from benchmarks.bench_flat import NAMED_SEEDS, five_stripes
from benchmarks.flat_images import flat_image, worst_matches
from worker.palette import extract


def colours_of(result: dict[str, Any]) -> np.ndarray:
    return np.array([c["rgb"] for c in result["colors"]], dtype=np.uint8)


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buffer.getvalue()


LOGO_COLOURS = np.array(
    [[250, 250, 247], [20, 48, 110], [230, 80, 40], [250, 200, 40], [60, 160, 90]], np.uint8
)


def logo(fmt: str) -> bytes:
    """A logo-like image: a page, a dark badge, an orange disc, a yellow bar, a small
    green accent (~3 %), drawn 4x larger and scaled down (anti-aliased edges)."""
    big = Image.new("RGB", (1600, 960), tuple(LOGO_COLOURS[0].tolist()))
    draw = ImageDraw.Draw(big)
    draw.rounded_rectangle((80, 80, 760, 880), radius=120, fill=tuple(LOGO_COLOURS[1].tolist()))
    draw.ellipse((180, 200, 660, 680), fill=tuple(LOGO_COLOURS[2].tolist()))
    draw.rectangle((860, 380, 1520, 560), fill=tuple(LOGO_COLOURS[3].tolist()))
    draw.ellipse((1040, 640, 1260, 860), fill=tuple(LOGO_COLOURS[4].tolist()))
    return encode(big.resize((400, 240), Image.Resampling.BOX), fmt)


@pytest.mark.parametrize("seed", NAMED_SEEDS)
def test_named_five_stripe_jpegs_keep_every_colour(seed: int) -> None:
    """The seeds on which the core lost a colour (ΔE00 12-18): now each within 1."""
    data, truth = five_stripes(seed)
    assert worst_matches(truth, colours_of(extract(data, 5))).max() < 1.0


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_logo_gives_back_its_colours(fmt: str) -> None:
    result = extract(logo(fmt), 5)
    assert worst_matches(LOGO_COLOURS, colours_of(result)).max() < 2.0
    auto = extract(logo(fmt), "auto")
    assert auto["quality"]["k_returned"] == 5
    assert worst_matches(LOGO_COLOURS, colours_of(auto)).max() < 2.0


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_random_flat_graphics_lose_no_colour(seed: int) -> None:
    for fmt in ("PNG", "JPEG"):
        image = flat_image(seed, fmt)
        got = colours_of(extract(image.data, len(image.colours)))
        assert worst_matches(image.colours, got).max() < 5.0, (seed, fmt)


def test_flat_results_are_deterministic() -> None:
    data = logo("JPEG")
    first, second = extract(data, 5), extract(data, 5)
    for result in (first, second):
        result.pop("timings_ms"), result.pop("cpu_ms")
    assert first == second

"""k="auto": exactly the colours of a flat image, 3 for 3 mildly noisy colours, the
JSON says what was asked and what came back."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from benchmarks.flat_images import distinct_colours, worst_matches
from worker import errors
from worker.palette import extract
from worker.palette.options import parse_k


def png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def stripes(colours: np.ndarray, seed: int, sigma: float = 0.0) -> bytes:
    rng = np.random.default_rng(seed)
    shares = rng.uniform(1.0, 3.0, len(colours))
    rows = np.repeat(
        np.arange(len(colours)), np.maximum(8, shares / shares.sum() * 320).astype(int)
    )
    rgb = colours[rows][:, None, :].repeat(240, axis=1).astype(np.float64)
    rgb += rng.normal(0.0, sigma, rgb.shape) if sigma else 0.0
    return png(np.clip(np.floor(rgb + 0.5), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("n", [1, 2, 5, 9, 16])
def test_flat_images_give_exactly_their_colours(n: int) -> None:
    colours = distinct_colours(np.random.default_rng(n), n)
    result = extract(stripes(colours, n), "auto")
    assert result["quality"]["k_requested"] == "auto"
    assert result["quality"]["k_returned"] == n
    got = np.array([c["rgb"] for c in result["colors"]], dtype=np.uint8)
    assert worst_matches(colours, got).max() < 1.0


def test_more_than_sixteen_flat_colours_give_sixteen() -> None:
    colours = distinct_colours(np.random.default_rng(20), 20, 10.0)
    assert extract(stripes(colours, 20), "auto")["quality"]["k_returned"] == 16


@pytest.mark.parametrize("seed", range(4))
def test_three_colours_with_mild_noise_give_three(seed: int) -> None:
    colours = distinct_colours(np.random.default_rng(100 + seed), 3, 20.0)
    result = extract(stripes(colours, seed, sigma=4.0), "auto")
    assert result["quality"]["k_returned"] == 3


def test_a_photo_gets_several_colours_and_the_options_say_auto() -> None:
    from pathlib import Path

    data = (Path(__file__).resolve().parents[3] / "data" / "chelsea.jpg").read_bytes()
    result = extract(data, "auto")
    assert result["options"]["k"] == "auto"
    assert 3 <= result["quality"]["k_returned"] <= 16
    again = extract(data, "auto")
    assert [c["hex"] for c in again["colors"]] == [c["hex"] for c in result["colors"]]


@pytest.mark.parametrize(("text", "k"), [("auto", "auto"), (" AUTO ", "auto"), ("7", 7), (3, 3)])
def test_parse_k(text: str | int, k: int | str) -> None:
    assert parse_k(text) == k


@pytest.mark.parametrize("text", ["", "seven", "2.5", "auto5"])
def test_parse_k_refuses_anything_else(text: str) -> None:
    with pytest.raises(errors.InvalidOptions):
        parse_k(text)


@pytest.mark.parametrize("k", [0, 33, True, "Auto ", None])
def test_extract_refuses_bad_k(k: object) -> None:
    with pytest.raises(errors.InvalidOptions):
        extract(stripes(np.array([[10, 20, 30]], np.uint8), 0), k)  # type: ignore[arg-type]

"""extract(): the JSON contract, the synthetic truth, and Hypothesis-checked guarantees."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from worker import errors
from worker.palette import colorspace, extract
from worker.palette.spaces import SPACES

COLOR_SPACES = tuple(SPACES)

DATA = Path(__file__).resolve().parents[3] / "data"
TRUTH = json.loads((DATA / "truth.json").read_text())


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, format="PNG")
    return out.getvalue()


def without_timings(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key not in {"timings_ms", "cpu_ms"}}


def check_contract(result: dict[str, Any], k: int) -> None:
    colors = result["colors"]
    assert 1 <= len(colors) <= k
    proportions = [c["proportion"] for c in colors]
    assert math.fsum(proportions) == 1.0
    assert all(p > 0 for p in proportions)
    assert proportions == sorted(proportions, reverse=True)
    counts = [c["pixel_count"] for c in colors]
    assert all(n > 0 for n in counts)
    assert sum(counts) == result["pixels"]["counted"]
    assert len({c["hex"] for c in colors}) == len(colors)
    for c in colors:
        assert all(isinstance(v, int) and 0 <= v <= 255 for v in c["rgb"])
        assert c["hex"] == "#{:02x}{:02x}{:02x}".format(*c["rgb"])
    quality = result["quality"]
    assert quality["k_requested"] == k
    assert quality["k_returned"] == len(colors)
    px = result["pixels"]
    assert px["counted"] + px["ignored_transparent"] == px["sampled"]


# ---------------------------------------------------------------- the document


def test_document_fields() -> None:
    result = extract((DATA / "chelsea.jpg").read_bytes(), 5)
    assert set(result) == {
        "source", "options", "colors", "pixels", "quality", "timings_ms", "cpu_ms"
    }  # fmt: skip
    assert result["source"]["format"] == "JPEG"
    assert (result["source"]["width"], result["source"]["height"]) == (451, 300)
    assert result["options"]["k"] == 5
    assert result["options"]["color_space"] == "din99o"
    color = result["colors"][0]
    assert set(color) >= {"hex", "rgb", "proportion", "pixel_count", "oklch", "name", "text"}
    assert set(color["name"]) == {"css", "css_delta_e", "basic"}
    assert color["text"]["color"] in {"#000000", "#ffffff"}
    assert result["quality"]["fit_error_de00"] > 0
    assert set(result["timings_ms"]) == {"decode", "cluster"}
    assert set(result["cpu_ms"]) == {"decode", "cluster"}
    assert all(ms >= 0 for ms in result["cpu_ms"].values())
    check_contract(result, 5)


@pytest.mark.parametrize("space", COLOR_SPACES)
@pytest.mark.parametrize("k", [1, 3, 10])
def test_photo_contract_every_space(space: str, k: int) -> None:
    check_contract(extract((DATA / "chelsea.jpg").read_bytes(), k, color_space=space), k)


def test_deterministic_output() -> None:
    data = (DATA / "chelsea.jpg").read_bytes()
    assert without_timings(extract(data, 8)) == without_timings(extract(data, 8))


# ---------------------------------------------------------------- synthetic truth


@pytest.mark.parametrize(
    ("name", "max_de"),
    [("synth_flat.png", 1.0), ("synth_noise.png", 2.0), ("synth_flat_q85.jpg", 2.0),
     ("synth_rgba_half_transparent.png", 1.0)],
)  # fmt: skip
def test_synthetic_truth(name: str, max_de: float) -> None:
    truth = TRUTH[name]["truth"]
    result = extract((DATA / name).read_bytes(), 5)
    check_contract(result, 5)
    got = np.array([c["rgb"] for c in result["colors"]], dtype=np.uint8)
    shares = np.array([c["proportion"] for c in result["colors"]])
    true = np.array(truth["colours"], dtype=np.uint8)
    d = colorspace.delta_e00_srgb8(true[:, None, :], got[None, :, :])
    match = d.argmin(axis=1)
    assert len(set(match.tolist())) == 5
    assert d.min(axis=1).max() <= max_de
    assert np.abs(shares[match] - np.array(truth["props"])).max() <= 0.01
    if "transparent_fraction" in truth:
        px = result["pixels"]
        share = px["ignored_transparent"] / px["sampled"]
        assert share == pytest.approx(truth["transparent_fraction"], abs=0.01)


# ---------------------------------------------------------------- degenerate inputs


def test_k_is_clamped_to_distinct_colours() -> None:
    arr = np.zeros((10, 10, 3), dtype=np.uint8)
    arr[:, 5:] = (250, 250, 250)
    result = extract(png(arr), 8)
    assert [c["hex"] for c in result["colors"]] == ["#000000", "#fafafa"]
    assert [c["proportion"] for c in result["colors"]] == [0.5, 0.5]
    assert result["quality"]["k_returned"] == 2


def test_indistinguishable_colours_are_merged() -> None:
    arr = np.zeros((10, 10, 3), dtype=np.uint8)
    arr[:, :5] = (120, 120, 120)
    arr[:, 5:] = (120, 120, 121)
    result = extract(png(arr), 2, quantize_bits=8)
    assert len(result["colors"]) == 1
    assert result["colors"][0]["pixel_count"] == 100


def test_single_pixel_image() -> None:
    result = extract(png(np.array([[[1, 2, 3]]], dtype=np.uint8)), 5)
    assert result["colors"][0]["rgb"] == [1, 2, 3]
    assert result["colors"][0]["proportion"] == 1.0


def test_transparent_pixels_excluded_and_counted() -> None:
    arr = np.zeros((4, 4, 4), dtype=np.uint8)
    arr[..., 0] = 255
    arr[:, :1, 3] = 255  # one opaque red column
    arr[:, 1:, :3] = (0, 255, 0)  # green, but transparent
    result = extract(png(arr, "RGBA"), 3)
    assert [c["hex"] for c in result["colors"]] == ["#ff0000"]
    assert result["pixels"]["ignored_transparent"] == 12
    assert result["pixels"]["counted"] == 4


def test_alpha_threshold_is_an_option() -> None:
    arr = np.full((2, 2, 4), 100, dtype=np.uint8)
    assert extract(png(arr, "RGBA"), 1, alpha_threshold=100)["pixels"]["counted"] == 4
    with pytest.raises(errors.FullyTransparent):
        extract(png(arr, "RGBA"), 1, alpha_threshold=101)


def test_fully_transparent_raises() -> None:
    with pytest.raises(errors.FullyTransparent):
        extract(png(np.zeros((3, 3, 4), dtype=np.uint8), "RGBA"), 5)


def test_output_does_not_depend_on_thread_count() -> None:
    from threadpoolctl import threadpool_limits

    data = (DATA / "chelsea.jpg").read_bytes()
    with threadpool_limits(limits=1):
        one = without_timings(extract(data, 10))
    with threadpool_limits(limits=2):
        two = without_timings(extract(data, 10))
    assert one == two


@pytest.mark.parametrize(
    "kwargs",
    [{"k": 0}, {"k": 33}, {"k": 2.5}, {"color_space": "hsv"}, {"alpha_threshold": 300},
     {"sample_size": 0}, {"quantize_bits": 9}],
)  # fmt: skip
def test_invalid_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidOptions):
        extract((DATA / "synth_flat.png").read_bytes(), **kwargs)


def test_limits_are_passed_to_decode() -> None:
    data = (DATA / "chelsea.jpg").read_bytes()
    with pytest.raises(errors.TooLarge):
        extract(data, max_bytes=100)
    with pytest.raises(errors.TooLarge):
        extract(data, max_pixels=100)


def test_rgb_space_reproduces_tutorial_on_flat_image() -> None:
    result = extract((DATA / "synth_flat.png").read_bytes(), 5, color_space="rgb")
    got = {tuple(c["rgb"]) for c in result["colors"]}
    assert got == {tuple(c) for c in TRUTH["synth_flat.png"]["truth"]["colours"]}


# ---------------------------------------------------------------- properties

images = st.integers(min_value=1, max_value=24).flatmap(
    lambda w: st.integers(min_value=1, max_value=24).flatmap(
        lambda h: st.lists(
            st.tuples(*[st.integers(0, 255)] * 4), min_size=w * h, max_size=w * h
        ).map(lambda px: np.array(px, dtype=np.uint8).reshape(h, w, 4))
    )
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(images, st.integers(min_value=1, max_value=12), st.sampled_from(COLOR_SPACES))
def test_guarantees_hold_for_any_image(rgba: np.ndarray, k: int, space: str) -> None:
    data = png(rgba, "RGBA")
    opaque = int(np.count_nonzero(rgba[..., 3] >= 128))
    if opaque == 0:
        with pytest.raises(errors.FullyTransparent):
            extract(data, k, color_space=space)
        return
    result = extract(data, k, color_space=space)
    check_contract(result, k)
    assert result["pixels"]["counted"] == opaque
    assert result["pixels"]["ignored_transparent"] == rgba.shape[0] * rgba.shape[1] - opaque
    assert without_timings(extract(data, k, color_space=space)) == without_timings(result)


# ---------------------------------------------------------------- options and shares


def test_unknown_option_is_invalid() -> None:
    with pytest.raises(errors.InvalidOptions):
        extract((DATA / "synth_flat.png").read_bytes(), 5, no_such_option=1)


@pytest.mark.parametrize(
    "kwargs",
    [{"draft_pixels": 0}, {"quantize_bits": 0}, {"weight_power": -1.0}, {"max_iter": 0},
     {"refine_iters": -1}, {"n_init": 0}],
)  # fmt: skip
def test_invalid_tuning_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidOptions):
        extract((DATA / "synth_flat.png").read_bytes(), 5, **kwargs)


def test_shares_count_each_pixel_not_its_bin() -> None:
    """A bin straddling the border of two colours must not give all its pixels to one:
    each colour's ``pixel_count`` is the number of pixels whose own nearest colour it is."""
    result, each = _extract_random_pixels(60, 80)
    counts = [c["pixel_count"] for c in result["colors"]]
    assert counts == np.bincount(each, minlength=len(counts)).tolist()


def test_many_doubtful_pixels_are_split_by_an_even_subset() -> None:
    """Above EXACT_PIXELS doubtful pixels, a subset decides: counts stay whole, sum
    right, and stay close to the pixel-by-pixel truth."""
    from worker.palette.counting import EXACT_PIXELS

    result, each = _extract_random_pixels(200, 4 * EXACT_PIXELS // 200)
    got = np.array([c["pixel_count"] for c in result["colors"]])
    truth = np.bincount(each, minlength=len(got))
    assert got.sum() == truth.sum() == 4 * EXACT_PIXELS
    assert np.abs(got - truth).max() / truth.sum() < 0.005


def _extract_random_pixels(height: int, width: int) -> tuple[dict[str, Any], np.ndarray]:
    """(``extract`` of a PNG of random pixels at k=4 with 4-bit bins, whose bins straddle
    colour borders; each pixel's own nearest returned colour in the clustering space)."""
    from worker.palette.cluster import nearest

    rgb = np.random.default_rng(5).integers(0, 256, (height, width, 3)).astype(np.uint8)
    result = extract(png(rgb), 4, quantize_bits=4)
    assert result["pixels"]["counted"] == height * width, "every pixel counted, none sampled"
    din = SPACES["din99o"]
    colours = np.array([c["rgb"] for c in result["colors"]], dtype=np.float64)
    each = nearest(din.from_pixels(rgb.reshape(-1, 3)), din.from_srgb(colours))
    return result, each


def test_timings_and_pixel_facts_of_a_drafted_jpeg() -> None:
    result = extract((DATA / "chelsea.jpg").read_bytes(), 5)
    px = result["pixels"]
    assert px["draft_scale"] >= 1
    grid, decoded = px["grid_width"] * px["grid_height"], px["decoded_width"] * px["decoded_height"]
    assert grid <= 50_000 < decoded
    assert px["counted"] == px["grid_width"] * px["grid_height"]
    assert 0 < result["quality"]["fit_error_de00"] < 20

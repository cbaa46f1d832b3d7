"""Colour conversions and CIEDE2000 against published data and round trips."""

from __future__ import annotations

import numpy as np
import pytest

from worker.palette import colorspace

# Sharma, Wu & Dalal (2005), test pairs (Lab1, Lab2, ΔE00).
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA)
def test_ciede2000_matches_sharma_data(
    lab1: tuple[float, float, float], lab2: tuple[float, float, float], expected: float
) -> None:
    assert colorspace.ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert colorspace.ciede2000(lab2, lab1) == pytest.approx(expected, abs=1e-4)


def test_ciede2000_broadcasts_and_is_zero_on_identity() -> None:
    labs = colorspace.srgb8_to_lab(np.random.default_rng(0).integers(0, 256, (50, 3)))
    d = colorspace.ciede2000(labs[:, None, :], labs[None, :, :])
    assert d.shape == (50, 50)
    assert np.allclose(np.diag(d), 0.0)
    assert np.allclose(d, d.T)


def test_srgb_linear_round_trip() -> None:
    values = np.linspace(0, 1, 1001)
    assert np.allclose(colorspace.linear_to_srgb(colorspace.srgb_to_linear(values)), values)


def test_oklab_reference_values() -> None:
    """White is L=1 with no chroma; pure red matches Ottosson's published value."""
    white = colorspace.srgb8_to_oklab([255, 255, 255])
    assert white == pytest.approx([1.0, 0.0, 0.0], abs=1e-4)
    red = colorspace.srgb8_to_oklab([255, 0, 0])
    assert red == pytest.approx([0.6279554, 0.22486306, 0.1258463], abs=1e-4)


def test_every_srgb8_round_trips_through_each_space() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (5000, 3)).astype(np.uint8)
    assert np.array_equal(colorspace.oklab_to_srgb8(colorspace.srgb8_to_oklab(rgb)), rgb)
    assert np.array_equal(colorspace.lab_to_srgb8(colorspace.srgb8_to_lab(rgb)), rgb)
    lab = colorspace.srgb8_to_lab(rgb)
    assert np.allclose(colorspace.din99o_to_lab(colorspace.lab_to_din99o(lab)), lab)


def test_din99o_matches_the_din_6176_formula() -> None:
    """The trig-free form equals the standard's hue-angle form, greys and black included."""
    lab = np.vstack([
        np.random.default_rng(4).uniform([0, -128, -128], [100, 127, 127], (2000, 3)),
        np.array([[0, 0, 0], [50, 0, 0], [100, 0, 0], [50, 1e-12, 0]], dtype=np.float64),
    ])  # fmt: skip
    angle = np.radians(26.0)
    e = np.cos(angle) * lab[:, 1] + np.sin(angle) * lab[:, 2]
    f = 0.83 * (-np.sin(angle) * lab[:, 1] + np.cos(angle) * lab[:, 2])
    chroma = np.log1p(0.075 * np.hypot(e, f)) / 0.0435
    hue = np.arctan2(f, e) + angle
    expected = np.stack([303.67 * np.log1p(0.0039 * lab[:, 0]),
                         chroma * np.cos(hue), chroma * np.sin(hue)], axis=1)  # fmt: skip
    assert np.allclose(colorspace.lab_to_din99o(lab), expected, atol=1e-9)
    assert colorspace.lab_to_din99o(lab[0]).shape == (3,)


def test_lab_matches_skimage() -> None:
    skimage_color = pytest.importorskip("skimage.color")
    rgb = np.random.default_rng(2).integers(0, 256, (200, 3)).astype(np.uint8)
    ours = colorspace.srgb8_to_lab(rgb)
    theirs = skimage_color.rgb2lab(rgb[None].astype(np.float64) / 255.0)[0]
    assert np.allclose(ours, theirs, atol=1e-3)
    d_ours = colorspace.ciede2000(ours[:-1], ours[1:])
    d_theirs = skimage_color.deltaE_ciede2000(theirs[:-1], theirs[1:])
    assert np.allclose(d_ours, d_theirs, atol=1e-6)


def test_lch_hue_in_degrees() -> None:
    lch = colorspace.lab_to_lch([[50.0, 0.0, 10.0], [50.0, -10.0, 0.0]])
    assert lch[:, 1] == pytest.approx([10.0, 10.0])
    assert lch[:, 2] == pytest.approx([90.0, 180.0])


def test_relative_luminance_extremes() -> None:
    assert colorspace.relative_luminance([0, 0, 0]) == pytest.approx(0.0)
    assert colorspace.relative_luminance([255, 255, 255]) == pytest.approx(1.0)


def test_relative_luminance_is_the_same_alone_and_in_a_batch() -> None:
    rgbs = np.random.default_rng(3).integers(0, 256, (500, 3)).astype(np.uint8)
    batch = colorspace.relative_luminance(rgbs)
    assert all(batch[i] == colorspace.relative_luminance(rgb) for i, rgb in enumerate(rgbs))

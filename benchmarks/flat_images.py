"""Random flat graphics with a known answer: the images logos, flags, charts and UI
screenshots are made of.

Each image has 2-12 colours (pairwise at least ``MIN_DELTA_E`` ΔE00 apart, channels
20-235), drawn as one of three layouts: stripes (horizontal or vertical), rectangles on a
background, or discs on a background. Shapes are drawn on a 4x finer label grid and
box-averaged down, so their edges are anti-aliased like a rendered logo; the truth (each
colour and its share) comes from the label grid, before any encoding. Every colour covers
at least ``MIN_SHARE`` of the image. Saved as PNG, or as JPEG quality 85 with Pillow's
default 4:2:0 chroma subsampling (what most uploads are).

Deterministic: ``flat_image(seed)`` is the same image on every machine (numpy's PCG64).
Used by ``benchmarks/bench_flat.py`` and the core's unit tests.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab


def srgb8_to_lab(rgb: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """uint8 sRGB (..., 3) to CIELAB with scikit-image: the judge is not our own maths."""
    rgb = np.asarray(rgb, dtype=np.float64) / 255.0
    return np.asarray(rgb2lab(rgb.reshape(-1, 1, 3)).reshape(rgb.shape), dtype=np.float64)


def ciede2000(lab1: npt.ArrayLike, lab2: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """ΔE00 broadcasting like numpy (scikit-image's implementation)."""
    a, b = np.broadcast_arrays(np.asarray(lab1), np.asarray(lab2))
    return np.asarray(deltaE_ciede2000(a, b), dtype=np.float64)


WIDTH, HEIGHT = 320, 240
SUPERSAMPLE = 4
MIN_SHARE = 0.03
MIN_DELTA_E = 15.0
LAYOUTS = ("stripes", "rectangles", "discs")


@dataclass(frozen=True)
class FlatImage:
    """An encoded flat graphic and its truth."""

    data: bytes
    format: str
    layout: str
    colours: npt.NDArray[np.uint8]
    """(n, 3) the colours drawn."""
    shares: npt.NDArray[np.float64]
    """(n,) each colour's share of the image (label grid, before anti-aliasing)."""


def distinct_colours(
    rng: np.random.Generator, n: int, min_delta_e: float = MIN_DELTA_E
) -> npt.NDArray[np.uint8]:
    """``n`` random colours pairwise at least ``min_delta_e`` ΔE00 apart."""
    chosen: list[npt.NDArray[np.uint8]] = []
    while len(chosen) < n:
        candidate = rng.integers(20, 236, size=3).astype(np.uint8)
        if chosen:
            d = ciede2000(srgb8_to_lab(np.array(chosen)), srgb8_to_lab(candidate))
            if float(d.min()) < min_delta_e:
                continue
        chosen.append(candidate)
    return np.array(chosen, dtype=np.uint8)


def stripe_labels(rng: np.random.Generator, n: int, h: int, w: int) -> npt.NDArray[np.intp]:
    """Stripes with random widths, each at least ``MIN_SHARE`` (plus rounding)."""
    weights = rng.uniform(1.0, 4.0, size=n)
    shares = MIN_SHARE + (1.0 - n * MIN_SHARE) * weights / weights.sum()
    vertical = bool(rng.integers(2))
    length = w if vertical else h
    ends = np.round(np.cumsum(shares) * length).astype(int)
    line = np.searchsorted(ends, np.arange(length), side="right").clip(0, n - 1)
    rng.shuffle(order := np.arange(n))
    line = order[line]
    return np.broadcast_to(line[None, :] if vertical else line[:, None], (h, w)).copy()


def shape_labels(
    rng: np.random.Generator, n: int, h: int, w: int, kind: str
) -> npt.NDArray[np.intp]:
    """A background (label 0) with ``n - 1`` rectangles or discs, one per cell of a grid
    (so none hides another), each filling 45-90 % of its cell at a random offset."""
    labels = np.zeros((h, w), dtype=np.intp)
    shapes = n - 1
    cols = int(np.ceil(np.sqrt(shapes * w / h)))
    rows = int(np.ceil(shapes / cols))
    ch, cw = h // rows, w // cols
    cells = rng.permutation(rows * cols)[:shapes]
    yy, xx = np.mgrid[0:ch, 0:cw]
    for label, cell in enumerate(cells, start=1):
        top, left = (cell // cols) * ch, (cell % cols) * cw
        if kind == "discs":
            r = min(ch, cw) / 2 * rng.uniform(0.75, 0.95)
            cy, cx = rng.uniform(r, ch - r), rng.uniform(r, cw - r)
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        else:
            sh, sw = ch * rng.uniform(0.65, 0.95), cw * rng.uniform(0.65, 0.95)
            y0, x0 = rng.uniform(0, ch - sh), rng.uniform(0, cw - sw)
            mask = (yy >= y0) & (yy < y0 + sh) & (xx >= x0) & (xx < x0 + sw)
        labels[top : top + ch, left : left + cw][mask] = label
    return labels


def draw(
    labels: npt.NDArray[np.intp], colours: npt.NDArray[np.uint8], factor: int
) -> npt.NDArray[np.uint8]:
    """Colour the label grid and box-average it down by ``factor`` (anti-aliased edges)."""
    fine = Image.fromarray(labels.astype(np.uint8), "P")
    fine.putpalette(colours.reshape(-1).tolist())
    return np.asarray(fine.convert("RGB").reduce(factor))


def flat_image(seed: int, fmt: str = "PNG", n: int | None = None) -> FlatImage:
    """The flat graphic for ``seed``: random layout, 2-12 colours (or ``n``)."""
    rng = np.random.default_rng(seed)
    count = int(rng.integers(2, 13)) if n is None else n
    layout = LAYOUTS[int(rng.integers(len(LAYOUTS)))]
    colours = distinct_colours(rng, count)
    h, w = HEIGHT * SUPERSAMPLE, WIDTH * SUPERSAMPLE
    for _ in range(5):
        if layout == "stripes":
            labels = stripe_labels(rng, count, h, w)
        else:
            labels = shape_labels(rng, count, h, w, layout)
        shares = np.bincount(labels.ravel(), minlength=count) / labels.size
        if shares.min() >= MIN_SHARE:
            break
    else:  # shapes kept hiding each other: stripes always satisfy the floor
        layout = "stripes"
        labels = stripe_labels(rng, count, h, w)
        shares = np.bincount(labels.ravel(), minlength=count) / labels.size
    return FlatImage(encode(draw(labels, colours, SUPERSAMPLE), fmt), fmt, layout, colours, shares)


def encode(rgb: npt.NDArray[np.uint8], fmt: str) -> bytes:
    """PNG, or JPEG quality 85 with Pillow's default 4:2:0 subsampling."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        Image.fromarray(rgb).save(buffer, "JPEG", quality=85)
    else:
        Image.fromarray(rgb).save(buffer, "PNG")
    return buffer.getvalue()


def noisy_image(seed: int, n: int = 5, sigma: float = 10.0) -> FlatImage:
    """``n`` horizontal stripes plus i.i.d. Gaussian noise (``sigma`` per channel), PNG."""
    rng = np.random.default_rng(seed)
    colours = distinct_colours(rng, n, 20.0)
    labels = stripe_labels(rng, n, HEIGHT, WIDTH)
    shares = np.bincount(labels.ravel(), minlength=n) / labels.size
    noisy = colours[labels].astype(np.float64) + rng.normal(0.0, sigma, size=(*labels.shape, 3))
    rgb = np.clip(np.floor(noisy + 0.5), 0, 255).astype(np.uint8)
    return FlatImage(encode(rgb, "PNG"), "PNG", "stripes+noise", colours, shares)


def worst_matches(
    truth: npt.NDArray[np.uint8], returned: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float64]:
    """For each true colour, ΔE00 to the nearest returned colour."""
    d = ciede2000(srgb8_to_lab(truth)[:, None, :], srgb8_to_lab(returned)[None, :, :])
    return np.asarray(d.min(axis=1), dtype=np.float64)

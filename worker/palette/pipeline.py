"""Image bytes → palette: the public core every adapter (Celery task, CLI) calls.

One job, read top to bottom, each step a module of its own::

    decode      bytes → a grid of <= sample_size sRGB pixels (JPEG draft first), oriented,
                colour-managed, one uint32 per pixel; alpha apart         (decode)
    sample      drop transparent pixels                                   (quantize)
    quantise    5-bit bins: bin means + counts, and each pixel's bin      (quantize)
    space       bins into the clustering space, by name                   (spaces)
    k           the requested k, or chosen from the fit curve (k="auto")  (auto)
    fit         weighted k-means++ → Lloyd → Weiszfeld → swaps, merge JND (fit, cluster)
    count       every pixel for its nearest colour                        (counting)
    describe    names, OKLCH, text colour, shares by largest remainder    (describe)

Guarantees (Hypothesis-tested in tests/unit/worker/palette/test_palette.py):
- 1 <= len(colors) <= k (16 for k="auto"); k is clamped to the distinct colours present;
- colours sorted by proportion, descending (ties: by hex), no two with the same hex;
- every ``pixel_count`` > 0 and they sum to ``pixels.counted``; every proportion > 0
  and ``math.fsum`` of the proportions is exactly 1 (integer millionths, largest
  remainder);
- rgb channels are ints in 0-255;
- the same bytes and options give the same output, ``timings_ms`` and ``cpu_ms`` (this
  thread's CPU time per step) aside, whatever the
  thread count (k-means runs single-threaded with a fixed seed);
- pixels with alpha below ``alpha_threshold`` are excluded and counted; when none is
  left, ``errors.FullyTransparent``; bad options raise ``errors.InvalidOptions``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from worker import errors
from worker.palette import auto, spaces
from worker.palette.cluster import single_threaded, squared_distances
from worker.palette.counting import exact_counts
from worker.palette.decode import DecodedImage, decode
from worker.palette.describe import describe_colors
from worker.palette.fit import Bins, fit_error, palette_colours
from worker.palette.options import K, Options, draft_target, make_options
from worker.palette.quantize import PackedArray, quantize_indexed, sample_pixels


class Palette(NamedTuple):
    """What the clustering found, before it is described."""

    rgbs: npt.NDArray[np.uint8]
    pixel_counts: npt.NDArray[np.int64]
    fit: float
    distinct: int


def extract(
    data: bytes,
    k: K = 5,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    max_decode_bytes: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The palette part of the result document for image ``data``.

    ``k``: 1-32 colours, or ``"auto"`` (the core chooses 1-16: ``worker.palette.auto``).
    ``options``: any field of ``Options`` (``color_space``, ``quantize_bits``, ...).
    Raises a ``worker.errors.PermanentError`` subclass for bad input or options.
    """
    opts = make_options(k, options)
    started, cpu_started = time.perf_counter(), time.thread_time()
    image = decode(
        data,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        max_decode_bytes=max_decode_bytes,
        target_pixels=draft_target(opts),
        sample_pixels=opts.sample_size,
    )
    decode_ms = (time.perf_counter() - started) * 1000.0
    decode_cpu_ms = (time.thread_time() - cpu_started) * 1000.0
    result = extract_image(image, opts)
    result["timings_ms"] = {"decode": round(decode_ms, 3), **result["timings_ms"]}
    result["cpu_ms"] = {"decode": round(decode_cpu_ms, 3), **result["cpu_ms"]}
    return result


def extract_image(image: DecodedImage, options: Options) -> dict[str, Any]:
    """Palette of an already decoded image (the pure, Pillow-free half of ``extract``)."""
    options = options.validated()
    started, cpu_started = time.perf_counter(), time.thread_time()
    pixels, ignored = sample_pixels(image.packed, image.alpha, options)
    if len(pixels) == 0:
        raise errors.FullyTransparent(
            f"no pixel has alpha >= {options.alpha_threshold}; nothing to take colours from"
        )
    with single_threaded():
        palette = palette_of_pixels(pixels, options)
    cluster_ms = (time.perf_counter() - started) * 1000.0
    cluster_cpu_ms = (time.thread_time() - cpu_started) * 1000.0
    return {
        "source": dict(image.source),
        "options": asdict(options),
        "colors": describe_colors(palette.rgbs, palette.pixel_counts),
        "pixels": {
            "counted": len(pixels),
            "ignored_transparent": int(ignored),
            "sampled": int(len(pixels) + ignored),
            "distinct_quantized": palette.distinct,
            **image.decoding,
        },
        "quality": {
            "k_requested": options.k,
            "k_returned": len(palette.rgbs),
            "fit_error_de00": round(palette.fit, 3),
        },
        "timings_ms": {"cluster": round(cluster_ms, 3)},
        "cpu_ms": {"cluster": round(cluster_cpu_ms, 3)},
    }


def palette_of_pixels(pixels: PackedArray, options: Options) -> Palette:
    """Opaque packed pixels → the palette's colours, pixel counts, fit and bin count."""
    space = spaces.get(options.color_space)
    rgb, counts, pixel_bin = quantize_indexed(pixels, options.quantize_bits)
    bins = Bins(rgb, space.from_srgb(rgb), counts)
    k = auto.choose_k(bins, options) if options.auto else int(options.k)
    rgbs = palette_colours(bins, k, options, space)
    palette = space.from_srgb(rgbs.astype(np.float64))
    distances = np.sqrt(squared_distances(bins.features, palette))
    fit = fit_error(bins, rgbs, np.argmin(distances, axis=1))
    pixel_counts = exact_counts(
        pixels, pixel_bin, counts, distances, palette, space, options.quantize_bits
    )
    used = pixel_counts > 0
    return Palette(rgbs[used], pixel_counts[used], fit, len(counts))

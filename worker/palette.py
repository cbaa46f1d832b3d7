"""Image bytes → palette: the public core every adapter (Celery task, CLI) calls.

Pipeline, each step a small pure function::

    decode (JPEG draft to ~sample_size)  →  sample (strided, alpha-masked)
    →  quantise (bins of 2^bits levels per channel, bin means + counts)
    →  cluster (weighted k-means++ in DIN99o on the distinct bins, fixed seed, 1 thread)
    →  round to sRGB, merge colours closer than a JND, re-assign every bin for shares
    →  describe (names, OKLCH, text colour), sort, round shares by largest remainder.

Guarantees (Hypothesis-tested in tests/unit/test_palette.py):
- 1 <= len(colors) <= k; k is clamped to the distinct colours present;
- colours sorted by proportion, descending (ties: by hex), no two with the same hex;
- every ``pixel_count`` > 0 and they sum to ``pixels.counted``; every proportion > 0
  and ``math.fsum`` of the proportions is exactly 1 (integer millionths, largest
  remainder);
- rgb channels are ints in 0-255;
- the same bytes and options give the same output, ``timings_ms`` aside, whatever the
  thread count (k-means runs single-threaded with a fixed seed);
- pixels with alpha below ``alpha_threshold`` are excluded and counted; when none is
  left, ``errors.FullyTransparent``; bad options raise ``errors.InvalidOptions``.

Why DIN99o by default: the palette is judged by CIEDE2000 and k-means minimises
Euclidean distances; DIN99o is the space whose Euclidean distance tracks ΔE00 best
(correlation 0.97 vs 0.80 for CIELAB on random pairs), and it gave the lowest fit error
of oklab / cielab / din99o on the corpus (see benchmarks/bench_palette.py).
``color_space="rgb"`` clusters plain sRGB values, the original tutorial's method.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from worker import colorspace, errors, naming
from worker.decode import DecodedImage, decode
from worker.render import largest_remainder

COLOR_SPACES = ("oklab", "cielab", "din99o", "rgb")
MAX_K = 32
SEED = 0
"""k-means++ seed: part of the output contract (same bytes → same palette)."""
SHARE_UNITS = 1_000_000
"""Proportions are whole millionths, so their sum is exactly 1."""

FloatArray = npt.NDArray[np.float64]
UInt8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Options:
    """Every option that changes the palette; echoed in the JSON's ``options``."""

    k: int = 5
    color_space: str = "din99o"
    alpha_threshold: int = 128
    sample_size: int = 200_000
    quantize_bits: int = 4
    merge_delta_e: float = 1.0
    n_init: int = 3
    seed: int = SEED

    def validated(self) -> Options:
        """Raise ``InvalidOptions`` naming the first option out of range."""
        checks = [
            (isinstance(self.k, int) and 1 <= self.k <= MAX_K, f"k must be 1-{MAX_K}"),
            (self.color_space in COLOR_SPACES, f"color_space must be one of {COLOR_SPACES}"),
            (0 <= self.alpha_threshold <= 255, "alpha_threshold must be 0-255"),
            (self.sample_size >= 1, "sample_size must be >= 1"),
            (1 <= self.quantize_bits <= 8, "quantize_bits must be 1-8"),
            (self.merge_delta_e >= 0, "merge_delta_e must be >= 0"),
            (self.n_init >= 1, "n_init must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise errors.InvalidOptions(f"{message} (got {self!r})")
        return self


def extract(
    data: bytes,
    k: int = 5,
    *,
    color_space: str = "din99o",
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    alpha_threshold: int = 128,
    sample_size: int = 200_000,
    quantize_bits: int = 4,
    merge_delta_e: float = 1.0,
) -> dict[str, Any]:
    """The palette part of the result document for image ``data``.

    Raises a ``worker.errors.PermanentError`` subclass for bad input or options.
    """
    options = Options(
        k=k,
        color_space=color_space,
        alpha_threshold=alpha_threshold,
        sample_size=sample_size,
        quantize_bits=quantize_bits,
        merge_delta_e=merge_delta_e,
    ).validated()
    started = time.perf_counter()
    image = decode(
        data, max_bytes=max_bytes, max_pixels=max_pixels, target_pixels=draft_target(options)
    )
    decode_ms = (time.perf_counter() - started) * 1000.0
    result = extract_image(image, options)
    result["timings_ms"] = {"decode": round(decode_ms, 3), **result["timings_ms"]}
    return result


def draft_target(options: Options) -> int:
    """Pixels to ask a JPEG draft for: a quarter of the sample cap.

    Draft scales halve each side, so a draft lands between 1x and 4x its target, i.e.
    within the cap: drafted JPEGs are then counted whole, never strided.
    """
    return max(1, options.sample_size // 4)


def extract_image(image: DecodedImage, options: Options) -> dict[str, Any]:
    """Palette of an already decoded image (the pure, Pillow-free half of ``extract``)."""
    options = options.validated()
    started = time.perf_counter()
    pixels, ignored = sample_pixels(image.rgb, image.alpha, options)
    if len(pixels) == 0:
        raise errors.FullyTransparent(
            f"no pixel has alpha >= {options.alpha_threshold}; nothing to take colours from"
        )
    bins, counts = quantize(pixels, options.quantize_bits)
    rgbs, pixel_counts, fit = palette_of_bins(bins, counts, options)
    cluster_ms = (time.perf_counter() - started) * 1000.0
    return {
        "source": dict(image.source),
        "options": asdict(options),
        "colors": describe_colors(rgbs, pixel_counts),
        "pixels": {
            "counted": len(pixels),
            "ignored_transparent": int(ignored),
            "sampled": int(len(pixels) + ignored),
            "distinct_quantized": len(counts),
            **image.decoding,
        },
        "quality": {
            "k_requested": options.k,
            "k_returned": len(rgbs),
            "fit_error_de00": round(fit, 3),
        },
        "timings_ms": {"cluster": round(cluster_ms, 3)},
    }


def sample_pixels(
    rgb: UInt8Array, alpha: UInt8Array | None, options: Options
) -> tuple[UInt8Array, int]:
    """(opaque pixels (N, 3) uint8, number of sampled pixels dropped as transparent).

    A deterministic strided sample of at most ``sample_size`` pixels: evenly spread over
    the image, the same every run, and cheap (no random generator, no sort). Images up to
    the cap (every drafted JPEG, the 500x400 synthetic images) are counted whole, so
    their shares are exact.
    """
    flat = rgb.reshape(-1, 3)
    index = strided_index(len(flat), options.sample_size)
    sample = flat if index is None else flat[index]
    if alpha is None:
        return np.ascontiguousarray(sample), 0
    alpha_flat = alpha.reshape(-1)
    alpha_sample = alpha_flat if index is None else alpha_flat[index]
    keep = alpha_sample >= options.alpha_threshold
    return np.ascontiguousarray(sample[keep]), int(len(keep) - np.count_nonzero(keep))


def strided_index(n: int, size: int) -> npt.NDArray[np.intp] | None:
    """Indices of ``size`` evenly spaced items out of ``n``, or None to take all."""
    if n <= size:
        return None
    return (np.arange(size, dtype=np.int64) * n // size).astype(np.intp)


def quantize(pixels: UInt8Array, bits: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Group pixels into bins of 2^(8-bits) levels per channel.

    Returns each non-empty bin's *mean* colour (float sRGB 0-255, so quantising loses
    no accuracy in the centres) and its pixel count, ordered by bin index.
    """
    shift = 8 - bits
    q = (pixels >> shift).astype(np.int64)
    index = (q[:, 0] << (2 * bits)) | (q[:, 1] << bits) | q[:, 2]
    size = 1 << (3 * bits)
    counts = np.bincount(index, minlength=size)
    present = np.flatnonzero(counts)
    sums = np.stack(
        [np.bincount(index, weights=pixels[:, c], minlength=size)[present] for c in range(3)],
        axis=1,
    )
    kept = counts[present]
    return sums / kept[:, None], kept.astype(np.int64)


def to_space(rgb255: FloatArray, space: str) -> FloatArray:
    """Float sRGB 0-255 to the clustering space."""
    if space == "rgb":
        return rgb255
    linear = colorspace.srgb_to_linear(rgb255 / 255.0)
    if space == "oklab":
        return colorspace.linear_to_oklab(linear)
    if space == "din99o":
        return colorspace.lab_to_din99o(colorspace.linear_to_lab(linear))
    return colorspace.linear_to_lab(linear)


def from_space(points: FloatArray, space: str) -> UInt8Array:
    """Clustering space back to uint8 sRGB (gamut-clipped, rounded)."""
    if space == "rgb":
        return colorspace.to_uint8(points / 255.0)
    if space == "oklab":
        return colorspace.oklab_to_srgb8(points)
    if space == "din99o":
        return colorspace.lab_to_srgb8(colorspace.din99o_to_lab(points))
    return colorspace.lab_to_srgb8(points)


def palette_of_bins(
    bins: FloatArray, counts: npt.NDArray[np.int64], options: Options
) -> tuple[UInt8Array, npt.NDArray[np.int64], float]:
    """(colours (m, 3) uint8, pixel counts (m,), fit error ΔE00) for weighted bins."""
    features = to_space(bins, options.color_space)
    k = min(options.k, len(bins))
    centres = kmeans_centres(features, counts, k, options)
    rgbs = np.unique(from_space(centres, options.color_space), axis=0)
    rgbs = merge_close(rgbs, features, counts, options)
    labels = nearest(features, to_space(rgbs.astype(np.float64), options.color_space))
    pixel_counts = np.bincount(labels, weights=counts, minlength=len(rgbs)).astype(np.int64)
    fit = fit_error(bins, counts, rgbs, labels)
    used = pixel_counts > 0
    rgbs, pixel_counts = rgbs[used], pixel_counts[used]
    return rgbs, pixel_counts, fit


def kmeans_centres(
    features: FloatArray, weights: npt.NDArray[np.int64], k: int, options: Options
) -> FloatArray:
    """Weighted k-means++ centres; exact when there are no more points than clusters."""
    if len(features) <= k:
        return features
    from sklearn.cluster import KMeans  # deferred: the api_stub never pays for sklearn

    model = KMeans(n_clusters=k, init="k-means++", n_init=options.n_init, random_state=options.seed)
    with single_threaded():
        model.fit(features, sample_weight=weights.astype(np.float64))
    return np.asarray(model.cluster_centers_, dtype=np.float64)


def nearest(points: FloatArray, centres: FloatArray) -> npt.NDArray[np.intp]:
    """Index of the nearest centre (squared Euclidean) for each point; ties → lowest."""
    d = (
        np.sum(points**2, axis=1)[:, None]
        - 2.0 * points @ centres.T
        + np.sum(centres**2, axis=1)[None, :]
    )
    return np.argmin(d, axis=1)


def merge_close(
    rgbs: UInt8Array, features: FloatArray, counts: npt.NDArray[np.int64], options: Options
) -> UInt8Array:
    """Merge colours closer than ``merge_delta_e`` (ΔE00), closest pair first.

    A merged colour is the weighted mean of the bins the pair covers, so it lands where
    a single cluster would have.
    """
    rgbs = rgbs.copy()
    while len(rgbs) > 1:
        lab = colorspace.srgb8_to_lab(rgbs)
        d = colorspace.ciede2000(lab[:, None, :], lab[None, :, :])
        d[np.diag_indices(len(rgbs))] = np.inf
        i, j = divmod(int(np.argmin(d)), len(rgbs))
        if d[i, j] >= options.merge_delta_e:
            break
        labels = nearest(features, to_space(rgbs.astype(np.float64), options.color_space))
        member = (labels == i) | (labels == j)
        merged = _weighted_mean(features, counts, member, fallback=features[0])
        keep = [n for n in range(len(rgbs)) if n not in (i, j)]
        rgbs = np.unique(
            np.vstack([rgbs[keep], from_space(merged[None, :], options.color_space)]), axis=0
        )
    return rgbs


def _weighted_mean(
    features: FloatArray,
    counts: npt.NDArray[np.int64],
    member: npt.NDArray[np.bool_],
    fallback: FloatArray,
) -> FloatArray:
    total = counts[member].sum()
    if total == 0:
        return fallback
    return (features[member] * counts[member, None]).sum(axis=0) / total


def fit_error(
    bins: FloatArray,
    counts: npt.NDArray[np.int64],
    rgbs: UInt8Array,
    labels: npt.NDArray[np.intp],
) -> float:
    """Count-weighted mean ΔE00 from each quantised colour to its assigned palette colour.

    The assignment is the nearest colour in the clustering space, so this is an upper
    bound of the nearest-by-ΔE00 error (tight in DIN99o), at 1/k of its cost.
    """
    bin_lab = colorspace.linear_to_lab(colorspace.srgb_to_linear(bins / 255.0))
    palette_lab = colorspace.srgb8_to_lab(rgbs)
    d = colorspace.ciede2000(bin_lab, palette_lab[labels])
    return float(np.sum(d * counts) / np.sum(counts))


def describe_colors(rgbs: UInt8Array, pixel_counts: npt.NDArray[np.int64]) -> list[dict[str, Any]]:
    """The ``colors`` list: sorted by count desc then hex, shares in exact millionths."""
    hexes = [to_hex(rgb) for rgb in rgbs]
    order = sorted(range(len(rgbs)), key=lambda i: (-int(pixel_counts[i]), hexes[i]))
    counts = [int(pixel_counts[i]) for i in order]
    units = shares_in_units(counts)
    colors = []
    for position, i in enumerate(order):
        rgb = [int(v) for v in rgbs[i]]
        oklch = colorspace.srgb8_to_oklch(rgbs[i])
        colors.append(
            {
                "hex": hexes[i],
                "rgb": rgb,
                "proportion": units[position] / SHARE_UNITS,
                "pixel_count": counts[position],
                "oklch": [round(float(oklch[0]), 4), round(float(oklch[1]), 4),
                          round(float(oklch[2]), 1)],
                **naming.describe(rgb),
            }
        )  # fmt: skip
    return colors


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


_CONTROLLER: Any = None


@contextmanager
def single_threaded() -> Iterator[None]:
    """Limit OpenMP/BLAS to one thread around k-means.

    Why: the problems are small (a few thousand weighted points), where threads cost more
    than they save, Celery already runs one process per core, and sklearn's multi-thread
    reduction order would make centres depend on the thread count.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1):
        yield

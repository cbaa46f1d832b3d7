"""Image bytes → palette: the public core every adapter (Celery task, CLI) calls.

Pipeline, each step a small pure function::

    decode (JPEG draft down to >= draft_pixels, then a nearest-neighbour grid of
            <= sample_size pixels, oriented and colour-managed; one uint32 per pixel)
    →  sample (drop transparent pixels)
    →  quantise (5-bit bins: bin means + counts, and each pixel's bin)
    →  cluster the bins in DIN99o: weighted k-means++ (seeded) → scikit-learn's Lloyd
       kernel (weights count^p, p 1-1.25, 1 thread) → a Weiszfeld step (towards each
       cluster's geometric median)
    →  round to sRGB, merge colours closer than a JND
    →  count every pixel for its nearest colour (bins far from a border counted whole,
       at most EXACT_PIXELS of the others converted one by one)
    →  describe (names, OKLCH, text colour), sort, round shares by largest remainder.

Where the time goes (``bench_palette.py --profile``; a 0.3 MP JPEG takes ~4 ms): the
JPEG decode ~1 ms, then a dozen numpy steps of 0.1-0.7 ms each on 50,000 pixels or
~3,000 bins. Every step works on the sample grid, never on the full image.

Guarantees (Hypothesis-tested in tests/unit/worker/palette/test_palette.py):
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

Why DIN99o by default: the palette is judged by mean CIEDE2000 and k-means minimises
Euclidean distances; DIN99o is the space whose Euclidean distance tracks ΔE00 best
(correlation 0.97 vs 0.80 for CIELAB on random pairs), and it gave the lowest fit error
of oklab / cielab / din99o on the corpus (see benchmarks/bench_palette.py). Why the
count^p weights and the Weiszfeld steps: see ``kmeans_centres``.
``color_space="rgb"`` clusters plain sRGB values, the original tutorial's method.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from worker import errors
from worker.palette import colorspace, naming
from worker.palette.cluster import (
    SEED,
    kmeans_plusplus,
    lloyd,
    mean_distance,
    nearest,
    single_threaded,
    squared_distances,
    weiszfeld,
)
from worker.palette.decode import DecodedImage, decode, pack_rgb
from worker.palette.render import largest_remainder

COLOR_SPACES = ("oklab", "cielab", "din99o", "rgb")
MAX_K = 32
FIT_DRAWS = 1024
"""Pixels (drawn systematically from the weighted bins) the reported fit error averages."""
SHARE_UNITS = 1_000_000
"""Proportions are whole millionths, so their sum is exactly 1."""

FloatArray = npt.NDArray[np.float64]
UInt8Array = npt.NDArray[np.uint8]
PackedArray = npt.NDArray[np.uint32]
"""Pixels as r | g << 8 | b << 16 in one uint32 each (``worker.decode.DecodedImage``)."""


@dataclass(frozen=True)
class Options:
    """Every option that changes the palette; echoed in the JSON's ``options``."""

    k: int = 5
    color_space: str = "din99o"
    alpha_threshold: int = 128
    sample_size: int = 50_000
    draft_pixels: int = 200_000
    quantize_bits: int = 5
    merge_delta_e: float = 1.0
    n_init: int = 1
    weight_power: float | None = None
    max_iter: int = 10
    refine_iters: int = 1
    seed: int = SEED

    def validated(self) -> Options:
        """Raise ``InvalidOptions`` naming the first option out of range."""
        checks = [
            (isinstance(self.k, int) and 1 <= self.k <= MAX_K, f"k must be 1-{MAX_K}"),
            (self.color_space in COLOR_SPACES, f"color_space must be one of {COLOR_SPACES}"),
            (0 <= self.alpha_threshold <= 255, "alpha_threshold must be 0-255"),
            (self.sample_size >= 1, "sample_size must be >= 1"),
            (self.draft_pixels >= 1, "draft_pixels must be >= 1"),
            (1 <= self.quantize_bits <= 8, "quantize_bits must be 1-8"),
            (self.merge_delta_e >= 0, "merge_delta_e must be >= 0"),
            (self.n_init >= 1, "n_init must be >= 1"),
            (
                self.weight_power is None or 0.0 <= self.weight_power <= 3.0,
                "weight_power must be None (auto) or 0-3",
            ),
            (1 <= self.max_iter <= 300, "max_iter must be 1-300"),
            (0 <= self.refine_iters <= 100, "refine_iters must be 0-100"),
        ]
        for ok, message in checks:
            if not ok:
                raise errors.InvalidOptions(f"{message} (got {self!r})")
        return self


def extract(
    data: bytes,
    k: int = 5,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The palette part of the result document for image ``data``.

    ``options``: any field of ``Options`` (``color_space``, ``quantize_bits``, ...).
    Raises a ``worker.errors.PermanentError`` subclass for bad input or options.
    """
    opts = make_options(k, options)
    started = time.perf_counter()
    image = decode(
        data,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        target_pixels=draft_target(opts),
        sample_pixels=opts.sample_size,
    )
    decode_ms = (time.perf_counter() - started) * 1000.0
    result = extract_image(image, opts)
    result["timings_ms"] = {"decode": round(decode_ms, 3), **result["timings_ms"]}
    return result


def make_options(k: int, options: dict[str, Any]) -> Options:
    """Validated ``Options``; an unknown option name is an ``InvalidOptions`` too."""
    try:
        return Options(k=k, **options).validated()
    except TypeError as exc:
        raise errors.InvalidOptions(f"unknown option: {exc}") from exc


def draft_target(options: Options) -> int:
    """Pixels to ask a JPEG draft for: the DCT scaling stops at ``draft_pixels``.

    Why well above ``sample_size``: a draft *averages* blocks, and on fine texture that
    moves shares (china.jpg: up to 3.7 pp off the full-resolution truth at 1/4 scale,
    3.1 pp at 1/2), while a strided *sample* of full-resolution pixels stays within
    0.25 pp on every corpus photo (``benchmarks/bench_palette.py``, share table). So
    photos up to ~0.8 MP decode whole, larger ones only as far down as 200k pixels
    (a 12 MP JPEG at 1/4), and the sample does the rest.
    """
    return max(1, options.draft_pixels)


def extract_image(image: DecodedImage, options: Options) -> dict[str, Any]:
    """Palette of an already decoded image (the pure, Pillow-free half of ``extract``)."""
    options = options.validated()
    started = time.perf_counter()
    pixels, ignored = sample_pixels(image.packed, image.alpha, options)
    if len(pixels) == 0:
        raise errors.FullyTransparent(
            f"no pixel has alpha >= {options.alpha_threshold}; nothing to take colours from"
        )
    with single_threaded():
        rgbs, pixel_counts, fit, distinct = palette_of_pixels(pixels, options)
    cluster_ms = (time.perf_counter() - started) * 1000.0
    return {
        "source": dict(image.source),
        "options": asdict(options),
        "colors": describe_colors(rgbs, pixel_counts),
        "pixels": {
            "counted": len(pixels),
            "ignored_transparent": int(ignored),
            "sampled": int(len(pixels) + ignored),
            "distinct_quantized": distinct,
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
    packed: PackedArray, alpha: UInt8Array | None, options: Options
) -> tuple[PackedArray, int]:
    """(opaque packed pixels (N,), number of sampled pixels dropped as transparent).

    A deterministic strided sample of at most ``sample_size`` pixels: evenly spread over
    the image, the same every run, and cheap (no random generator, no sort). ``extract``
    hands over a grid already thinned to that size (``decode(sample_pixels=...)``), so
    this only flattens it and drops transparent pixels; a bigger array given directly is
    thinned here. 5x10^4 pixels put every share within ~0.2 pp of the full image's.
    """
    flat = packed.reshape(-1)
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


def quantize_indexed(
    pixels: PackedArray, bits: int
) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """Group packed pixels into bins of 2^(8-bits) levels per channel.

    Returns each non-empty bin's *mean* colour (float sRGB 0-255, so quantising loses
    no accuracy in the centres), its pixel count, ordered by bin index, and for each
    pixel the row of its bin in those arrays.
    """
    shift, mask = 8 - bits, (1 << bits) - 1
    index = (
        ((pixels >> shift) & mask)
        | ((pixels >> (8 + shift - bits)) & (mask << bits))
        | ((pixels >> (16 + shift - 2 * bits)) & (mask << (2 * bits)))
    ).astype(np.intp)
    size = 1 << (3 * bits)
    counts = np.bincount(index, minlength=size)
    present = np.flatnonzero(counts)
    row = np.zeros(size, dtype=np.intp)
    row[present] = np.arange(len(present))
    pixel_bin = row[index]
    kept = counts[present]
    channels = unpack(pixels)
    sums = np.stack(
        [np.bincount(pixel_bin, weights=channels[:, c], minlength=len(present)) for c in range(3)],
        axis=1,
    )
    return sums / kept[:, None], kept.astype(np.int64), pixel_bin


def pack(rgb: UInt8Array) -> PackedArray:
    """(N, 3) uint8 → (N,) packed uint32 (the layout of ``DecodedImage.packed``)."""
    return pack_rgb(np.asarray(rgb, dtype=np.uint8).reshape(-1, 3))


def unpack(pixels: PackedArray) -> UInt8Array:
    """(N,) packed → (N, 3) uint8 view (no copy)."""
    return pixels.view(np.uint8).reshape(-1, 4)[:, :3]


def to_space(rgb255: FloatArray, space: str) -> FloatArray:
    """Float sRGB 0-255 to the clustering space."""
    if space == "rgb":
        return rgb255
    return linear_to_space(colorspace.srgb_to_linear(rgb255 / 255.0), space)


def pixels_to_space(pixels: PackedArray, space: str) -> FloatArray:
    """Packed sRGB pixels to the clustering space (linearised by table lookup: cheaper)."""
    rgb = unpack(pixels)
    if space == "rgb":
        return rgb.astype(np.float64)
    return linear_to_space(colorspace.srgb8_to_linear(rgb), space)


def linear_to_space(linear: FloatArray, space: str) -> FloatArray:
    """Linear-light sRGB to one of the perceptual clustering spaces."""
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


def palette_of_pixels(
    pixels: PackedArray, options: Options
) -> tuple[UInt8Array, npt.NDArray[np.int64], float, int]:
    """(colours (m, 3) uint8, pixel counts (m,), fit error ΔE00, distinct bins)."""
    bins, counts, pixel_bin = quantize_indexed(pixels, options.quantize_bits)
    features = to_space(bins, options.color_space)
    rgbs = palette_colours(features, counts, options)
    palette = to_space(rgbs.astype(np.float64), options.color_space)
    distances = np.sqrt(squared_distances(features, palette))
    labels = np.argmin(distances, axis=1)
    fit = fit_error(bins, counts, rgbs, labels)
    pixel_counts = exact_counts(pixels, pixel_bin, counts, distances, palette, options)
    used = pixel_counts > 0
    return rgbs[used], pixel_counts[used], fit, len(bins)


def palette_colours(
    features: FloatArray, counts: npt.NDArray[np.int64], options: Options
) -> UInt8Array:
    """Cluster the bins; distinct uint8 colours after merging near-duplicates."""
    k = min(options.k, len(features))
    centres = kmeans_centres(features, counts, k, options)
    rgbs = np.unique(from_space(centres, options.color_space), axis=0)
    return merge_close(rgbs, features, counts, options)


EXACT_PIXELS = 10_000
"""Most pixels ``exact_counts`` converts one by one (~0.35 ms in DIN99o)."""
AMBIGUITY_PER_LEVEL = {"din99o": 0.625, "cielab": 0.625, "oklab": 0.00625, "rgb": 3.47}
"""Margin, per sRGB level of bin width, under which a bin's pixels are assigned one by one.

In rgb it is the exact bound (2 x the bin's half-diagonal, sqrt(3)); in the perceptual
spaces it was measured on the corpus: at 5 bits it makes the counts of the 7 photos equal
to a pixel-by-pixel assignment within 0.05 pp, re-assigning 10-80 % of the pixels.
"""


def exact_counts(
    pixels: PackedArray,
    pixel_bin: npt.NDArray[np.intp],
    bin_counts: npt.NDArray[np.int64],
    distances: FloatArray,
    palette: FloatArray,
    options: Options,
) -> npt.NDArray[np.int64]:
    """Pixels per palette colour, each pixel counted for its own nearest colour.

    ``distances``: (bins, colours) in the clustering space. Why not count per bin: a bin
    straddling the border of two clusters would give all its pixels to one of them (up to
    1.6 pp of share error at 5 bits on the corpus). A bin whose mean is clearly nearer one
    colour (margin above ``AMBIGUITY_PER_LEVEL`` x bin width) is counted whole; the
    pixels of the other bins are converted and assigned one by one, at most
    ``EXACT_PIXELS`` of them: when more are in doubt, an even subset of them decides how
    all of them split (largest remainder, so counts stay whole and sum right).
    """
    bin_labels = np.argmin(distances, axis=1)
    if len(palette) == 1:
        return np.array([len(pixels)], dtype=np.int64)
    two = np.partition(distances, 1, axis=1)[:, :2]
    width = 1 << (8 - options.quantize_bits)
    doubtful_bin = two[:, 1] - two[:, 0] < AMBIGUITY_PER_LEVEL[options.color_space] * width
    clear = ~doubtful_bin
    counted = np.bincount(bin_labels[clear], weights=bin_counts[clear], minlength=len(palette))
    doubtful = np.flatnonzero(doubtful_bin[pixel_bin])
    if len(doubtful) == 0:
        return counted.astype(np.int64)
    index = strided_index(len(doubtful), EXACT_PIXELS)
    chosen = doubtful if index is None else doubtful[index]
    labels = nearest(pixels_to_space(pixels[chosen], options.color_space), palette)
    found = np.bincount(labels, minlength=len(palette))
    if index is not None:
        found = np.array(largest_remainder([float(n) for n in found], len(doubtful)))
    return (counted + found).astype(np.int64)


def kmeans_centres(
    features: FloatArray, counts: npt.NDArray[np.int64], k: int, options: Options
) -> FloatArray:
    """Centres that aim at the mean ΔE00 the palette is judged by; exact when n <= k.

    ``n_init`` restarts (the best by ``mean_distance`` wins), each in three steps:
    weighted k-means++ seeding (numpy, seeded), scikit-learn's Lloyd
    iterations on bins weighted by ``count ** weight_power(options)``, then ``refine_iters``
    Weiszfeld steps (one by default: it gets the whole gain of three on the corpus, 6.35
    vs 6.34 fit at k=5, for a third of the cost; ``bench_palette.py --curve``).
    Why not plain k-means: it minimises *squared* distances, so a few
    far-off pixels pull centres away from where most pixels are, while the judge is the
    *mean* distance. A power > 1 moves centres towards dense regions (for an L1 error the
    optimal density of centres grows as p^(3/4) rather than k-means' p^(3/5), hence 1.25
    for large k),
    and Weiszfeld steps move each centre towards its cluster's geometric median.
    """
    if len(features) <= k:
        return features
    power = weight_power(options)
    weights = counts.astype(np.float64)
    if power != 1.0:
        weights = weights**power
    rng = np.random.default_rng(options.seed)
    runs = [one_run(features, counts, weights, kmeans_plusplus(features, weights, k, rng), options)
            for _ in range(options.n_init)]  # fmt: skip
    if len(runs) == 1:
        return runs[0]
    costs = [mean_distance(features, counts, centres) for centres in runs]
    return runs[int(np.argmin(costs))]


def weight_power(options: Options) -> float:
    """The exponent of the bin counts: ``options.weight_power``, or by default 1 up to
    k=5 rising to 1.25 from k=10.

    Why k-dependent: the p^(3/4) density argument is asymptotic (many centres); with few
    centres plain counts fitted better (measured over 6 seeds on the corpus: k=5 mean fit
    6.43 with power 1 vs 6.56 with 1.25; k=10 4.36 vs 4.25).
    """
    if options.weight_power is not None:
        return options.weight_power
    return 1.0 + 0.25 * min(1.0, max(0.0, (options.k - 5) / 5))


def one_run(
    features: FloatArray,
    counts: npt.NDArray[np.int64],
    weights: FloatArray,
    init: FloatArray,
    options: Options,
) -> FloatArray:
    """One restart: Lloyd from ``init``, then the Weiszfeld steps."""
    centres = lloyd(features, weights, init, options.max_iter)
    return weiszfeld(features, counts.astype(np.float64), centres, options.refine_iters)


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
    """Mean ΔE00 from the counted pixels to their assigned palette colours, estimated.

    Each pixel is represented by its bin's mean colour, and the mean is taken over
    ``FIT_DRAWS`` systematic draws from the bins in proportion to their counts (evenly
    spaced quantiles of the cumulative count: deterministic, unbiased, and ~4x cheaper
    than every bin's ΔE00). The assignment is the nearest colour in the clustering space,
    so this slightly over-estimates the nearest-by-ΔE00 error (tight in DIN99o).
    """
    cumulative = np.cumsum(counts)
    draws = (np.arange(FIT_DRAWS) + 0.5) * (cumulative[-1] / FIT_DRAWS)
    picked = np.minimum(np.searchsorted(cumulative, draws, side="right"), len(counts) - 1)
    bin_lab = colorspace.linear_to_lab(colorspace.srgb_to_linear(bins[picked] / 255.0))
    palette_lab = colorspace.srgb8_to_lab(rgbs)
    return float(np.mean(colorspace.ciede2000(bin_lab, palette_lab[labels[picked]])))


def describe_colors(rgbs: UInt8Array, pixel_counts: npt.NDArray[np.int64]) -> list[dict[str, Any]]:
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

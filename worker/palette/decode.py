"""Bytes in, sRGB pixels + alpha + image facts out: the one place Pillow touches input.

Why so defensive: the bytes come from anyone who can upload to a bucket. Every limit is
checked before pixels are decoded (size in bytes, then width x height read from the
header), only allow-listed formats are opened, truncated files fail instead of being
padded (``ImageFile.LOAD_TRUNCATED_IMAGES`` stays off), and every Pillow exception is
translated here, once, into the ``worker.errors`` tree.

Colour handling, so that the palette describes what a viewer shows:
- the first frame of an animation;
- every mode reaches 8-bit sRGB: 16-bit and 32-bit data is *scaled* (Pillow's
  ``convert`` would clip it), CMYK/LAB go through LittleCMS, palette transparency
  becomes alpha;
- an embedded ICC profile is converted to sRGB; a broken or mismatched profile is
  ignored (noted in ``source["icc"]``) rather than failing the image;
- EXIF orientation is applied, so the pixel grid matches what people see.

JPEG files larger than needed are decoded with ``draft`` at 1/2, 1/4 or 1/8 scale (the
DCT does it almost for free); ``source`` still reports the stored width and height.
Formats that cannot reduce while decoding (PNG, GIF, WebP, TIFF, BMP, AVIF) are held to a
decode budget instead: the bytes the decoded frame takes (width x height x bands x bytes
per band, after any draft), computed from the header and refused as ``too_large`` before a
pixel is decoded. Why: a 400 kB PNG can declare 100 Mpx, and decoding it whole costs
~380 MiB for one job.
When the caller needs only a sample (``sample_pixels``), the decoded grid is thinned by
nearest-neighbour *before* orientation, alpha and colour management: every later step then
touches ~50,000 pixels instead of all of them (an Adobe RGB photo of 640x427: the
LittleCMS pass drops from ~4 ms to ~0.5 ms). Nearest-neighbour picks pixels, it never
averages them, so the sample holds colours that are really in the image.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import warnings
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms, UnidentifiedImageError, features

from worker import errors

_BASE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP")
ALLOWED_FORMATS: tuple[str, ...] = _BASE_FORMATS + (("AVIF",) if features.check("avif") else ())
"""Formats we open. AVIF only when this Pillow build can decode it (wheels >= 11.3).
Asked of ``features``, not ``Image.OPEN``: that registry is filled lazily, and at import
time it lacks AVIF even where Pillow decodes it."""

_MAGIC: tuple[tuple[bytes, int], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0),
    (b"\xff\xd8\xff", 0),
    (b"GIF87a", 0),
    (b"GIF89a", 0),
    (b"II*\x00", 0),
    (b"MM\x00*", 0),
    (b"BM", 0),
    (b"WEBP", 8),
    (b"ftypavif", 4),
)
"""Signatures of allowed formats: a file that has one but will not open is corrupt."""

_PILLOW_DECODE_ERRORS = (
    OSError,
    RuntimeError,  # the AVIF plugin's libavif errors
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
)
"""What Pillow raises on damaged data; all of it means ``corrupt_image``."""

MIB = 1024 * 1024
_SRGB_PROFILE = ImageCms.createProfile("sRGB")
_COLOUR_MODES_FOR_ICC = {"RGB", "CMYK", "L", "LAB"}


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image, ready to be sampled.

    ``packed``: uint32 array (H, W), one sRGB pixel per item as r | g << 8 | b << 16 (the
    top byte is padding: ignore it), orientation applied, possibly draft-reduced or
    thinned to a sample grid. Why packed: numpy then handles a pixel as one contiguous
    item, several times cheaper than three strided channels.
    ``alpha``: uint8 array (H, W), or None when the image has no alpha at all.
    ``source``: facts about the stored image (format, stored width/height, mode, ...).
    ``decoding``: how it was decoded (draft scale, decoded size) - not facts of the image.
    """

    packed: npt.NDArray[np.uint32]
    alpha: npt.NDArray[np.uint8] | None
    source: dict[str, Any]
    decoding: dict[str, Any] = field(default_factory=dict)

    @property
    def rgb(self) -> npt.NDArray[np.uint8]:
        """(H, W, 3) uint8 view of ``packed``."""
        height, width = self.packed.shape
        return self.packed.view(np.uint8).reshape(height, width, 4)[..., :3]


def pack_rgb(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """(..., 3) uint8 → (...) uint32 r | g << 8 | b << 16 (little-endian byte order)."""
    wide = np.zeros((*rgb.shape[:-1], 4), dtype=np.uint8)
    wide[..., :3] = rgb
    return wide.view("<u4")[..., 0]


def decode(
    data: bytes,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    max_decode_bytes: int | None = None,
    target_pixels: int | None = None,
    sample_pixels: int | None = None,
) -> DecodedImage:
    """Decode ``data`` defensively; raise a ``PermanentError`` subclass on bad input.

    ``max_decode_bytes``: the decode budget (``decode_cost`` of the frame as it will be
    decoded, draft applied); None: no budget.
    ``target_pixels``: the number of pixels the caller needs; JPEGs with at least 4x as
    many are decoded at a reduced scale that still yields at least that many.
    ``sample_pixels``: keep at most about that many pixels, an even grid over the image
    (``rgb`` is then that grid); None keeps every decoded pixel.

    Warnings Pillow emits are recorded (never printed, never raised) for the duration of
    the call; ``warnings.catch_warnings`` is process-global in Python 3.11, which is fine
    for Celery's prefork workers and the CLI (one decode at a time per process).
    """
    check_bytes(data, max_bytes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        im = open_image(data)
        try:
            check_pixels(im.size, max_pixels, bomb_warned=_bomb_warned(caught))
            source = image_facts(im)
            scale = apply_draft(im, target_pixels)
            check_decode_budget(im, max_decode_bytes)
            packed, alpha, icc_state, decoded = _pixels(im, source, sample_pixels)
        finally:
            im.close()
    source["icc"] = icc_state
    decoding = {
        "draft_scale": scale,
        "decoded_width": decoded[0],
        "decoded_height": decoded[1],
        "grid_width": int(packed.shape[1]),
        "grid_height": int(packed.shape[0]),
    }
    return DecodedImage(packed=packed, alpha=alpha, source=source, decoding=decoding)


def check_bytes(data: bytes, max_bytes: int | None) -> None:
    """Reject empty and oversized inputs before anything parses them."""
    if len(data) == 0:
        raise errors.EmptyImage("the object is empty (0 bytes)")
    if max_bytes is not None and len(data) > max_bytes:
        raise errors.TooLarge(f"{len(data)} bytes exceeds the limit of {max_bytes} bytes")


def check_pixels(size: tuple[int, int], max_pixels: int | None, *, bomb_warned: bool) -> None:
    """Reject images by header dimensions, before their pixels are decoded."""
    width, height = size
    if width <= 0 or height <= 0:
        raise errors.EmptyImage(f"the image has no pixels ({width}x{height})")
    pixels = width * height
    if max_pixels is not None and pixels > max_pixels:
        limit = f"{pixels} pixels ({width}x{height}) exceeds the limit of {max_pixels}"
        if bomb_warned:
            raise errors.DecompressionBomb(f"{limit}: a likely decompression bomb")
        raise errors.TooLarge(limit)


def decode_cost(size: tuple[int, int], mode: str) -> int:
    """Bytes of a decoded frame of ``size`` in ``mode``: width x height x bands x bytes
    per band (16-bit grey 2, 32-bit int/float 4, everything else 1)."""
    width, height = size
    if mode.startswith("I;16"):
        per_band = 2
    elif mode in ("I", "F"):
        per_band = 4
    else:
        per_band = 1
    return width * height * Image.getmodebands(mode) * per_band


def check_decode_budget(im: Image.Image, budget: int | None) -> None:
    """Refuse, from the header, a frame whose decoding would cost more than ``budget``."""
    if budget is None:
        return
    cost = decode_cost(im.size, im.mode)
    if cost > budget:
        width, height = im.size
        raise errors.TooLarge(
            f"decoding this {width}x{height} {im.mode} {im.format} image needs "
            f"{cost / MIB:.0f} MiB, over the decode budget of {budget / MIB:.0f} MiB "
            "(PALETTE_DECODE_BUDGET_MB)"
        )


def open_image(data: bytes) -> Image.Image:
    """Parse the header with the allow-list; classify whatever does not open."""
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise errors.DecompressionBomb(str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise _classify_unopenable(data) from exc
    except _PILLOW_DECODE_ERRORS as exc:
        raise errors.CorruptImage(f"cannot read the image header: {exc}") from exc


def _classify_unopenable(data: bytes) -> errors.PermanentError:
    """Known-but-refused format, damaged allowed format, or not an image at all."""
    if _has_allowed_magic(data):
        return errors.CorruptImage("the file looks like an allowed image format but is damaged")
    other = _identify_any_format(data)
    if other is not None:
        allowed = ", ".join(ALLOWED_FORMATS)
        return errors.UnsupportedFormat(f"{other} images are not supported (allowed: {allowed})")
    return errors.NotAnImage("the bytes are not an image in any format we recognise")


def _has_allowed_magic(data: bytes) -> bool:
    return any(data[offset : offset + len(magic)] == magic for magic, offset in _MAGIC)


def _identify_any_format(data: bytes) -> str | None:
    """Header-only identification with every Pillow plugin, for a better error message."""
    try:
        with Image.open(io.BytesIO(data)) as other:
            return other.format or "unknown"
    except Exception:  # any failure just means "not an image we know"
        return None


def _bomb_warned(caught: list[warnings.WarningMessage]) -> bool:
    return any(issubclass(w.category, Image.DecompressionBombWarning) for w in caught)


def image_facts(im: Image.Image) -> dict[str, Any]:
    """Facts of the stored image, read from the header (no pixel decoding).

    Not the EXIF orientation: a PNG may keep its eXIf chunk after the pixels, and
    Pillow's ``getexif`` then decodes the whole image to find it, before any budget was
    checked (``_pixels`` reads it once the frame is loaded anyway)."""
    frames = _frame_count(im)
    return {
        "format": im.format,
        "width": im.size[0],
        "height": im.size[1],
        "mode": im.mode,
        "animated": frames > 1,
        "frames": frames,
    }


def _frame_count(im: Image.Image) -> int:
    """GIF and TIFF count frames by walking them: damage there surfaces here, first."""
    try:
        return int(getattr(im, "n_frames", 1))
    except _PILLOW_DECODE_ERRORS as exc:
        raise errors.CorruptImage(f"cannot read the image's frames: {exc}") from exc


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except _PILLOW_DECODE_ERRORS:
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def draft_request(size: tuple[int, int], target_pixels: int) -> tuple[int, int] | None:
    """The size to ask ``draft`` for so the result has >= target_pixels, or None."""
    width, height = size
    ratio = width * height / max(target_pixels, 1)
    if ratio < 4.0:  # draft scales are powers of two per side: nothing to gain
        return None
    factor = math.sqrt(ratio)
    return max(1, math.ceil(width / factor)), max(1, math.ceil(height / factor))


def apply_draft(im: Image.Image, target_pixels: int | None) -> int:
    """Ask a JPEG to decode at reduced scale; return the scale divisor used (1 = none)."""
    if target_pixels is None or im.format != "JPEG":
        return 1
    request = draft_request(im.size, target_pixels)
    if request is None:
        return 1
    before = im.size[0]
    im.draft(None, request)
    return max(1, round(before / im.size[0]))


def _pixels(
    im: Image.Image, source: dict[str, Any], sample_pixels: int | None
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint8] | None, str, tuple[int, int]]:
    """Load frame 0, thin it to the sample grid, orient it, bring it to 8-bit sRGB + alpha.

    Also returns the decoded (width, height), before thinning.
    """
    try:
        im.seek(0)
        im.load()
        decoded = im.size
        icc = im.info.get("icc_profile")
        source["orientation"] = _orientation(im)
        im = sample_grid(im, sample_pixels)
        im = orient(im, source["orientation"])
        colour, alpha = split_alpha(im)
        colour, icc_state = to_srgb(colour, icc)
        packed = packed_array(colour)
    except errors.PaletteError:
        raise
    except MemoryError as exc:  # the process's memory cap (worker/palette/limits.py)
        raise errors.TooLarge("decoding the image needs more memory than a job may use") from exc
    except _PILLOW_DECODE_ERRORS as exc:
        raise errors.CorruptImage(f"cannot decode the image: {exc}") from exc
    return packed, alpha, icc_state, decoded


def grid_size(size: tuple[int, int], sample_pixels: int) -> tuple[int, int] | None:
    """The (width, height) of an even grid of at most ``sample_pixels``, or None if the
    image is no larger. The aspect ratio is kept; neither side drops below 1."""
    width, height = size
    if width * height <= sample_pixels:
        return None
    factor = math.sqrt(width * height / sample_pixels)
    return max(1, min(width, int(width / factor))), max(1, min(height, int(height / factor)))


def sample_grid(im: Image.Image, sample_pixels: int | None) -> Image.Image:
    """Nearest-neighbour thinning to at most ``sample_pixels`` (every mode Pillow resizes).

    Why nearest and not a filter: a filter averages neighbours into colours that are not
    in the image (texture turns to mush, shares move); nearest picks real pixels on an
    even, fractional-step grid, which does not fall into step with 1-pixel patterns.
    """
    size = None if sample_pixels is None else grid_size(im.size, sample_pixels)
    if size is None:
        return im
    try:
        return im.resize(size, Image.Resampling.NEAREST)
    except ValueError:  # a mode Pillow cannot resize: keep every pixel, sample later
        return im


_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
"""EXIF orientation → the transpose that shows the image upright (as ``exif_transpose``)."""


def orient(im: Image.Image, orientation: int) -> Image.Image:
    """Apply the EXIF orientation read from the header (the sample grid has no EXIF)."""
    method = _TRANSPOSES.get(orientation)
    return im if method is None else im.transpose(method)


def split_alpha(im: Image.Image) -> tuple[Image.Image, npt.NDArray[np.uint8] | None]:
    """Separate colour from alpha; palette transparency and premultiplied modes included."""
    mode = im.mode
    if mode == "P":
        has_alpha = "transparency" in im.info or (
            im.palette is not None and im.palette.mode == "RGBA"
        )
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode in ("RGBa", "La"):
        im = im.convert("RGBA" if mode == "RGBa" else "LA")
    elif mode == "1":
        im = im.convert("L")
    if im.mode in ("RGBA", "LA"):
        alpha = np.asarray(im.getchannel("A"))
        return im.convert(im.mode[:-1]), alpha
    return im, None


def to_srgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, str]:
    """Apply the embedded profile; return the image and what happened to the profile.

    States: ``none`` (no profile), ``srgb`` (an sRGB profile: nothing to do),
    ``converted``, ``ignored`` (broken or not matching the mode: the pixels are then
    taken as sRGB, the common browser behaviour).
    """
    if im.mode == "LAB" and not icc:
        return _cms_apply(im, _lab_transform()), "none"
    if not icc or im.mode not in _COLOUR_MODES_FOR_ICC:
        return im, "none"
    try:
        transform = icc_transform(bytes(icc), im.mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return im, "ignored"
    if transform is None:
        return im, "srgb"
    try:
        return _cms_apply(im, transform), "converted"
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return im, "ignored"


def _cms_apply(im: Image.Image, transform: ImageCms.ImageCmsTransform) -> Image.Image:
    return ImageCms.applyTransform(im, transform)  # type: ignore[return-value]


ICC_CACHE_BYTES = 4 * MIB
"""Profile bytes the transform cache may hold in all; a larger profile is not cached."""

_Transform = ImageCms.ImageCmsTransform | None


class TransformCache:
    """Transforms to sRGB by SHA-256 of the profile, least recently used first out.

    Why not ``lru_cache`` on the profile bytes: the bytes come from uploads, so 32 entries
    could pin 32 profiles of 12 MiB each (and the transforms LittleCMS builds from them).
    Keyed by a digest and bounded by the profiles' total size, the cache holds every
    camera's few-kB profile yet never more than ``max_bytes`` of attacker-chosen ones.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self._entries: OrderedDict[tuple[bytes, str], tuple[_Transform, int]] = OrderedDict()

    def get(self, icc: bytes, mode: str) -> _Transform:
        key = (hashlib.sha256(icc).digest(), mode)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key][0]
        transform = _build_transform(icc, mode)  # errors are not cached: rare, and cheap
        if len(icc) <= self.max_bytes:
            self._entries[key] = (transform, len(icc))
            self.held += len(icc)
            while self.held > self.max_bytes:
                _, (_, size) = self._entries.popitem(last=False)
                self.held -= size
        return transform

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.held = 0


_TRANSFORMS = TransformCache(ICC_CACHE_BYTES)


def icc_transform(icc: bytes, mode: str) -> _Transform:
    """Transform to sRGB (cached, ``TransformCache``), or None for RGB already tagged sRGB.

    Cached: photos from one camera share a profile, and building one costs ~1 ms;
    skipping sRGB saves a full-image LittleCMS pass (~5 ms on a 640x427 photo).
    """
    return _TRANSFORMS.get(icc, mode)


def _build_transform(icc: bytes, mode: str) -> _Transform:
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    description = (profile.profile.profile_description or "").strip()
    if mode == "RGB" and description.startswith("sRGB"):
        return None
    return ImageCms.buildTransform(profile, _SRGB_PROFILE, mode, "RGB", ImageCms.Intent.PERCEPTUAL)


@lru_cache(maxsize=1)
def _lab_transform() -> ImageCms.ImageCmsTransform:
    """CIELAB to sRGB, built on first use and kept for the process (~1 ms to build)."""
    lab = ImageCms.createProfile("LAB")
    return ImageCms.buildTransform(lab, _SRGB_PROFILE, "LAB", "RGB")


def packed_array(im: Image.Image) -> npt.NDArray[np.uint32]:
    """Any colour-only mode to an (H, W) packed uint32 array, scaling deep modes.

    Pillow's RGBX conversion writes the packed layout directly (the X byte is padding).
    """
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        gray = scale_to_uint8(np.asarray(im))
        return pack_rgb(np.repeat(gray[:, :, None], 3, axis=2))
    if mode not in ("RGB", "L"):
        im = im.convert("RGB")
    rgbx = np.asarray(im.convert("RGBX"))
    return rgbx.view("<u4")[..., 0]


def scale_to_uint8(values: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """Deep grey levels to 8 bits by *scaling* the range the data evidently uses.

    uint16 (``I;16*``): full 16-bit range. ``I``/``F``: 0-1 floats, 0-255, 0-65535, or
    else their own min..max (what a viewer does with arbitrary scientific data).
    """
    if values.dtype.kind == "u" and values.dtype.itemsize == 2:
        wide = values.astype(np.uint32)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    data = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if low >= 0.0 and high <= 1.0 and values.dtype.kind == "f":
        top = 1.0
    elif low >= 0.0 and high <= 255.0:
        top = 255.0
    elif low >= 0.0 and high <= 65535.0:
        top = 65535.0
    else:
        data, top = data - low, max(high - low, 1e-12)
    return np.floor(np.clip(data / top, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

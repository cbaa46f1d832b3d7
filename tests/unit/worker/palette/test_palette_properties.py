"""Hypothesis properties that ``test_palette.py``'s guarantees test does not cover.

That test already checks, for any small RGBA image: at most k colours, shares summing to
exactly 1, int channels in 0-255, same bytes -> same palette, and ``FullyTransparent``
when no pixel is left. Here: no input bytes at all can make the core raise anything but
a ``PermanentError`` (a worker must never die of an upload), the palette depends on the
pixels and not on the lossless container they came in, and deep grey is scaled, never
clipped.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from worker import errors
from worker.palette import extract
from worker.palette.decode import decode

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def without_timings(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in {"timings_ms", "cpu_ms", "source"}}


rgb_images = st.tuples(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1)).map(
    lambda t: np.random.default_rng(t[2]).integers(0, 256, (t[1], t[0], 3), dtype=np.uint8)
)
SEEDS = [
    encode(Image.new("RGB", (6, 4), (200, 30, 30)), fmt)
    for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
]


def _survives(data: bytes) -> None:
    """Either a palette or a typed permanent error; anything else is a bug."""
    code = None
    try:
        result = extract(data, 3, max_bytes=1 << 20, max_pixels=1_000_000)
    except errors.PermanentError as exc:
        code = exc.code
    if code is not None:
        assert code in errors.all_codes()
        return
    assert 1 <= len(result["colors"]) <= 3


FOUND_BY_FUZZING = {
    "gif-frames-index": bytes.fromhex(
        "47494638396110001000810000161e4d00000000000000005a21ff0b4e45545343415045322e3003"
        "0100000021f904000a0000002c000000001000100000081d2501081c23b0a0c18308132a5cc8b0a1"
        "c38710234a9c48b1a2c58101010021"
    ),
    "gif-frames-struct": bytes.fromhex(
        "47494638396110001000810000c81e1e56000000000000000021ff0b4e4554534341504532006c03"
        "0100000021f904000a0000002c000000001000100000081d0001084948b0a0c18308132a5cc8b0a1"
        "c38710234a9c48b1a2c58101010021f904e80a0001002c"
    ),
    "tiff-missing-dimensions": bytes.fromhex(
        "49492a00080000000a00000104000100000006000000010104000100000004000000020103000300"
        "00008600000003010300010000000100000006010300010000000200000011010400010000008c00"
        "00001501030001000000030000001601040001000000040000001701040001000000480000001c01"
        "030001000000010000006c000000080008000800c81e1ec81e1ec81e1ec81e1ec81e1ec8"
    ),
    "avif-libavif-error": bytes.fromhex(
        "00000020667479706176696600000000617669666d6966316d6961664d413142000000eb6d657461"
        "000000000000002f68646c7200000000000000007069637400000000000000000000000000000000"
        "0e7069746d0000000000010000001e696c6f63000000004400000100010000000100000113000000"
        "220000002869696e660000000000010000001a696e6665020000000001000061763031436f3d6f72"
        "000000006a697072700000004b6970636f0000001469737065000000000000001000000010000000"
        "107069786900000000030808080000000c6176314381000c0000000013636f6c726e636c78009300"
        "0d0006800000001769706d61000000000000000100010401028304"
    ),
}
"""Inputs that once escaped as IndexError, struct.error, TypeError or RuntimeError:
damaged GIF/TIFF frames are counted (``n_frames``) while reading the header, and the
AVIF plugin raises RuntimeError."""


@pytest.mark.parametrize("data", FOUND_BY_FUZZING.values(), ids=FOUND_BY_FUZZING.keys())
def test_inputs_found_by_fuzzing_are_corrupt_images(data: bytes) -> None:
    with pytest.raises(errors.CorruptImage):
        extract(data, 3)


@FAST
@given(st.binary(max_size=512))
@example(b"")
@example(b"\x89PNG\r\n\x1a\n")
@example(b"\xff\xd8\xff")
@example(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
def test_arbitrary_bytes_never_escape_the_error_tree(data: bytes) -> None:
    _survives(data)


@FAST
@given(
    st.sampled_from(SEEDS),
    st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(0, 4096),
)
def test_damaged_images_never_escape_the_error_tree(
    seed: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    """Real images of every allowed format with bytes overwritten and the tail cut."""
    data = bytearray(seed)
    for position, value in flips:
        data[position % len(data)] = value
    _survives(bytes(data[: max(1, len(data) - cut % len(data))]))


@FAST
@given(rgb_images, st.sampled_from([("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True})]))
def test_the_palette_depends_on_the_pixels_not_the_lossless_container(
    pixels: np.ndarray, container: tuple[str, dict[str, Any]]
) -> None:
    fmt, params = container
    image = Image.fromarray(pixels)
    as_png = extract(encode(image, "PNG"), 4)
    other = extract(encode(image, fmt, **params), 4)
    assert without_timings(other) == without_timings(as_png)


@FAST
@given(st.integers(0, 65535))
def test_sixteen_bit_grey_is_scaled_not_clipped(value: int) -> None:
    data = encode(Image.fromarray(np.full((2, 2), value, dtype=np.uint16)), "PNG")
    grey = decode(data).rgb[0, 0].tolist()
    assert grey == [round(value * 255 / 65535)] * 3


@pytest.mark.parametrize("alpha", [0, 1, 127])
def test_no_pixel_left_is_a_typed_error_for_every_mode(alpha: int) -> None:
    la = Image.merge("LA", [Image.new("L", (3, 3), 50), Image.new("L", (3, 3), alpha)])
    for image in (la, Image.new("RGBA", (3, 3), (1, 2, 3, alpha))):
        with pytest.raises(errors.FullyTransparent):
            extract(encode(image, "PNG"), 2)

"""Hostile and odd inputs, generated in memory: what users really upload.

Each ``Case`` is a key, its bytes and what must come of it: ``code`` for a failure
(the stable ``error.code`` of the failed JSON), or ``colors`` for an image whose
palette we know exactly. Files are tiny (a few KB) except the one that must exceed the
byte limit, so one upload batch costs well under a second. Shared by
``test_bad_input.py`` and ``benchmarks/chaos.py``.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tests.unit.worker.palette.test_decode import SRGB_BLUE, SRGB_GREEN, SRGB_RED, matrix_profile

MAX_BYTES = 1024 * 1024
"""The byte limit the test stack and the CLI runs get (``PALETTE_MAX_BYTES``)."""

RED, BLUE = (200, 30, 30), (20, 90, 200)


@dataclass(frozen=True)
class Case:
    """One input: where it is uploaded, its bytes, and the outcome it must have."""

    name: str
    key: str
    data: bytes = field(repr=False)
    code: str | None = None
    """The failed JSON's ``error.code``; None means the result must be ``done``."""
    colors: tuple[str, ...] | None = None
    """The exact hex colours of a ``done`` result, most common first (None: unchecked)."""
    check: Callable[[dict[str, object]], None] | None = field(default=None, repr=False)
    """Further assertions on a ``done`` document."""

    @property
    def outcome(self) -> str:
        return f"failed: {self.code}" if self.code else "done"


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def flat(colour: tuple[int, int, int], size: tuple[int, int] = (16, 16)) -> Image.Image:
    return Image.new("RGB", size, colour)


def noise(size: tuple[int, int] = (64, 64), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that is all header: it claims ``width x height`` and holds no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + crc
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + end


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _animated(fmt: str) -> bytes:
    frames = [flat(RED), flat(BLUE)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)


def _sixteen_bit_png() -> bytes:
    """Grey 0x8080 in 16 bits: scaled it is 128; clipped (Pillow's convert) it would be 255."""
    return encode(Image.fromarray(np.full((8, 8), 0x8080, dtype=np.uint16)), "PNG")


def _palette_png_transparent_index() -> bytes:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, *RED] + [0] * (254 * 3))
    for x in range(4):
        for y in range(8):
            image.putpixel((x, y), 1)
    return encode(image, "PNG", transparency=0)


def _la_png() -> bytes:
    grey = np.full((8, 8), 100, dtype=np.uint8)
    alpha = np.zeros((8, 8), dtype=np.uint8)
    alpha[:, :2] = 255
    return encode(Image.merge("LA", [Image.fromarray(grey), Image.fromarray(alpha)]), "PNG")


def _exif_rotated() -> bytes:
    """8x4 stored, orientation 6 (rotate 90° to view): 4x8 as people see it."""
    image = Image.new("RGB", (8, 4), RED)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", exif=exif.tobytes(), quality=95)


def _check_rotated(doc: dict[str, object]) -> None:
    source = doc["source"]
    assert isinstance(source, dict)
    assert source["orientation"] == 6
    assert doc["pixels"] == {**doc["pixels"], "counted": 32}  # type: ignore[dict-item]


def _check_transparent_half(doc: dict[str, object]) -> None:
    pixels = doc["pixels"]
    assert isinstance(pixels, dict)
    assert pixels["counted"] == 32
    assert pixels["ignored_transparent"] == 32


def _check_la(doc: dict[str, object]) -> None:
    pixels = doc["pixels"]
    assert isinstance(pixels, dict)
    assert (pixels["counted"], pixels["ignored_transparent"]) == (16, 48)


def _swapped_profile_png() -> bytes:
    """Pure red pixels tagged with a profile whose red and blue primaries are exchanged."""
    profile = matrix_profile(SRGB_BLUE, SRGB_GREEN, SRGB_RED)
    return encode(flat((255, 0, 0)), "PNG", icc_profile=profile)


def _check_icc(state: str) -> Callable[[dict[str, object]], None]:
    def check(doc: dict[str, object]) -> None:
        source = doc["source"]
        assert isinstance(source, dict)
        assert source["icc"] == state

    return check


def _check_blue_dominant(doc: dict[str, object]) -> None:
    _check_icc("converted")(doc)
    colors = doc["colors"]
    assert isinstance(colors, list)
    r, _, b = colors[0]["rgb"]
    assert b > 200, colors[0]
    assert r < 60, colors[0]


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


_SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<rect width="10" height="10" fill="red"/></svg>'
)
_HTML = b"<!DOCTYPE html><html><head><title>x</title></head><body>not an image</body></html>"


def failing_cases(prefix: str = "bad/") -> list[Case]:
    """Inputs that must end in a failed JSON with exactly this code."""
    noisy_jpeg, noisy_png = encode(noise(), "JPEG"), encode(noise(), "PNG")
    return [
        Case("zero bytes", f"{prefix}zero.jpg", b"", "empty_image"),
        Case("text named .jpg", f"{prefix}notes.jpg", b"just some text\n" * 4, "not_an_image"),
        Case("HTML named .jpg", f"{prefix}page.jpg", _HTML, "not_an_image"),
        Case("PDF named .jpg", f"{prefix}doc.jpg", _pdf(), "not_an_image"),
        Case("SVG named .jpg", f"{prefix}vector.jpg", _SVG, "not_an_image"),
        Case("truncated JPEG", f"{prefix}truncated.jpg", _truncated(noisy_jpeg), "corrupt_image"),
        Case("truncated PNG", f"{prefix}truncated.png", _truncated(noisy_png), "corrupt_image"),
        Case(
            "PNG header claiming 100000x100000",
            f"{prefix}bomb.png",
            png_header_only(100_000, 100_000),
            "decompression_bomb",
        ),
        Case(
            "PNG header claiming 9000x9000 RGB (232 MiB decoded, over the decode budget)",
            f"{prefix}over-budget.png",
            png_header_only(9000, 9000),
            "too_large",
        ),
        Case(
            f"{MAX_BYTES + 1} bytes (over PALETTE_MAX_BYTES)",
            f"{prefix}huge.bmp",
            b"BM" + b"\0" * (MAX_BYTES - 1),
            "too_large",
        ),
        Case(
            "fully transparent PNG",
            f"{prefix}transparent.png",
            encode(Image.new("RGBA", (8, 8), (255, 0, 0, 0)), "PNG"),
            "fully_transparent",
        ),
        Case(
            "PPM (known format, not allowed)",
            f"{prefix}image.ppm",
            encode(flat(RED), "PPM"),
            "unsupported_format",
        ),
    ]


def good_cases(prefix: str = "odd/") -> list[Case]:
    """Odd but valid inputs that must end in a ``done`` result with these colours."""
    red = (_hex(RED),)
    cases = [
        Case("1x1", f"{prefix}one-pixel.png", encode(flat((1, 2, 3), (1, 1)), "PNG"), None,
             ("#010203",)),
        Case("animated GIF (first frame)", f"{prefix}anim.gif", _animated("GIF"), None, red),
        Case("animated WebP (first frame)", f"{prefix}anim.webp", _animated("WEBP"), None, None,
             _first_frame_red),
        Case("CMYK JPEG", f"{prefix}cmyk.jpg", _cmyk_jpeg(), None, None, _check_cmyk_red),
        Case("16-bit grey PNG (scaled, not clipped)", f"{prefix}grey16.png", _sixteen_bit_png(),
             None, ("#808080",)),
        Case("palette PNG with a transparent index", f"{prefix}palette-alpha.png",
             _palette_png_transparent_index(), None, red, _check_transparent_half),
        Case("LA (grey + alpha)", f"{prefix}la.png", _la_png(), None, ("#646464",), _check_la),
        Case("EXIF-rotated JPEG", f"{prefix}rotated.jpg", _exif_rotated(), None, None,
             _check_rotated),
        Case("non-sRGB ICC profile (converted)", f"{prefix}swapped-icc.png",
             _swapped_profile_png(), None, None, _check_blue_dominant),
        Case("broken ICC profile (ignored)", f"{prefix}broken-icc.png",
             encode(flat(RED), "PNG", icc_profile=b"not an icc profile"), None, red,
             _check_icc("ignored")),
        Case("WebP (lossless)", f"{prefix}still.webp", encode(flat(RED), "WEBP", lossless=True),
             None, red),
        Case("TIFF", f"{prefix}still.tiff", encode(flat(RED), "TIFF"), None, red),
        Case("BMP", f"{prefix}still.bmp", encode(flat(RED), "BMP"), None, red),
        Case("key with spaces, +, %, unicode, deep prefix",
             f"{prefix}a b/c+d/100%/ünï cødé/e/f/g/h/x y+z%20.png", encode(flat(BLUE), "PNG"),
             None, (_hex(BLUE),)),
    ]  # fmt: skip
    if "AVIF" in Image.SAVE:
        cases.append(Case("AVIF", f"{prefix}still.avif", encode(flat(RED), "AVIF", quality=100),
                          None, None, _first_frame_red))  # fmt: skip
    return cases


def _first_frame_red(doc: dict[str, object]) -> None:
    """Lossy codecs shift a flat colour slightly: one colour, near RED, not BLUE."""
    colors = doc["colors"]
    assert isinstance(colors, list)
    assert len(colors) == 1, colors
    assert _distance(colors[0]["rgb"], RED) <= 12, colors[0]


def _check_cmyk_red(doc: dict[str, object]) -> None:
    """C=0 M=Y=100 % is a saturated red in any CMYK interpretation."""
    colors = doc["colors"]
    assert isinstance(colors, list)
    r, g, b = colors[0]["rgb"]
    assert r > 200, colors[0]
    assert max(g, b) < 80, colors[0]
    assert doc["source"]["format"] == "JPEG"  # type: ignore[index]


def _distance(a: list[int], b: tuple[int, int, int]) -> int:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def all_cases() -> list[Case]:
    return failing_cases() + good_cases()


__all__ = ["MAX_BYTES", "Case", "all_cases", "failing_cases", "good_cases"]

"""Decoding odd, hostile and ordinary images: every mode, every failure class."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from worker import errors
from worker.palette import decode as decode_module
from worker.palette.decode import (
    ALLOWED_FORMATS,
    TransformCache,
    decode,
    decode_cost,
    draft_request,
    scale_to_uint8,
)

DATA = Path(__file__).resolve().parents[3] / "data"


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def xyz_tag(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + b"\0" * 4 + s15(x) + s15(y) + s15(z)


def matrix_profile(
    red: tuple[float, ...], green: tuple[float, ...], blue: tuple[float, ...]
) -> bytes:
    """A minimal ICC v2 RGB matrix/TRC display profile (gamma 2.2), built by hand."""
    text = b"test profile\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * (4 + 4 + 3 + 67)
    curve = b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", 0x0233) + b"\0\0"
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz_tag(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz_tag(*red)),
        (b"gXYZ", xyz_tag(*green)),
        (b"bXYZ", xyz_tag(*blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
        + b"\0" * 12 + b"acsp" + b"\0" * 24 + b"\0" * 4
        + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    )  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


SRGB_RED, SRGB_GREEN, SRGB_BLUE = (
    (0.4360, 0.2225, 0.0139),
    (0.3851, 0.7169, 0.0971),
    (0.1431, 0.0606, 0.7141),
)
SWAPPED_PROFILE = matrix_profile(SRGB_BLUE, SRGB_GREEN, SRGB_RED)  # red and blue exchanged


def png_header_only(width: int, height: int, colour_type: int = 2) -> bytes:
    """IHDR and IEND, no pixel data: anything that gets past the header fails as corrupt."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr
    chunk += struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + end


# ---------------------------------------------------------------- ordinary images


def test_rgb_png_facts_and_pixels() -> None:
    result = decode((DATA / "synth_flat.png").read_bytes())
    assert result.rgb.shape == (400, 500, 3)
    assert result.rgb.dtype == np.uint8
    assert result.alpha is None
    assert result.source["format"] == "PNG"
    assert (result.source["width"], result.source["height"]) == (500, 400)
    assert result.source["animated"] is False
    assert result.source["icc"] == "none"


def test_rgba_png_keeps_alpha() -> None:
    result = decode((DATA / "synth_rgba_half_transparent.png").read_bytes())
    assert result.alpha is not None
    assert result.alpha.shape == result.rgb.shape[:2]
    assert np.mean(result.alpha == 0) == pytest.approx(0.5, abs=0.01)


def test_jpeg_draft_reports_stored_size() -> None:
    big = Image.new("RGB", (2000, 1500), (200, 100, 50))
    result = decode(encode(big, "JPEG"), target_pixels=50_000)
    assert (result.source["width"], result.source["height"]) == (2000, 1500)
    assert result.decoding["draft_scale"] == 4
    assert result.rgb.shape == (375, 500, 3)
    assert result.rgb.shape[0] * result.rgb.shape[1] >= 50_000


def test_sample_grid_thins_before_colour_work_and_reports_both_sizes() -> None:
    arr = np.random.default_rng(3).integers(0, 256, (300, 400, 3)).astype(np.uint8)
    full = decode(encode(Image.fromarray(arr)))
    sampled = decode(encode(Image.fromarray(arr)), sample_pixels=10_000)
    grid = sampled.rgb.shape[:2]
    assert grid[0] * grid[1] <= 10_000
    assert grid[1] / grid[0] == pytest.approx(400 / 300, rel=0.02)
    assert sampled.decoding["decoded_width"] == 400
    assert (sampled.decoding["grid_width"], sampled.decoding["grid_height"]) == grid[::-1]
    # nearest-neighbour picks real pixels: every sampled colour exists in the image
    real = set(full.packed.reshape(-1).tolist())
    assert set(sampled.packed.reshape(-1).tolist()) <= real


def test_no_sample_grid_for_an_image_under_the_budget() -> None:
    result = decode((DATA / "chelsea.jpg").read_bytes(), sample_pixels=10**6)
    assert result.rgb.shape == (300, 451, 3)
    assert result.decoding["grid_width"] == result.decoding["decoded_width"] == 451


def test_sampled_grid_is_oriented_and_colour_managed() -> None:
    arr = np.zeros((100, 200, 3), dtype=np.uint8)
    arr[:, :100] = (255, 0, 0)
    arr[:, 100:] = (0, 255, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(arr), exif=exif.tobytes(), icc_profile=SWAPPED_PROFILE)
    result = decode(data, sample_pixels=2_000)
    height, width = result.rgb.shape[:2]
    assert height > width  # rotated like the full image
    assert result.source["icc"] == "converted"
    top, bottom = result.rgb[0, width // 2].astype(int), result.rgb[-1, width // 2].astype(int)
    assert top[2] > 200  # red through the red<->blue swapped profile
    assert max(top[:2]) < 40
    assert bottom[1] > 200


def test_alpha_is_sampled_on_the_same_grid() -> None:
    rgba = np.zeros((200, 200, 4), dtype=np.uint8)
    rgba[:, :100] = (255, 0, 0, 255)
    result = decode(encode(Image.fromarray(rgba)), sample_pixels=1_000)
    assert result.alpha is not None
    assert result.alpha.shape == result.rgb.shape[:2]
    opaque = result.alpha == 255
    assert np.mean(opaque) == pytest.approx(0.5, abs=0.05)
    assert (result.rgb[opaque] == (255, 0, 0)).all()


def test_no_draft_when_image_is_small() -> None:
    result = decode((DATA / "chelsea.jpg").read_bytes(), target_pixels=100_000)
    assert result.decoding["draft_scale"] == 1
    assert draft_request((451, 300), 100_000) is None
    assert draft_request((4000, 3000), 50_000) is not None


@pytest.mark.parametrize("fmt", [f for f in ALLOWED_FORMATS if f != "AVIF"])
def test_every_allowed_format_decodes(fmt: str) -> None:
    image = Image.new("RGB", (16, 8), (10, 120, 240))
    result = decode(encode(image, fmt, **({"lossless": True} if fmt == "WEBP" else {})))
    assert result.source["format"] == fmt
    assert result.rgb.shape == (8, 16, 3)
    tolerance = 8 if fmt == "JPEG" else (20 if fmt == "GIF" else 0)
    assert np.abs(result.rgb.astype(int) - [10, 120, 240]).max() <= tolerance


# ---------------------------------------------------------------- modes


def test_cmyk_jpeg_becomes_rgb() -> None:
    result = decode(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"))
    assert result.source["mode"] == "CMYK"
    r, g, b = result.rgb[4, 4].astype(int)
    assert r > 200
    assert max(g, b) < 60


def test_i16_is_scaled_not_clipped() -> None:
    values = np.array([[0, 32768, 65535, 257]], dtype=np.uint16)
    result = decode(encode(Image.fromarray(values)))
    assert result.source["mode"].startswith("I;16")
    assert result.rgb[0, :, 0].tolist() == [0, 128, 255, 1]
    assert np.array_equal(result.rgb[..., 0], result.rgb[..., 2])


def test_int32_and_float_tiff_are_scaled() -> None:
    ints = Image.fromarray(np.array([[0, 1000, 65535]], dtype=np.int32), "I")
    assert decode(encode(ints, "TIFF")).rgb[0, :, 0].tolist() == [0, 4, 255]
    floats = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F")
    assert decode(encode(floats, "TIFF")).rgb[0, :, 0].tolist() == [0, 128, 255]


def test_scale_to_uint8_odd_ranges() -> None:
    assert scale_to_uint8(np.array([-10.0, 0.0, 10.0])).tolist() == [0, 128, 255]
    assert scale_to_uint8(np.array([0, 255], dtype=np.int32)).tolist() == [0, 255]
    assert scale_to_uint8(np.array([np.nan, 1.0], dtype=np.float32)).tolist() == [0, 255]


def test_la_png_gray_with_alpha() -> None:
    image = Image.merge("LA", [Image.new("L", (4, 4), 90), Image.new("L", (4, 4), 30)])
    result = decode(encode(image))
    assert result.rgb[0, 0].tolist() == [90, 90, 90]
    assert result.alpha is not None
    assert int(result.alpha[0, 0]) == 30


def test_palette_transparency_becomes_alpha() -> None:
    image = Image.new("P", (4, 2), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (2, 0, 4, 2))
    result = decode(encode(image, transparency=1))
    assert result.alpha is not None
    assert result.alpha[:, :2].min() == 255
    assert result.alpha[:, 2:].max() == 0
    assert result.rgb[0, 0].tolist() == [255, 0, 0]


def test_one_bit_image() -> None:
    image = Image.new("1", (4, 4), 1)
    assert decode(encode(image)).rgb.max() == 255


def test_animated_gif_first_frame() -> None:
    frames = [Image.new("RGB", (6, 6), (255, 0, 0)), Image.new("RGB", (6, 6), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    result = decode(data)
    assert result.source["animated"] is True
    assert result.source["frames"] == 2
    r, _, b = result.rgb[3, 3].astype(int)
    assert r > 200
    assert b < 50


def test_exif_orientation_is_applied() -> None:
    arr = np.zeros((10, 20, 3), dtype=np.uint8)
    arr[:, :10] = (255, 0, 0)
    arr[:, 10:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90° clockwise
    result = decode(encode(Image.fromarray(arr), exif=exif.tobytes()))
    assert result.source["orientation"] == 6
    assert (result.source["width"], result.source["height"]) == (20, 10)
    assert result.rgb.shape == (20, 10, 3)
    assert result.rgb[0, 5].tolist() == [255, 0, 0]
    assert result.rgb[19, 5].tolist() == [0, 0, 255]


# ---------------------------------------------------------------- ICC profiles


def test_embedded_profile_is_converted_to_srgb() -> None:
    image = Image.new("RGB", (4, 4), (255, 0, 0))
    result = decode(encode(image, icc_profile=SWAPPED_PROFILE))
    assert result.source["icc"] == "converted"
    r, g, b = result.rgb[0, 0].astype(int)
    assert b > 200
    assert max(r, g) < 40


def test_srgb_profile_is_skipped() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    result = decode(encode(Image.new("RGB", (4, 4), (1, 2, 3)), icc_profile=srgb))
    assert result.source["icc"] == "srgb"
    assert result.rgb[0, 0].tolist() == [1, 2, 3]


def test_transform_cache_is_bounded_by_profile_bytes() -> None:
    """Keyed by a digest, least recently used out first, never more than its bytes; a
    profile larger than the whole cache is used but not kept."""
    profiles = [
        matrix_profile(SRGB_BLUE, SRGB_GREEN, (0.1 + n / 100, 0.06, 0.71)) for n in range(4)
    ]
    cache = TransformCache(max_bytes=2 * len(profiles[0]))
    assert cache.get(profiles[0], "RGB") is not None
    cache.get(profiles[1], "RGB")
    cache.get(profiles[0], "RGB")  # now the most recently used
    cache.get(profiles[2], "RGB")  # evicts profiles[1]
    assert len(cache) == 2
    assert cache.held <= cache.max_bytes
    hit = cache.get(profiles[0], "RGB")
    assert cache.get(profiles[0], "RGB") is hit
    padded = profiles[3] + b"\0" * cache.max_bytes
    assert cache.get(padded, "RGB") is not None
    assert len(cache) == 2


def test_the_process_cache_holds_at_most_a_few_mib_of_profiles() -> None:
    assert decode_module.ICC_CACHE_BYTES <= 4 * MIB


@pytest.mark.parametrize(
    "profile",
    [
        b"not an icc profile at all",
        ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),
    ],
    ids=["garbage", "lab-profile-on-rgb"],
)
def test_broken_or_mismatched_profile_is_ignored(profile: bytes) -> None:
    result = decode(encode(Image.new("RGB", (4, 4), (10, 20, 30)), icc_profile=profile))
    assert result.source["icc"] == "ignored"
    assert result.rgb[0, 0].tolist() == [10, 20, 30]


# ---------------------------------------------------------------- failures


def test_empty_bytes() -> None:
    with pytest.raises(errors.EmptyImage):
        decode(b"")


def test_not_an_image() -> None:
    with pytest.raises(errors.NotAnImage):
        decode(b"hello, this is a text file\n" * 10)


def test_known_but_not_allowed_format() -> None:
    with pytest.raises(errors.UnsupportedFormat, match="PPM"):
        decode(encode(Image.new("RGB", (4, 4)), "PPM"))


def test_byte_limit_before_decoding() -> None:
    with pytest.raises(errors.TooLarge):
        decode((DATA / "chelsea.jpg").read_bytes(), max_bytes=1000)


def test_pixel_limit_before_decoding() -> None:
    with pytest.raises(errors.TooLarge):
        decode(png_header_only(3000, 3000), max_pixels=1_000_000)


def test_bomb_header_with_absurd_dimensions() -> None:
    with pytest.raises(errors.DecompressionBomb):
        decode(png_header_only(100_000, 100_000))


def test_bomb_warning_zone_over_our_limit() -> None:
    with pytest.raises(errors.DecompressionBomb):
        decode(png_header_only(10_000, 10_000), max_pixels=50_000_000)


MIB = 1024 * 1024


def test_decode_budget_refuses_from_the_header() -> None:
    """6000x6000 RGB is 103 MiB decoded: over a 100 MiB budget it is refused before a
    pixel is decoded (the file has none: reaching the decoder would say corrupt)."""
    with pytest.raises(errors.TooLarge, match=r"103 MiB, over the decode budget of 100 MiB"):
        decode(png_header_only(6000, 6000), max_decode_bytes=100 * MIB)


def test_nothing_is_decoded_before_the_budget_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's ``getexif`` on a PNG decodes the whole image (its eXIf chunk may follow
    the pixels): the orientation must be read after the budget check, not before."""
    loads: list[str] = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self: ImageFile.ImageFile) -> object:
        loads.append(self.format or "")
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    data = encode(Image.new("RGB", (600, 600), (10, 20, 30)))
    with pytest.raises(errors.TooLarge):
        decode(data, max_decode_bytes=600 * 600 * 3 - 1)
    assert loads == []
    assert decode(data, max_decode_bytes=600 * 600 * 3).source["orientation"] == 1
    assert loads


def test_decode_budget_counts_bands() -> None:
    """The same 6000x6000 in greyscale is 34 MiB: under the budget, so it reaches the
    decoder (which finds no pixel data)."""
    with pytest.raises(errors.CorruptImage):
        decode(png_header_only(6000, 6000, colour_type=0), max_decode_bytes=100 * MIB)


@pytest.mark.parametrize(
    ("mode", "per_pixel"),
    [
        ("1", 1),
        ("L", 1),
        ("P", 1),
        ("LA", 2),
        ("RGB", 3),
        ("RGBA", 4),
        ("CMYK", 4),
        ("I;16", 2),
        ("I", 4),
        ("F", 4),
    ],
)
def test_decode_cost_per_mode(mode: str, per_pixel: int) -> None:
    assert decode_cost((10, 20), mode) == 200 * per_pixel


def test_a_large_jpeg_is_budgeted_at_its_draft_size() -> None:
    """A JPEG reduces while decoding: 2400x1600 RGB (11 MiB) asked for 50,000 pixels
    decodes at 1/8 (0.2 MiB), so a 1 MiB budget admits it."""
    data = encode(Image.new("RGB", (2400, 1600), (200, 40, 40)), "JPEG")
    result = decode(data, max_decode_bytes=MIB, target_pixels=50_000)
    assert result.decoding["draft_scale"] == 8
    with pytest.raises(errors.TooLarge):
        decode(data, max_decode_bytes=MIB)  # no target: no draft, the whole 11 MiB


def test_truncated_jpeg_is_corrupt() -> None:
    data = (DATA / "chelsea.jpg").read_bytes()
    with pytest.raises(errors.CorruptImage):
        decode(data[: len(data) // 2])


def test_damaged_png_signature_is_corrupt() -> None:
    with pytest.raises(errors.CorruptImage):
        decode(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)


def test_header_only_png_is_corrupt_when_limits_allow() -> None:
    with pytest.raises(errors.CorruptImage):
        decode(png_header_only(10, 10))


def test_errors_are_permanent_with_stable_codes() -> None:
    with pytest.raises(errors.PermanentError) as caught:
        decode(b"")
    assert caught.value.code == "empty_image"

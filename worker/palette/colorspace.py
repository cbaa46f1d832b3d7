"""Colour-space conversions and colour differences, vectorised with numpy and pure.

Why here and not in a library: the palette core needs exactly sRGB <-> linear <-> OKLab
(the clustering space), CIELAB and CIEDE2000 (how people and the benchmark judge a
palette), on arrays of shape ``(..., 3)``, fast and without extra dependencies.

Conventions: sRGB values are floats in [0, 1] unless the name says ``8`` (uint8 0-255);
OKLab has L in [0, 1]; CIELAB has L in [0, 100] (D65 white, 2° observer, as
``skimage.color.rgb2lab``); hue angles are in degrees [0, 360).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_LMS_FROM_LINEAR = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_OKLAB_FROM_LMS = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
_LMS_FROM_OKLAB = np.linalg.inv(_OKLAB_FROM_LMS)
_LINEAR_FROM_LMS = np.linalg.inv(_LMS_FROM_LINEAR)

_XYZ_FROM_LINEAR = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_LINEAR_FROM_XYZ = np.linalg.inv(_XYZ_FROM_LINEAR)
_D65 = np.array([0.95047, 1.0, 1.08883])
_XYZ_FROM_LINEAR_D65 = _XYZ_FROM_LINEAR / _D65[:, None]
"""Linear sRGB → XYZ relative to the white point, in one product."""
_EPS = (6.0 / 29.0) ** 3


def srgb_to_linear(rgb: npt.ArrayLike) -> FloatArray:
    """sRGB in [0, 1] to linear light (IEC 61966-2-1 transfer curve)."""
    c = np.asarray(rgb, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: npt.ArrayLike) -> FloatArray:
    """Linear light to sRGB in [0, 1]; out-of-gamut values are clipped first."""
    c = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


_LINEAR_LUT = srgb_to_linear(np.arange(256) / 255.0)
_XYZ_LUT = _LINEAR_LUT[None, :, None] * _XYZ_FROM_LINEAR_D65.T[:, None, :]
"""(channel, level, xyz): a channel's contribution to XYZ / white (``srgb8_to_lab``)."""


def srgb8_to_linear(rgb8: npt.ArrayLike) -> FloatArray:
    """uint8 sRGB to linear light by table lookup: the hot path for image pixels."""
    return _LINEAR_LUT[np.asarray(rgb8, dtype=np.uint8)]


def linear_to_oklab(linear: npt.ArrayLike) -> FloatArray:
    """Linear sRGB to OKLab (Ottosson 2020)."""
    lms = np.asarray(linear, dtype=np.float64) @ _LMS_FROM_LINEAR.T
    return np.cbrt(lms) @ _OKLAB_FROM_LMS.T


def oklab_to_linear(lab: npt.ArrayLike) -> FloatArray:
    """OKLab to linear sRGB (may fall outside [0, 1] for out-of-gamut colours)."""
    lms = np.asarray(lab, dtype=np.float64) @ _LMS_FROM_OKLAB.T
    return (lms**3) @ _LINEAR_FROM_LMS.T


def srgb8_to_oklab(rgb8: npt.ArrayLike) -> FloatArray:
    """uint8 sRGB to OKLab."""
    return linear_to_oklab(srgb8_to_linear(rgb8))


def oklab_to_srgb8(lab: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """OKLab to the nearest representable uint8 sRGB (gamut-clipped, rounded)."""
    return to_uint8(linear_to_srgb(oklab_to_linear(lab)))


def to_uint8(srgb: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """sRGB floats in [0, 1] to uint8, rounding half up so results never depend on BLAS."""
    scaled = np.clip(np.asarray(srgb, dtype=np.float64), 0.0, 1.0) * 255.0
    return np.floor(scaled + 0.5).astype(np.uint8)


def lab_to_lch(lab: npt.ArrayLike) -> FloatArray:
    """Cartesian (L, a, b) to cylindrical (L, C, h°); works for OKLab and CIELAB alike."""
    lab = np.asarray(lab, dtype=np.float64)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360.0
    return np.stack([lab[..., 0], chroma, hue], axis=-1)


def srgb8_to_oklch(rgb8: npt.ArrayLike) -> FloatArray:
    """uint8 sRGB to OKLCH (L 0-1, C about 0-0.37, h in degrees)."""
    return lab_to_lch(srgb8_to_oklab(rgb8))


def _lab_f(t: FloatArray) -> FloatArray:
    """CIELAB's f: the cube root, linear near black. The linear part is patched in only
    where it applies (rare: very dark colours), which costs a third of ``np.where``."""
    f = np.cbrt(t)
    dark = t <= _EPS
    if dark.any():
        f[dark] = t[dark] / (3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0
    return f


def _lab_f_inv(t: FloatArray) -> FloatArray:
    return np.where(t > 6.0 / 29.0, t**3, 3 * (6.0 / 29.0) ** 2 * (t - 4.0 / 29.0))


def linear_to_lab(linear: npt.ArrayLike) -> FloatArray:
    """Linear sRGB to CIELAB (D65), matching ``skimage.color.rgb2lab``."""
    return _xyz_to_lab(np.asarray(linear, dtype=np.float64) @ _XYZ_FROM_LINEAR_D65.T)


def _xyz_to_lab(xyz: FloatArray) -> FloatArray:
    """XYZ already divided by the white point → CIELAB, written into one new array."""
    f = _lab_f(xyz)
    lab = np.empty_like(f)
    np.multiply(f[..., 1], 116.0, out=lab[..., 0])
    lab[..., 0] -= 16.0
    np.subtract(f[..., 0], f[..., 1], out=lab[..., 1])
    lab[..., 1] *= 500.0
    np.subtract(f[..., 1], f[..., 2], out=lab[..., 2])
    lab[..., 2] *= 200.0
    return lab


def lab_to_linear(lab: npt.ArrayLike) -> FloatArray:
    """CIELAB (D65) to linear sRGB (may fall outside [0, 1])."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    return (_lab_f_inv(f) * _D65) @ _LINEAR_FROM_XYZ.T


def srgb8_to_lab(rgb8: npt.ArrayLike) -> FloatArray:
    """uint8 sRGB to CIELAB; XYZ by three table lookups instead of a matrix product.

    Why: this runs on every pixel counted one by one (``counting``); the tables hold each
    channel's linear value times its column of the XYZ matrix, so the product is two sums.
    """
    rgb = np.asarray(rgb8, dtype=np.uint8)
    xyz = _XYZ_LUT[0][rgb[..., 0]]
    xyz += _XYZ_LUT[1][rgb[..., 1]]
    xyz += _XYZ_LUT[2][rgb[..., 2]]
    return _xyz_to_lab(xyz)


def lab_to_srgb8(lab: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """CIELAB to the nearest representable uint8 sRGB (gamut-clipped, rounded)."""
    return to_uint8(linear_to_srgb(lab_to_linear(lab)))


def ciede2000(lab1: npt.ArrayLike, lab2: npt.ArrayLike) -> FloatArray:
    """CIEDE2000 colour difference between CIELAB arrays, broadcasting like numpy.

    Follows Sharma, Wu & Dalal (2005), the formulation whose test data the unit tests
    check, with kL = kC = kH = 1.
    """
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0
    c_bar7 = c_bar**7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0

    d_lp = l2 - l1
    d_cp = c2p - c1p
    both = (c1p * c2p) != 0.0
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(both, dh, 0.0)
    d_hp = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)

    l_bar = (l1 + l2) / 2.0
    c_barp = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_bar = np.where(
        np.abs(h1p - h2p) <= 180.0,
        h_sum / 2.0,
        np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
    )
    h_bar = np.where(both, h_bar, h_sum)

    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar))
        + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    c_barp7 = c_barp**7
    r_c = 2.0 * np.sqrt(c_barp7 / (c_barp7 + 25.0**7))
    l50 = (l_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * l50 / np.sqrt(20.0 + l50)
    s_c = 1.0 + 0.045 * c_barp
    s_h = 1.0 + 0.015 * c_barp * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c

    term_l = d_lp / s_l
    term_c = d_cp / s_c
    term_h = d_hp / s_h
    return np.sqrt(term_l**2 + term_c**2 + term_h**2 + r_t * term_c * term_h)


def delta_e00_srgb8(rgb8_a: npt.ArrayLike, rgb8_b: npt.ArrayLike) -> FloatArray:
    """CIEDE2000 between uint8 sRGB arrays: the palette's unit of 'how different'."""
    return ciede2000(srgb8_to_lab(rgb8_a), srgb8_to_lab(rgb8_b))


def relative_luminance(rgb8: npt.ArrayLike) -> FloatArray:
    """WCAG 2 relative luminance of uint8 sRGB (0 black - 1 white).

    Written out rather than as a matrix product so that one colour and a batch give
    bit-identical results (BLAS may sum in another order).
    """
    linear = srgb8_to_linear(rgb8)
    return 0.2126 * linear[..., 0] + 0.7152 * linear[..., 1] + 0.0722 * linear[..., 2]


_DIN99_ANGLE = np.radians(26.0)
_DIN99_COS, _DIN99_SIN = np.cos(_DIN99_ANGLE), np.sin(_DIN99_ANGLE)
_DIN99_EF = np.array([[_DIN99_COS, _DIN99_SIN], [-0.83 * _DIN99_SIN, 0.83 * _DIN99_COS]])
"""(a, b) → (e, f): rotate by -26° and squeeze the new b axis by 0.83."""
_DIN99_BACK = np.array([[_DIN99_COS, -_DIN99_SIN], [_DIN99_SIN, _DIN99_COS]])
"""(e, f) → the DIN99o chroma axes: rotate back by +26°."""


def lab_to_din99o(lab: npt.ArrayLike) -> FloatArray:
    """CIELAB to DIN99o (DIN 6176), whose Euclidean distance approximates ΔE00.

    Why: k-means minimises Euclidean distances; in DIN99o they track the CIEDE2000 the
    palette is judged by (lightness and chroma compressed as ΔE00 does) more closely than
    in CIELAB. Written without trigonometry (the hue is only rotated and scaled back):
    this runs on every ambiguous pixel, and cos(atan2(f, e) + θ) = (e cos θ - f sin θ) / h.
    """
    lab = np.asarray(lab, dtype=np.float64)
    lightness = 303.67 * np.log1p(0.0039 * lab[..., 0])
    ef = lab[..., 1:] @ _DIN99_EF.T
    h = np.sqrt(np.einsum("...i,...i->...", ef, ef))
    s = 0.075 * h
    positive = s > 0.0
    ratio = np.log1p(s, where=positive, out=np.ones_like(s))
    np.divide(ratio, s, where=positive, out=ratio)  # log1p(s) / s -> 1 as s -> 0
    din = np.empty_like(lab)
    din[..., 0] = lightness
    np.multiply(ef @ _DIN99_BACK.T, (ratio * (0.075 / 0.0435))[..., None], out=din[..., 1:])
    return din


def din99o_to_lab(din: npt.ArrayLike) -> FloatArray:
    """DIN99o back to CIELAB (exact inverse of ``lab_to_din99o``)."""
    din = np.asarray(din, dtype=np.float64)
    cos, sin = np.cos(_DIN99_ANGLE), np.sin(_DIN99_ANGLE)
    lightness = np.expm1(din[..., 0] / 303.67) / 0.0039
    chroma = np.hypot(din[..., 1], din[..., 2])
    g = np.expm1(0.0435 * chroma) / 0.075
    hue = np.arctan2(din[..., 2], din[..., 1]) - _DIN99_ANGLE
    e, f = g * np.cos(hue), g * np.sin(hue) / 0.83
    return np.stack([lightness, e * cos - f * sin, e * sin + f * cos], axis=-1)

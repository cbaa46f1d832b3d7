"""Words and contrast for a colour: nearest CSS name, a basic name, readable text colour.

Why: a palette is read by people; "slategray, ΔE 3.1" and "gray" say more than a hex, and
a UI that prints a label on a swatch needs the text colour that stays readable.

- CSS name: the nearest of the 148 CSS named colours by CIEDE2000 (ties: alphabetical,
  so "gray" wins over "grey", "aqua" over "cyan").
- Basic name: one of 12 words (black, blue, brown, gray, green, orange, pink, purple, red,
  teal, white, yellow), the word of the nearest hand-picked prototype in OKLab. Several
  prototypes per word (dark, light, saturated, muted) cover each word's region; OKLab is
  used because its Euclidean distance follows perceived difference evenly across hues.
- Text: black or white, whichever has the higher WCAG 2 contrast ratio (ties: black).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from worker.palette import colorspace

CSS_COLORS: dict[str, str] = {
    "aliceblue": "#f0f8ff",
    "antiquewhite": "#faebd7",
    "aqua": "#00ffff",
    "aquamarine": "#7fffd4",
    "azure": "#f0ffff",
    "beige": "#f5f5dc",
    "bisque": "#ffe4c4",
    "black": "#000000",
    "blanchedalmond": "#ffebcd",
    "blue": "#0000ff",
    "blueviolet": "#8a2be2",
    "brown": "#a52a2a",
    "burlywood": "#deb887",
    "cadetblue": "#5f9ea0",
    "chartreuse": "#7fff00",
    "chocolate": "#d2691e",
    "coral": "#ff7f50",
    "cornflowerblue": "#6495ed",
    "cornsilk": "#fff8dc",
    "crimson": "#dc143c",
    "cyan": "#00ffff",
    "darkblue": "#00008b",
    "darkcyan": "#008b8b",
    "darkgoldenrod": "#b8860b",
    "darkgray": "#a9a9a9",
    "darkgreen": "#006400",
    "darkgrey": "#a9a9a9",
    "darkkhaki": "#bdb76b",
    "darkmagenta": "#8b008b",
    "darkolivegreen": "#556b2f",
    "darkorange": "#ff8c00",
    "darkorchid": "#9932cc",
    "darkred": "#8b0000",
    "darksalmon": "#e9967a",
    "darkseagreen": "#8fbc8f",
    "darkslateblue": "#483d8b",
    "darkslategray": "#2f4f4f",
    "darkslategrey": "#2f4f4f",
    "darkturquoise": "#00ced1",
    "darkviolet": "#9400d3",
    "deeppink": "#ff1493",
    "deepskyblue": "#00bfff",
    "dimgray": "#696969",
    "dimgrey": "#696969",
    "dodgerblue": "#1e90ff",
    "firebrick": "#b22222",
    "floralwhite": "#fffaf0",
    "forestgreen": "#228b22",
    "fuchsia": "#ff00ff",
    "gainsboro": "#dcdcdc",
    "ghostwhite": "#f8f8ff",
    "gold": "#ffd700",
    "goldenrod": "#daa520",
    "gray": "#808080",
    "green": "#008000",
    "greenyellow": "#adff2f",
    "grey": "#808080",
    "honeydew": "#f0fff0",
    "hotpink": "#ff69b4",
    "indianred": "#cd5c5c",
    "indigo": "#4b0082",
    "ivory": "#fffff0",
    "khaki": "#f0e68c",
    "lavender": "#e6e6fa",
    "lavenderblush": "#fff0f5",
    "lawngreen": "#7cfc00",
    "lemonchiffon": "#fffacd",
    "lightblue": "#add8e6",
    "lightcoral": "#f08080",
    "lightcyan": "#e0ffff",
    "lightgoldenrodyellow": "#fafad2",
    "lightgray": "#d3d3d3",
    "lightgreen": "#90ee90",
    "lightgrey": "#d3d3d3",
    "lightpink": "#ffb6c1",
    "lightsalmon": "#ffa07a",
    "lightseagreen": "#20b2aa",
    "lightskyblue": "#87cefa",
    "lightslategray": "#778899",
    "lightslategrey": "#778899",
    "lightsteelblue": "#b0c4de",
    "lightyellow": "#ffffe0",
    "lime": "#00ff00",
    "limegreen": "#32cd32",
    "linen": "#faf0e6",
    "magenta": "#ff00ff",
    "maroon": "#800000",
    "mediumaquamarine": "#66cdaa",
    "mediumblue": "#0000cd",
    "mediumorchid": "#ba55d3",
    "mediumpurple": "#9370db",
    "mediumseagreen": "#3cb371",
    "mediumslateblue": "#7b68ee",
    "mediumspringgreen": "#00fa9a",
    "mediumturquoise": "#48d1cc",
    "mediumvioletred": "#c71585",
    "midnightblue": "#191970",
    "mintcream": "#f5fffa",
    "mistyrose": "#ffe4e1",
    "moccasin": "#ffe4b5",
    "navajowhite": "#ffdead",
    "navy": "#000080",
    "oldlace": "#fdf5e6",
    "olive": "#808000",
    "olivedrab": "#6b8e23",
    "orange": "#ffa500",
    "orangered": "#ff4500",
    "orchid": "#da70d6",
    "palegoldenrod": "#eee8aa",
    "palegreen": "#98fb98",
    "paleturquoise": "#afeeee",
    "palevioletred": "#db7093",
    "papayawhip": "#ffefd5",
    "peachpuff": "#ffdab9",
    "peru": "#cd853f",
    "pink": "#ffc0cb",
    "plum": "#dda0dd",
    "powderblue": "#b0e0e6",
    "purple": "#800080",
    "rebeccapurple": "#663399",
    "red": "#ff0000",
    "rosybrown": "#bc8f8f",
    "royalblue": "#4169e1",
    "saddlebrown": "#8b4513",
    "salmon": "#fa8072",
    "sandybrown": "#f4a460",
    "seagreen": "#2e8b57",
    "seashell": "#fff5ee",
    "sienna": "#a0522d",
    "silver": "#c0c0c0",
    "skyblue": "#87ceeb",
    "slateblue": "#6a5acd",
    "slategray": "#708090",
    "slategrey": "#708090",
    "snow": "#fffafa",
    "springgreen": "#00ff7f",
    "steelblue": "#4682b4",
    "tan": "#d2b48c",
    "teal": "#008080",
    "thistle": "#d8bfd8",
    "tomato": "#ff6347",
    "turquoise": "#40e0d0",
    "violet": "#ee82ee",
    "wheat": "#f5deb3",
    "white": "#ffffff",
    "whitesmoke": "#f5f5f5",
    "yellow": "#ffff00",
    "yellowgreen": "#9acd32",
}
"""The CSS Color Module Level 4 named colours (148 names, 139 distinct values)."""

BASIC_NAMES = (
    "black", "blue", "brown", "gray", "green", "orange",
    "pink", "purple", "red", "teal", "white", "yellow",
)  # fmt: skip

BASIC_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "black": ("#000000", "#141414", "#1c1a24"),
    "white": ("#ffffff", "#f2f2f2", "#f8f4ec", "#eef2f8"),
    "gray": ("#3c3c3c", "#5a5a5a", "#808080", "#a0a0a0", "#c0c0c0", "#d8d8d8", "#708090"),
    "red": ("#ff0000", "#e50000", "#c81e1e", "#b22222", "#8b0000", "#800000", "#dc143c"),
    "orange": ("#ffa500", "#ff8c00", "#f97306", "#ff7f27", "#e07020", "#ffb060"),
    "yellow": ("#ffff00", "#ffff14", "#ffd700", "#f0e050", "#fff176", "#e8d44d"),
    "green": ("#00ff00", "#15b01a", "#008000", "#006400", "#228b22", "#3e9651", "#90ee90",
              "#6b8e23", "#556b2f", "#9acd32", "#2e8b57"),
    "teal": ("#008080", "#029386", "#20b2aa", "#00ffff", "#40e0d0", "#006d6d", "#7fffd4"),
    "blue": ("#0000ff", "#0343df", "#1e90ff", "#4169e1", "#000080", "#1f3a93", "#87ceeb",
             "#add8e6", "#4682b4", "#191970"),
    "purple": ("#800080", "#7e1e9c", "#8a2be2", "#9370db", "#4b0082", "#b57edc", "#e6e6fa",
               "#663399"),
    "pink": ("#ffc0cb", "#ff81c0", "#ff69b4", "#ff1493", "#ff00ff", "#db7093", "#ffb6c1",
             "#e0a0b0"),
    "brown": ("#653700", "#8b4513", "#a0522d", "#a52a2a", "#d2b48c", "#d6b57e", "#c4a484",
              "#5c4033", "#7b5c3c", "#b8860b", "#cd853f", "#3d2b1f"),
}  # fmt: skip
"""Hand-picked sRGB prototypes per basic word (XKCD colour-survey centres plus the CSS
colours people name that way). Add a prototype when a test colour is misnamed."""


def css_name(rgb: npt.ArrayLike) -> tuple[str, float]:
    """Nearest CSS colour name of a uint8 sRGB triple, and its CIEDE2000 distance."""
    names, distances = css_names(np.asarray(rgb, dtype=np.uint8).reshape(1, 3))
    return names[0], float(distances[0])


def css_names(rgbs: npt.NDArray[np.uint8]) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Nearest CSS names of (n, 3) uint8 colours and their ΔE00, in one broadcast.

    Why batched: a palette's k x 148 distances cost one numpy call instead of k.
    """
    names, labs = _css_table()
    distances = colorspace.ciede2000(colorspace.srgb8_to_lab(rgbs)[:, None, :], labs[None])
    best = np.argmin(distances, axis=1)
    return [names[i] for i in best], distances[np.arange(len(best)), best]


def basic_name(rgb: npt.ArrayLike) -> str:
    """One of ``BASIC_NAMES`` for a uint8 sRGB triple (nearest prototype in OKLab)."""
    return basic_names(np.asarray(rgb, dtype=np.uint8).reshape(1, 3))[0]


def basic_names(rgbs: npt.NDArray[np.uint8]) -> list[str]:
    """``basic_name`` of each row of an (n, 3) uint8 array."""
    words, oklabs = _basic_table()
    lab = colorspace.srgb8_to_oklab(rgbs)
    distances = np.sum((oklabs[None, :, :] - lab[:, None, :]) ** 2, axis=2)
    return [words[i] for i in np.argmin(distances, axis=1)]


def contrast_ratio(rgb_a: npt.ArrayLike, rgb_b: npt.ArrayLike) -> float:
    """WCAG 2 contrast ratio (1-21) between two uint8 sRGB colours."""
    la = float(colorspace.relative_luminance(np.asarray(rgb_a, dtype=np.uint8)))
    lb = float(colorspace.relative_luminance(np.asarray(rgb_b, dtype=np.uint8)))
    high, low = max(la, lb), min(la, lb)
    return (high + 0.05) / (low + 0.05)


def text_color(rgb: npt.ArrayLike) -> tuple[str, float]:
    """("#000000" or "#ffffff", contrast ratio): the more readable text on ``rgb``."""
    on_black = contrast_ratio(rgb, (0, 0, 0))
    on_white = contrast_ratio(rgb, (255, 255, 255))
    if on_black >= on_white:
        return "#000000", on_black
    return "#ffffff", on_white


def text_colors(rgbs: npt.NDArray[np.uint8]) -> list[tuple[str, float]]:
    """``text_color`` of each row of an (n, 3) uint8 array (same formula, vectorised)."""
    luminance = colorspace.relative_luminance(rgbs)
    black, white = colorspace.relative_luminance(np.array([[0, 0, 0], [255, 255, 255]]))
    on_black = (luminance + 0.05) / (black + 0.05)
    on_white = (white + 0.05) / (luminance + 0.05)
    return [
        ("#000000", float(b)) if b >= w else ("#ffffff", float(w))
        for b, w in zip(on_black, on_white, strict=True)
    ]


def describe(rgb: npt.ArrayLike) -> dict[str, Any]:
    """The ``name`` and ``text`` objects of one palette colour, rounded for the JSON."""
    return describe_many(np.asarray(rgb, dtype=np.uint8).reshape(1, 3))[0]


def describe_many(rgbs: npt.NDArray[np.uint8]) -> list[dict[str, Any]]:
    """``describe`` for each row of an (n, 3) uint8 array, batched (one call per palette)."""
    css, delta_e = css_names(rgbs)
    texts = text_colors(rgbs)
    return [
        {
            "name": {"css": name, "css_delta_e": round(float(de), 2), "basic": basic},
            "text": {"color": text, "contrast": round(contrast, 2)},
        }
        for name, de, basic, (text, contrast) in zip(
            css, delta_e, basic_names(rgbs), texts, strict=True
        )
    ]


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    """'#rrggbb' to an (r, g, b) tuple of ints."""
    raw = value.lstrip("#")
    return int(raw[0:2], 16), int(raw[2:4], 16), int(raw[4:6], 16)


@lru_cache(maxsize=1)
def _css_table() -> tuple[list[str], npt.NDArray[np.float64]]:
    """The CSS names and their CIELAB colours, computed on first use and kept for the
    process: every palette names its colours against them."""
    names = sorted(CSS_COLORS)
    rgbs = np.array([hex_to_rgb(CSS_COLORS[n]) for n in names], dtype=np.uint8)
    return names, colorspace.srgb8_to_lab(rgbs)


@lru_cache(maxsize=1)
def _basic_table() -> tuple[list[str], npt.NDArray[np.float64]]:
    """Each basic name per prototype and its OKLab colour, computed on first use and kept
    for the process: every palette names its colours against them."""
    words = [w for w in BASIC_NAMES for _ in BASIC_PROTOTYPES[w]]
    rgbs = [hex_to_rgb(h) for w in BASIC_NAMES for h in BASIC_PROTOTYPES[w]]
    return words, colorspace.srgb8_to_oklab(np.array(rgbs, dtype=np.uint8))

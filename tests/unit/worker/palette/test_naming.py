"""Colour names and text contrast on colours whose answer nobody disputes."""

from __future__ import annotations

import pytest
from PIL import ImageColor

from worker.palette import naming

OBVIOUS = {
    "#ff0000": "red",
    "#800000": "red",
    "#00ff00": "green",
    "#228b22": "green",
    "#0000ff": "blue",
    "#000080": "blue",
    "#87ceeb": "blue",
    "#ffff00": "yellow",
    "#ffd700": "yellow",
    "#ffa500": "orange",
    "#d2691e": "orange",
    "#800080": "purple",
    "#ffc0cb": "pink",
    "#ff69b4": "pink",
    "#8b4513": "brown",
    "#a52a2a": "brown",
    "#808080": "gray",
    "#c0c0c0": "gray",
    "#2f4f4f": "gray",
    "#000000": "black",
    "#ffffff": "white",
    "#008080": "teal",
    "#40e0d0": "teal",
    # the synthetic corpus colours
    "#1f3a93": "blue",
    "#d6b57e": "brown",
    "#3e9651": "green",
    "#c43030": "red",
    "#a0a0aa": "gray",
}


@pytest.mark.parametrize(("hex_value", "expected"), sorted(OBVIOUS.items()))
def test_basic_name_of_obvious_colours(hex_value: str, expected: str) -> None:
    assert naming.basic_name(naming.hex_to_rgb(hex_value)) == expected


def test_basic_names_are_the_twelve() -> None:
    assert len(naming.BASIC_NAMES) == 12
    assert set(naming.BASIC_PROTOTYPES) == set(naming.BASIC_NAMES)


def test_css_table_is_the_148_css_colours() -> None:
    assert len(naming.CSS_COLORS) == 148
    # getrgb, not the raw table: Pillow caches each name it resolved there as a tuple
    pillow = {
        name: "#{:02x}{:02x}{:02x}".format(*ImageColor.getrgb(name)[:3])
        for name in ImageColor.colormap
    }
    assert pillow == naming.CSS_COLORS


@pytest.mark.parametrize("name", ["rebeccapurple", "slategray", "tomato", "navy"])
def test_css_name_exact_match_has_zero_delta_e(name: str) -> None:
    found, delta_e = naming.css_name(naming.hex_to_rgb(naming.CSS_COLORS[name]))
    assert found == name
    assert delta_e == pytest.approx(0.0, abs=1e-9)


def test_css_name_ties_resolve_alphabetically() -> None:
    assert naming.css_name((128, 128, 128))[0] == "gray"
    assert naming.css_name((0, 255, 255))[0] == "aqua"


def test_css_name_near_miss_reports_delta_e() -> None:
    name, delta_e = naming.css_name((138, 143, 150))
    assert name in naming.CSS_COLORS
    assert 0 < delta_e < 10


def test_contrast_ratio_black_on_white_is_21() -> None:
    assert naming.contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert naming.contrast_ratio((10, 20, 30), (10, 20, 30)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("rgb", "text"),
    [((255, 255, 255), "#000000"), ((0, 0, 0), "#ffffff"), ((255, 255, 0), "#000000"),
     ((0, 0, 128), "#ffffff"), ((128, 128, 128), "#000000")],
)  # fmt: skip
def test_text_color_picks_higher_contrast(rgb: tuple[int, int, int], text: str) -> None:
    chosen, ratio = naming.text_color(rgb)
    assert chosen == text
    other = "#ffffff" if text == "#000000" else "#000000"
    assert ratio >= naming.contrast_ratio(rgb, naming.hex_to_rgb(other))
    assert ratio >= 4.5 or rgb == (128, 128, 128)


def test_describe_shape() -> None:
    described = naming.describe((138, 143, 150))
    assert set(described) == {"name", "text"}
    assert set(described["name"]) == {"css", "css_delta_e", "basic"}
    assert described["text"]["color"] in {"#000000", "#ffffff"}


def test_batched_description_matches_one_by_one() -> None:
    import numpy as np

    rgbs = np.random.default_rng(7).integers(0, 256, (200, 3)).astype(np.uint8)
    batch = naming.describe_many(rgbs)
    assert batch == [naming.describe(rgb) for rgb in rgbs]

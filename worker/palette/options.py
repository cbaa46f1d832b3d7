"""Every option that changes a palette, validated once, echoed in the JSON's ``options``.

Why one frozen dataclass: the options are part of a result's identity (a result made with
other options is recomputed: ``worker.tasks``), so they must compare and serialise
exactly; and whatever sets them (the CLI, the worker's defaults, later an upload's own
metadata) goes through ``make_options``, the one place that says what is valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from worker import errors
from worker.palette import spaces
from worker.palette.cluster import SEED

MAX_K = 32
AUTO: Literal["auto"] = "auto"
"""``k="auto"``: the core chooses k (``worker.palette.auto``)."""
AUTO_MAX_K = 16
"""The most colours ``k="auto"`` returns."""

K = int | Literal["auto"]


@dataclass(frozen=True)
class Options:
    """Every option that changes the palette; echoed in the JSON's ``options``."""

    k: K = 5
    color_space: str = spaces.DEFAULT
    alpha_threshold: int = 128
    sample_size: int = 50_000
    draft_pixels: int = 200_000
    quantize_bits: int = 5
    merge_delta_e: float = 1.0
    n_init: int = 1
    weight_power: float | None = None
    max_iter: int = 10
    refine_iters: int = 1
    swaps: int = 2
    seed: int = SEED

    @property
    def auto(self) -> bool:
        """True when the core chooses k."""
        return self.k == AUTO

    @property
    def k_max(self) -> int:
        """The most colours this request may return."""
        return AUTO_MAX_K if self.k == AUTO else int(self.k)

    def validated(self) -> Options:
        """Raise ``InvalidOptions`` naming the first option out of range."""
        spaces.get(self.color_space)
        for ok, message in self._checks():
            if not ok:
                raise errors.InvalidOptions(f"{message} (got {self!r})")
        return self

    def _checks(self) -> list[tuple[bool, str]]:
        k_ok = self.k == AUTO or (
            isinstance(self.k, int) and not isinstance(self.k, bool) and 1 <= self.k <= MAX_K
        )
        return [
            (k_ok, f"k must be 1-{MAX_K} or {AUTO!r}"),
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
            (0 <= self.swaps <= 32, "swaps must be 0-32"),
        ]


def parse_k(value: str | int) -> K:
    """``k`` from text (a CLI flag, an upload's metadata): 1-32 or ``auto``, else
    ``InvalidOptions``. Range checks stay in ``Options.validated``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == AUTO:
        return AUTO
    try:
        return int(text)
    except ValueError:
        raise errors.InvalidOptions(
            f"k must be an integer 1-{MAX_K} or {AUTO!r} (got {value!r})"
        ) from None


def make_options(k: K, options: dict[str, Any]) -> Options:
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

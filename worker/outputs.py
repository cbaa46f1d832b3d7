"""The files stored for each image, as one list: a new kind of file is one more entry.

An ``Output`` is a suffix (its key is the image's key plus the suffix, in the output
bucket), a content type and a renderer: a pure function of the done document (the
palette JSON as it will be stored) to bytes. The worker renders and writes every entry
in order, the removal deletes them all, and the CLI lists them, each by iterating
``OUTPUTS``; nothing else names the files. Readers that want one file in particular (the
api_stub's bar route, the gallery's listing of results) ask for it by name: ``BAR``,
``PALETTE_JSON``.

The palette JSON is last, and must stay last: it is the commit point. Its existence says
the result is complete, so every other file is written before it, and removed after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from worker import document

S3_MAX_KEY_BYTES = 1024
Document = dict[str, Any]
"""A done result document (``worker.document.done``), schema version 1."""


@dataclass(frozen=True)
class Output:
    """One file written beside each result: ``<output bucket>/<image key><suffix>``."""

    name: str
    """A short label for listings (``palette submit`` prints ``<name>: s3://...``)."""
    suffix: str
    content_type: str
    render: Callable[[Document], bytes]
    """Pure: the same document gives the same bytes, and it reads nothing else."""

    def key(self, image_key: str) -> str:
        return image_key + self.suffix


def bar_png(doc: Document) -> bytes:
    """The 300x50 bar of the palette's colours in order, widths by proportion. The core
    (numpy, Pillow) is imported here, at the first render: producers that only name the
    files (api_stub, ``palette submit``) import this module without it."""
    from worker.palette import render

    return render.bar_png(doc["colors"], document.BAR_WIDTH, document.BAR_HEIGHT)


BAR = Output("bar", ".png", "image/png", bar_png)
PALETTE_JSON = Output("json", ".json", "application/json", document.encode)

OUTPUTS: tuple[Output, ...] = (BAR, PALETTE_JSON)
"""Every file of a done result, in the order they are written; ``PALETTE_JSON`` last.
Read through the functions below at each call (never copied at import), so the one
tuple is the whole list."""


def files() -> tuple[Output, ...]:
    """The outputs written before the JSON: rendered and stored first, in order."""
    *before, last = OUTPUTS
    assert last is PALETTE_JSON, "the palette JSON is the commit point: it must be last"
    return tuple(before)


def removal_order() -> Iterator[Output]:
    """Every output, the JSON first: a reader never finds a JSON whose files are gone."""
    return reversed(OUTPUTS)


def max_image_key_bytes() -> int:
    """The longest image key whose every output key S3 accepts (keys are at most 1024
    bytes, and each output adds its suffix)."""
    return S3_MAX_KEY_BYTES - max(len(output.suffix.encode("utf-8")) for output in OUTPUTS)


def image_of(output_key: str) -> str | None:
    """The image an output key belongs to (its output's suffix removed, the longest if
    several match), or None for a key that no output makes: how the sweep finds results
    whose image is gone."""
    suffixes = [o.suffix for o in OUTPUTS if output_key.endswith(o.suffix)]
    suffix = max(suffixes, key=len, default=None)
    if suffix is None or len(output_key) == len(suffix):
        return None
    return output_key[: -len(suffix)]


def listed(image_key: str, status: str) -> list[tuple[Output, str]]:
    """The outputs a result of this status has, with their keys, the JSON first (it is
    the result; the others are its files): every output of a done result, only the JSON
    of a failed one (a failure renders nothing else)."""
    have = (PALETTE_JSON, *files()) if status == "done" else (PALETTE_JSON,)
    return [(output, output.key(image_key)) for output in have]

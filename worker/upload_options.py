"""Options per upload, from the object's own S3 user metadata (``x-amz-meta-palette-*``).

Why metadata: it travels with the object through every path that makes a result (the
store's event, the sweep, a redelivery), the worker reads it from the GET it already
makes, and any client that can upload can set it (boto3 ``Metadata=``, a presigned
POST's fields, ``aws s3 cp --metadata``). A queue message or an event could carry an
option only on the paths that build one.

One table, ``FIELDS``, maps each metadata name to an ``Options`` field and the parser of
its text; a new option (say ``palette-alpha-threshold`` → ``alpha_threshold``) is one
entry there, its range check already lives in ``Options.validated``. Names are compared
lower-case, as stores return them. A ``palette-*`` name not in the table is refused: a
misspelt option would otherwise be ignored and give a palette the uploader did not ask
for, silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from worker.errors import InvalidOptions

if TYPE_CHECKING:
    from worker.palette.options import K, Options

MAX_K = 32
"""``worker.palette.options.MAX_K``, repeated so that clients (the api_stub's upload
route, ``palette submit``) can check a k without importing the palette core and
scikit-learn with it; a unit test keeps the two equal."""
AUTO: Literal["auto"] = "auto"

PREFIX = "palette-"
"""Every metadata name of ours starts so (``x-amz-meta-palette-k`` on the wire)."""


def parse_upload_k(value: str) -> K:
    """``palette-k``: decimal digits 1-32 or ``auto`` (any case, spaces around ignored);
    stricter than Python's ``int`` (no sign, no ``1_0``), as a header value should be."""
    text = value.strip().lower()
    if text == AUTO:
        return AUTO
    if re.fullmatch(r"[0-9]{1,3}", text) and 1 <= int(text) <= MAX_K:
        return int(text)
    raise InvalidOptions(f"k must be an integer 1-{MAX_K} or {AUTO!r} (got {value!r})")


FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "palette-k": ("k", parse_upload_k),
}
"""metadata name → (``Options`` field, parser of the text); parsers raise InvalidOptions."""

MAX_VALUE_CHARS = 64
"""A value longer than this is no option of ours; the message quotes at most this much."""


def requested(metadata: Mapping[str, str]) -> dict[str, str]:
    """The object's ``palette-*`` metadata (names lower-case), as sent: recorded in the
    result's ``source`` so a failure shows what was asked."""
    return {
        name.lower(): value[: MAX_VALUE_CHARS + 1]
        for name, value in metadata.items()
        if name.lower().startswith(PREFIX)
    }


def options_for(metadata: Mapping[str, str], default_k: int | str) -> Options:
    """The validated options this object asks for; ``default_k`` when it names no k.

    Raises ``InvalidOptions`` whose message names the metadata header and the accepted
    values, since that is what the uploader has to change. Each parser checks its own
    range, so ``make_options`` below only re-validates what the parsers let through.
    """
    from worker.palette.options import make_options  # the worker's side only: see MAX_K

    fields = requested_fields(metadata, default_k)
    return make_options(fields.pop("k"), fields)


def requested_fields(metadata: Mapping[str, str], default_k: int | str) -> dict[str, Any]:
    """``Options`` field → value for what this object asks for (``k`` always present);
    light enough for clients (``worker.freshness``). Raises ``InvalidOptions``."""
    fields: dict[str, Any] = {"k": default_k}
    for name, value in sorted(requested(metadata).items()):
        field, parse = _field(name)
        fields[field] = _parsed(name, value, parse)
    return fields


def metadata_for(k: int | str | None) -> dict[str, str]:
    """What a client sets on an upload to ask for ``k`` (nothing for the default)."""
    return {} if k is None else {"palette-k": str(k)}


def _field(name: str) -> tuple[str, Callable[[str], Any]]:
    if name not in FIELDS:
        known = ", ".join(_header(known) for known in FIELDS)
        raise InvalidOptions(f"unknown upload option {_header(name)} (known: {known})")
    return FIELDS[name]


def _parsed(name: str, value: str, parse: Callable[[str], Any]) -> Any:
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidOptions(f"{_header(name)}: value longer than {MAX_VALUE_CHARS} characters")
    try:
        return parse(value)
    except InvalidOptions as exc:
        raise InvalidOptions(f"{_header(name)}: {exc.message}") from None


def _header(name: str) -> str:
    return f"x-amz-meta-{name}"

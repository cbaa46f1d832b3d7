"""When a stored result is current: the one rule the worker, the sweep, the API and
``palette submit`` share.

A result is current for an object iff

- it records the object's current ETag (a missing ETag on either side is never current:
  a result that cannot say which bytes it describes describes none for sure),
- it was made by this worker version (an upgrade may change the algorithm), and
- it records the options the object asks for: its ``x-amz-meta-palette-*`` metadata
  (``worker.upload_options``), else the deployment's default k. Same bytes uploaded again
  with another k keep their ETag; the options are what makes the old result stale. An
  object whose metadata asks for invalid options has one current result: the failed
  ``invalid_options`` one recording that metadata.

Pure: the callers bring what they know. The worker and the API know the object's
metadata (the worker's GET, the API's HEAD); the sweep has only listings, so it passes
the metadata the result itself recorded (``recorded_metadata``): it then checks the
listing's ETag, the version and that the recorded options follow from the recorded
metadata (a change of the default k, say), and cannot see a metadata-only change of
identical bytes (the worker's own re-check before writing covers that one).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from worker import __version__, upload_options
from worker.errors import InvalidOptions
from worker.jobs import normalise_etag

INVALID_OPTIONS = InvalidOptions.code


def is_current(
    result: Mapping[str, Any] | None,
    etag: str | None,
    metadata: Mapping[str, str],
    default_k: int | str,
    version: str = __version__,
) -> bool:
    """True iff ``result`` (a parsed result JSON) is current for the object whose ETag is
    ``etag`` and whose user metadata is ``metadata``, under the default k ``default_k``."""
    if not isinstance(result, Mapping):
        return False
    source = _mapping(result.get("source"))
    recorded = normalise_etag(_text(source.get("etag")))
    if recorded is None or recorded != normalise_etag(etag):
        return False
    if _mapping(result.get("worker")).get("version") != version:
        return False
    asked = upload_options.requested(metadata)
    if upload_options.requested(recorded_metadata(result)) != asked:
        return False
    return _options_match(result, asked, default_k)


def recorded_metadata(result: Mapping[str, Any]) -> dict[str, str]:
    """The ``palette-*`` metadata a result says its object carried ({} when it says none)."""
    metadata = _mapping(_mapping(result.get("source")).get("metadata"))
    return {str(name): str(value) for name, value in metadata.items()}


def expected_options(metadata: Mapping[str, str], default_k: int | str) -> dict[str, Any] | None:
    """Every option a done result for this metadata records: the defaults of this worker
    version overridden by what the metadata asks for; None when it asks for invalid
    options. The whole set, not only the fields asked for: versions are not bumped for
    every change of a default, and a result made under other defaults is stale."""
    try:
        asked = upload_options.requested_fields(metadata, default_k)
    except InvalidOptions:
        return None
    return {**_option_defaults(), **asked}


@functools.cache
def _option_defaults() -> dict[str, Any]:
    """``Options()`` as a result records it. Imported on first use: the palette core
    brings numpy and Pillow (about 0.5 s, once per process), which a process that
    only enqueues never needs."""
    from worker.palette.options import Options

    return asdict(Options())


def _options_match(
    result: Mapping[str, Any], asked: Mapping[str, str], default_k: int | str
) -> bool:
    """A done result records every option; a failed one only those it got to (``k``),
    each of which must be the expected one."""
    expected = expected_options(asked, default_k)
    if expected is None:
        error = _mapping(result.get("error"))
        return result.get("status") == "failed" and error.get("code") == INVALID_OPTIONS
    recorded = dict(_mapping(result.get("options")))
    if result.get("status") == "done":
        return recorded == expected
    return bool(recorded) and all(
        name in expected and expected[name] == value for name, value in recorded.items()
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None

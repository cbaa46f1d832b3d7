"""The palette JSON contract (schema_version 1): built here and nowhere else.

Every adapter (Celery task, CLI, api_stub) produces or reads documents through these
functions, so the contract lives in one place. The document's existence in the output
bucket means the result is complete: it is always written after the bar PNG (and every
other file of ``worker.outputs``).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from worker import __version__
from worker.errors import PaletteError

SCHEMA_VERSION = 1
BAR_WIDTH = 300
BAR_HEIGHT = 50


def source_ref(
    bucket: str | None,
    key: str,
    etag: str | None,
    size: int | None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Where the image came from; the image facts (format, size) are merged in later.

    ``metadata``, once the object is fetched: its ``palette-*`` user metadata as sent
    (``worker.upload_options.requested``), i.e. the options the upload asked for, even
    invalid ones.
    """
    ref: dict[str, Any] = {"bucket": bucket, "key": key, "etag": etag, "size": size}
    if metadata is not None:
        ref["metadata"] = dict(metadata)
    return ref


def done(
    source: dict[str, Any],
    palette: dict[str, Any],
    bar: dict[str, Any] | None,
    timings_ms: dict[str, float],
    cpu_ms: dict[str, float] | None = None,
) -> dict[str, Any]:
    """A successful result: the palette part from ``worker.palette.extract`` plus provenance.

    ``cpu_ms``: the worker thread's CPU time per stage, beside the wall ``timings_ms``
    (where a worker's CPU goes: ``benchmarks/bench_pipeline.py`` prints it by stage)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "status": "done",
        "source": {**source, **palette["source"]},
        "options": palette["options"],
        "colors": palette["colors"],
        "pixels": palette["pixels"],
        "quality": palette.get("quality", {}),
        "bar": bar,
        "timings_ms": _rounded({**palette.get("timings_ms", {}), **timings_ms}),
        "cpu_ms": _rounded({**palette.get("cpu_ms", {}), **(cpu_ms or {})}),
        "worker": worker_info(),
        "created_at": now(),
    }


def failed(
    source: dict[str, Any],
    error: PaletteError,
    options: dict[str, Any] | None = None,
    timings_ms: dict[str, float] | None = None,
    attempts: int = 1,
) -> dict[str, Any]:
    """A failed result: a stable code, a readable reason, whether retrying may help and
    how many executions for this version failed so far (``worker.retries``); no colours."""
    return {
        "schema_version": SCHEMA_VERSION,
        "status": "failed",
        "source": source,
        "options": options or {},
        "error": {**error.as_dict(), "attempts": attempts},
        "colors": [],
        "timings_ms": _rounded(timings_ms or {}),
        "worker": worker_info(),
        "created_at": now(),
    }


def bar_ref(bucket: str | None, key: str) -> dict[str, Any]:
    return {"bucket": bucket, "key": key, "width": BAR_WIDTH, "height": BAR_HEIGHT}


def encode(document: dict[str, Any]) -> bytes:
    """Stable bytes: same document, same bytes (key order is the builder's)."""
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def worker_info() -> dict[str, str]:
    """Who made the result: the code version (part of freshness) and the host (not part of
    it: any host's result is as good as another's), so a bad result can be traced to the
    machine that made it."""
    return {"version": __version__, "host": host()}


def host() -> str:
    """This machine's hostname, read at each call (cheap; never cached across a fork)."""
    return socket.gethostname()


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 2) for name, value in timings.items()}

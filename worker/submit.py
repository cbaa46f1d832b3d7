"""Upload local images to the input bucket and wait for their results, as a client would.

It talks only to object storage: the event path (store → api_stub → queue → worker) is
what turns an upload into a result, so ``submit`` exercises the deployed system itself.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worker.config import Settings
from worker.jobs import result_keys
from worker.storage import Storage, get_json

POLL_INTERVAL_S = 0.1


def submit_files(
    storage: Storage,
    settings: Settings,
    paths: Sequence[Path],
    prefix: str,
    timeout: float,
    on_result: Callable[[str], object] | None = None,
) -> list[dict[str, Any]]:
    """Upload every path under ``prefix``; return each result document, in input order.

    A result that has not appeared within ``timeout`` seconds is reported as
    ``{"status": "pending"}`` rather than waited on for ever.
    """
    uploaded: list[tuple[str, str | None]] = []
    for path in paths:
        key = prefix + path.name
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        storage.put(settings.input_bucket, key, path.read_bytes(), content_type)
        info = storage.head(settings.input_bucket, key)
        uploaded.append((key, info.etag if info else None))
    return wait_for_results(storage, settings, uploaded, timeout, on_result)


def wait_for_results(
    storage: Storage,
    settings: Settings,
    uploaded: Sequence[tuple[str, str | None]],
    timeout: float,
    on_result: Callable[[str], object] | None = None,
) -> list[dict[str, Any]]:
    """Poll the output bucket until each key has a result recording its ETag.

    ``on_result(key)`` is called as each one arrives, for a progress display.
    """
    results: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(results) < len(uploaded) and time.monotonic() < deadline:
        for key, etag in uploaded:
            if key in results:
                continue
            doc = get_json(storage, settings.output_bucket, result_keys(key)[0])
            if doc is not None and (etag is None or doc.get("source", {}).get("etag") == etag):
                results[key] = doc
                if on_result:
                    on_result(key)
        if len(results) < len(uploaded):
            time.sleep(POLL_INTERVAL_S)
    return [results.get(key, {"status": "pending", "source": {"key": key}}) for key, _ in uploaded]

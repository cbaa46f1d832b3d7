"""Upload local images to the input bucket and wait for their results, as a client would.

It talks only to object storage: the event path (store → api_stub → queue → worker) is
what turns an upload into a result, so ``submit`` exercises the deployed system itself.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker import outputs
from worker.config import Settings
from worker.freshness import is_current
from worker.storage import Storage, get_json
from worker.upload_options import metadata_for

if TYPE_CHECKING:
    from worker.palette.options import K

POLL_INTERVAL_S = 0.1
REUSE_GRACE_S = 3.0
"""How long a pre-existing result for identical bytes may still be replaced."""


@dataclass(frozen=True)
class Upload:
    key: str
    etag: str | None
    previous: str | None
    """``created_at`` of the result that existed before the upload, if any."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """The ``palette-*`` metadata the upload carried (its options)."""

    def accepts(self, doc: dict[str, Any], settled: bool, default_k: int) -> bool:
        """The result of this upload: current for its ETag and the options it asked for
        (``worker.freshness``), and new (or the old one, once settled)."""
        if not is_current(doc, self.etag, self.metadata, default_k):
            return False
        return settled or doc.get("created_at") != self.previous


def submit_files(
    storage: Storage,
    settings: Settings,
    paths: Sequence[Path],
    prefix: str,
    timeout: float,
    on_result: Callable[[str], object] | None = None,
    k: K | None = None,
) -> list[dict[str, Any]]:
    """Upload every path under ``prefix``; return each result document, in input order.

    ``k`` (1-32 or ``"auto"``) travels as the objects' ``x-amz-meta-palette-k``
    (``worker.upload_options``); None leaves the choice to the deployment. A result that
    has not appeared within ``timeout`` seconds is reported as ``{"status": "pending"}``
    rather than waited on for ever.
    """
    metadata = metadata_for(k)
    uploaded: list[Upload] = []
    for path in paths:
        key = prefix + path.name
        previous = get_json(storage, settings.output_bucket, outputs.PALETTE_JSON.key(key)) or {}
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = path.read_bytes()
        etag = storage.put(settings.input_bucket, key, data, content_type, metadata=metadata)
        if etag is None:  # the store did not say: ask it (no ETag is never current)
            info = storage.head(settings.input_bucket, key)
            etag = info.etag if info is not None else None
        uploaded.append(Upload(key, etag, previous.get("created_at"), metadata))
    return wait_for_results(storage, settings, uploaded, timeout, on_result)


def wait_for_results(
    storage: Storage,
    settings: Settings,
    uploaded: Sequence[Upload],
    timeout: float,
    on_result: Callable[[str], object] | None = None,
) -> list[dict[str, Any]]:
    """Poll the output bucket until each key has a result recording its ETag.

    Re-uploading identical bytes keeps the ETag, so a result that was already there
    (``Upload.previous``) is taken only after ``REUSE_GRACE_S`` without a newer one: by
    then the worker has either kept it (current for these bytes, options and version)
    or is replacing it. ``on_result(key)`` is called as each one arrives.
    """
    results: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    deadline = started + timeout
    while len(results) < len(uploaded) and time.monotonic() < deadline:
        settled = time.monotonic() - started >= REUSE_GRACE_S
        for upload in uploaded:
            if upload.key in results:
                continue
            doc = get_json(storage, settings.output_bucket, outputs.PALETTE_JSON.key(upload.key))
            if doc is not None and upload.accepts(doc, settled, settings.default_k):
                results[upload.key] = doc
                if on_result:
                    on_result(upload.key)
        if len(results) < len(uploaded):
            time.sleep(POLL_INTERVAL_S)
    return [results.get(u.key, {"status": "pending", "source": {"key": u.key}}) for u in uploaded]

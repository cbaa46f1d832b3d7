"""Find input objects whose result is missing or describes another version of the object.

Storage events are at-least-once at best and SeaweedFS keeps its queue in memory, so
events do get lost; the sweep is what makes "every upload ends with a result" true. It
is a function of two bucket listings and the result JSONs: no image is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from worker import freshness, outputs
from worker.config import Settings
from worker.jobs import Job
from worker.storage import ObjectInfo, Storage, get_json


@dataclass(frozen=True)
class SweepReport:
    scanned: int
    enqueued: int
    up_to_date: int


def stale_jobs(storage: Storage, settings: Settings, prefix: str = "") -> Iterator[Job]:
    """Yield a job for every input object without a current result (``is_stale``).

    Each existing result is read (one GET per image): timestamps decide nothing, since a
    result written after its image may still describe an older version of it (a slow
    job for v1 finishing after v2 was uploaded).
    """
    results = {info.key for info in storage.list(settings.output_bucket, prefix)}
    for info in storage.list(settings.input_bucket, prefix):
        json_key = outputs.PALETTE_JSON.key(info.key)
        result = (
            get_json(storage, settings.output_bucket, json_key) if json_key in results else None
        )
        if is_stale(result, info, settings.default_k):
            yield Job(bucket=info.bucket, key=info.key, etag=info.etag, size=info.size)


def is_stale(result: Mapping[str, Any] | None, image: ObjectInfo, default_k: int) -> bool:
    """The sweep's decision for one listed image and its parsed result (None: none), pure.

    A listing carries no metadata, so the result's own recorded metadata stands in for
    the object's (``worker.freshness``): the listing's ETag, the worker version and the
    options that metadata implies decide.
    """
    if result is None:
        return True
    metadata = freshness.recorded_metadata(result)
    return not freshness.is_current(result, image.etag, metadata, default_k)


def sweep(
    storage: Storage, settings: Settings, enqueue: Callable[[Job], object], prefix: str = ""
) -> SweepReport:
    """Enqueue every stale job; the report says how much of the bucket was already done."""
    enqueued = 0
    for job in stale_jobs(storage, settings, prefix):
        enqueue(job)
        enqueued += 1
    scanned = sum(1 for _ in storage.list(settings.input_bucket, prefix))
    return SweepReport(scanned=scanned, enqueued=enqueued, up_to_date=scanned - enqueued)

"""Find input objects whose result is missing or describes another version of the object.

Storage events are at-least-once at best and SeaweedFS keeps its queue in memory, so
events do get lost; the sweep is what makes "every upload ends with a result" true. It
is a pure-ish function of two bucket listings: no image is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from worker.config import Settings
from worker.jobs import Job, result_keys
from worker.storage import ObjectInfo, Storage, get_json


@dataclass(frozen=True)
class SweepReport:
    scanned: int
    enqueued: int
    up_to_date: int


def stale_jobs(storage: Storage, settings: Settings, prefix: str = "") -> Iterator[Job]:
    """Yield a job for every input object without a result for its current ETag.

    A result written after the image was is current without reading it; only a result
    older than its image is opened to compare the ETag it records, so a sweep of an
    up-to-date bucket costs two listings and no GETs.
    """
    results = {info.key: info for info in storage.list(settings.output_bucket, prefix)}
    for info in storage.list(settings.input_bucket, prefix):
        result = results.get(result_keys(info.key)[0])
        if result is not None and _is_current(storage, settings, info, result):
            continue
        yield Job(bucket=info.bucket, key=info.key, etag=info.etag, size=info.size)


def _is_current(
    storage: Storage, settings: Settings, image: ObjectInfo, result: ObjectInfo
) -> bool:
    if image.last_modified and result.last_modified and result.last_modified >= image.last_modified:
        return True
    return _records_etag(storage, settings, result.key, image.etag)


def _records_etag(storage: Storage, settings: Settings, json_key: str, etag: str | None) -> bool:
    stored = get_json(storage, settings.output_bucket, json_key)
    if stored is None:
        return False
    return bool(stored.get("source", {}).get("etag") == etag)


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

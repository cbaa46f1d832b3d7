"""Find input objects whose result is missing or describes another version of the object,
and results whose image is gone.

Storage events are at-least-once at best and SeaweedFS keeps its queue in memory, so
events do get lost; the sweep is what makes "every upload ends with a result" (and
"a deleted image loses its results") true. It is a function of two bucket listings and
the result JSONs: no image is downloaded. Each pass walks the two listings once, side
by side, so memory does not grow with the bucket (``benchmarks/bench_sweep.py``
measures it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from worker import freshness, outputs, retries
from worker.config import Settings
from worker.jobs import REMOVE, Job
from worker.storage import ObjectInfo, Storage, get_json


@dataclass
class SweepReport:
    scanned: int = 0
    enqueued: int = 0
    removed: int = 0
    """Removal jobs sent for results whose image is gone."""

    @property
    def up_to_date(self) -> int:
        return self.scanned - self.enqueued


def stale_jobs(
    storage: Storage, settings: Settings, prefix: str = "", report: SweepReport | None = None
) -> Iterator[Job]:
    """Yield a job for every input object without a current result, or whose current
    result is a retryable failure due for another attempt (``is_stale``).

    One pass over each bucket's listing, page by page, side by side (``KeyCursor``):
    memory stays the same at 10 or 10⁷ objects. Each existing result is read (one GET
    per image): timestamps decide nothing, since a result written after its image may
    still describe an older version of it (a slow job for v1 finishing after v2 was
    uploaded). ``report.scanned`` counts the inputs walked.
    """
    results = KeyCursor(info.key for info in storage.list(settings.output_bucket, prefix))
    policy = retries.RetryPolicy(settings.failure_retry_s, settings.failure_attempts)
    now = time.time()
    for info in storage.list(settings.input_bucket, prefix):
        if report is not None:
            report.scanned += 1
        json_key = outputs.PALETTE_JSON.key(info.key)
        known = results.has(json_key)
        result = None if known is False else get_json(storage, settings.output_bucket, json_key)
        if is_stale(result, info, settings.default_k, policy, now):
            yield Job(bucket=info.bucket, key=info.key, etag=info.etag, size=info.size)


def orphan_jobs(storage: Storage, settings: Settings, prefix: str = "") -> Iterator[Job]:
    """Yield a removal job for every image that has results (any output) but no longer
    exists: its ``ObjectRemoved`` event was lost, or its removal job failed for good.

    The output listing drives, the input listing is walked beside it (``KeyCursor``);
    where the cursor cannot tell, a HEAD of the image decides. A removal job looks at the
    image again before it deletes anything (``worker.removal``), so an image uploaded
    since its listing keeps its results. One job per image, not per output file.
    """
    images = KeyCursor(info.key for info in storage.list(settings.input_bucket, prefix))
    previous = None
    for info in storage.list(settings.output_bucket, prefix):
        key = outputs.image_of(info.key)
        if key is None or key == previous:
            continue
        previous = key
        exists = images.has(key)
        if exists is None:
            exists = storage.head(settings.input_bucket, key) is not None
        if not exists:
            yield Job(bucket=settings.input_bucket, key=key, action=REMOVE)


class KeyCursor:
    """A bucket's key listing, walked forward as the other listing asks.

    Both listings come in key order, but an image key and its result keys (``key +
    ".json"``) do not always keep the same order: "a" < "a-b" while "a-b.json" <
    "a.json" ('-' sorts before '.'); and SeaweedFS lists a "directory" where its bare
    name sorts ("a/c" before "a b"), not in S3's byte order
    (tests/integration/test_sweep.py). When a key is asked for behind the furthest one
    asked so far, the cursor may already be past it and cannot say: ``has`` answers None
    and the caller asks the store directly (a GET of the result, a HEAD of the image).
    Otherwise the answer is exact. A listing out of order can only make ``has`` say
    False for a key that exists: the image is enqueued (and the worker skips a job whose
    result is current), or a removal is (and it finds the image there and deletes
    nothing). Memory: one key.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = iter(keys)
        self._current: str | None = next(self._keys, None)
        self._furthest = ""

    def has(self, key: str) -> bool | None:
        """Whether the listing holds ``key``; None when the cursor cannot tell."""
        if key < self._furthest:
            return None
        self._furthest = key
        while self._current is not None and self._current < key:
            self._current = next(self._keys, None)
        return self._current == key


def is_stale(
    result: Mapping[str, Any] | None,
    image: ObjectInfo,
    default_k: int,
    policy: retries.RetryPolicy | None = None,
    now: float = 0.0,
) -> bool:
    """The sweep's decision for one listed image and its parsed result (None: none), pure.

    A listing carries no metadata, so the result's own recorded metadata stands in for
    the object's (``worker.freshness``): the listing's ETag, the worker version and the
    options that metadata implies decide. A current result is enqueued again only when
    it is a retryable failure due at ``now`` under ``policy`` (``worker.retries``).
    """
    if result is None:
        return True
    metadata = freshness.recorded_metadata(result)
    if not freshness.is_current(result, image.etag, metadata, default_k):
        return True
    return policy is not None and retries.due(result, now, policy)


def sweep(
    storage: Storage, settings: Settings, enqueue: Callable[[Job], object], prefix: str = ""
) -> SweepReport:
    """Enqueue every stale job, then a removal job for every image that is gone but has
    results; the report says how much of the bucket was already done."""
    report = SweepReport()
    for job in stale_jobs(storage, settings, prefix, report):
        enqueue(job)
        report.enqueued += 1
    for job in orphan_jobs(storage, settings, prefix):
        enqueue(job)
        report.removed += 1
    return report

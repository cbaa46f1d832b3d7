"""``MemoryStorage``: the in-memory twin of ``S3Storage`` for unit tests.

Same errors and semantics (ETag = MD5 of the bytes, as S3 computes it for a single PUT;
listing in key order), checked by the shared contract test against the real store.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from worker.errors import SourceMissing, TooLarge
from worker.storage.base import ObjectInfo


class MemoryStorage:
    """Objects in a dict; thread-safe, because the api_stub serves from a thread pool."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        """(bucket, key) → (bytes, content type): tests read and plant objects here."""
        self.modified: dict[tuple[str, str], datetime] = {}
        self.metadata: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        stored = self._stored(bucket, key)
        return None if stored is None else stored[1]

    def fetch(
        self, bucket: str, key: str, max_bytes: int | None = None
    ) -> tuple[bytes, ObjectInfo]:
        stored = self._stored(bucket, key)
        if stored is None:
            raise SourceMissing(f"s3://{bucket}/{key} does not exist")
        data = stored[0]
        if max_bytes is not None and len(data) > max_bytes:
            raise TooLarge(f"object is {len(data)} bytes, the limit is {max_bytes}")
        return stored

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        return self.fetch(bucket, key, max_bytes)[0]

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str | None:
        with self._lock:
            self.objects[(bucket, key)] = (bytes(data), content_type)
            self.modified[(bucket, key)] = datetime.now(UTC)
            self.metadata[(bucket, key)] = {k.lower(): v for k, v in (metadata or {}).items()}
        return _md5(data)

    def delete(self, bucket: str, key: str) -> None:
        with self._lock:
            self.objects.pop((bucket, key), None)
            self.modified.pop((bucket, key), None)
            self.metadata.pop((bucket, key), None)

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            keys = sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))
        for key in keys:
            info = self.head(bucket, key)
            if info is not None:  # a listing carries no metadata, as S3's does not
                yield ObjectInfo(info.bucket, key, info.size, info.etag, info.last_modified)

    def _stored(self, bucket: str, key: str) -> tuple[bytes, ObjectInfo] | None:
        """The bytes and info of one object, read under the lock; ``head`` and ``fetch``
        both answer from it (tests that override ``head`` leave ``fetch`` alone)."""
        with self._lock:
            found = self.objects.get((bucket, key))
            modified = self.modified.get((bucket, key))
            metadata = dict(self.metadata.get((bucket, key), {}))
        if found is None:
            return None
        data = found[0]
        return data, ObjectInfo(bucket, key, len(data), _md5(data), modified, metadata)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()

"""The storage seam: what every layer above needs from an object store, and no more."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from worker.errors import SourceMissing


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object's identity; ``etag`` is bare (no quotes), as events carry it.

    ``metadata`` is the object's user metadata (``x-amz-meta-<name>``: names lower-case,
    without the prefix), as ``head`` and ``fetch`` return it; a listing carries none.
    """

    bucket: str
    key: str
    size: int
    etag: str | None
    last_modified: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)


class Storage(Protocol):
    """Six methods; errors are the package's own, never a client library's.

    A missing object is ``SourceMissing`` (``None`` from ``head``); a store that cannot
    answer now is ``StorageUnavailable``; ``fetch`` over ``max_bytes`` is ``TooLarge``.
    """

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's info, or None when it does not exist."""
        ...

    def fetch(
        self, bucket: str, key: str, max_bytes: int | None = None
    ) -> tuple[bytes, ObjectInfo]:
        """The bytes and the version they are, in one request."""
        ...

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        """The bytes only."""
        ...

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str | None:
        """Store ``data`` (with user ``metadata``, ASCII names and values); returns the new
        object's ETag (bare) when the store says it."""
        ...

    def delete(self, bucket: str, key: str) -> None:
        """Remove the object; removing one that does not exist is not an error."""
        ...

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, in key order."""
        ...


def get_json(storage: Storage, bucket: str, key: str) -> dict[str, Any] | None:
    """A stored JSON document, or None when it does not exist (or is not a JSON object)."""
    try:
        data = storage.get(bucket, key)
    except SourceMissing:
        return None
    try:
        loaded = json.loads(data)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None

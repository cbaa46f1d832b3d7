"""Helpers any test may use, unit or integration."""

from __future__ import annotations

from worker.storage import Storage


def etag_of(storage: Storage, bucket: str, key: str) -> str:
    """The stored object's ETag; the object must exist and the store must say it."""
    info = storage.head(bucket, key)
    assert info is not None, f"s3://{bucket}/{key} does not exist"
    assert info.etag is not None, f"s3://{bucket}/{key} has no ETag"
    return info.etag

"""Object storage behind a four-method seam: head, get, put, list.

``S3Storage`` speaks to any S3 server through boto3 (AWS, MinIO, SeaweedFS);
``MemoryStorage`` keeps objects in a dict for unit tests of the layers above.
botocore's errors are translated here, once, into the package's error tree, so no
caller ever catches a botocore exception.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from worker.config import Settings
from worker.errors import SourceMissing, StorageUnavailable, TooLarge
from worker.jobs import normalise_etag

_MISSING_CODES = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str | None
    last_modified: datetime | None = None


class Storage(Protocol):
    def head(self, bucket: str, key: str) -> ObjectInfo | None: ...

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes: ...

    def fetch(
        self, bucket: str, key: str, max_bytes: int | None = None
    ) -> tuple[bytes, ObjectInfo]: ...

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str,
        cache_control: str | None = None,
    ) -> None: ...

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]: ...


def get_json(storage: Storage, bucket: str, key: str) -> dict[str, Any] | None:
    """A stored JSON document, or None when it does not exist (or is not JSON)."""
    try:
        data = storage.get(bucket, key)
    except SourceMissing:
        return None
    try:
        loaded = json.loads(data)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


class S3Storage:
    """boto3 adapter; one client per instance, reused (clients are thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=settings.s3_timeout,
            read_timeout=settings.s3_timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
            s3={"addressing_style": "path"},
            # SeaweedFS and older MinIO reject the checksum trailers newer botocore adds.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint,
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            region_name=settings.region,
            config=config,
        )

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise _translate(exc, bucket, key) from exc
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=int(response.get("ContentLength", 0)),
            etag=normalise_etag(response.get("ETag")),
            last_modified=response.get("LastModified"),
        )

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        return self.fetch(bucket, key, max_bytes)[0]

    def fetch(
        self, bucket: str, key: str, max_bytes: int | None = None
    ) -> tuple[bytes, ObjectInfo]:
        """The bytes and the version they are: one request where HEAD + GET would be two."""
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            size = int(response.get("ContentLength", 0))
            if max_bytes is not None and size > max_bytes:
                response["Body"].close()
                raise TooLarge(f"object is {size} bytes, the limit is {max_bytes}")
            # Read at most one byte past the limit: a lying Content-Length cannot flood us.
            limit = None if max_bytes is None else max_bytes + 1
            data: bytes = response["Body"].read(limit)
            response["Body"].close()
        except TooLarge:
            raise
        except Exception as exc:
            raise _translate(exc, bucket, key) from exc
        if max_bytes is not None and len(data) > max_bytes:
            raise TooLarge(f"object is over the limit of {max_bytes} bytes")
        etag = normalise_etag(response.get("ETag"))
        return data, ObjectInfo(bucket, key, len(data), etag, response.get("LastModified"))

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str,
        cache_control: str | None = None,
    ) -> None:
        extra = {"CacheControl": cache_control} if cache_control else {}
        try:
            self.client.put_object(
                Bucket=bucket, Key=key, Body=data, ContentType=content_type, **extra
            )
        except Exception as exc:
            raise _translate(exc, bucket, key) from exc

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        bucket=bucket,
                        key=item["Key"],
                        size=int(item.get("Size", 0)),
                        etag=normalise_etag(item.get("ETag")),
                        last_modified=item.get("LastModified"),
                    )
        except Exception as exc:
            raise _translate(exc, bucket, prefix) from exc

    def ensure_bucket(self, bucket: str) -> None:
        """Create a bucket if it is missing; used by the stack launcher and tests."""
        try:
            self.client.create_bucket(Bucket=bucket)
        except Exception as exc:
            if _error_code(exc) in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                return
            raise _translate(exc, bucket, "") from exc


class MemoryStorage:
    """In-memory twin of S3Storage for unit tests; same errors, same semantics."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.modified: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        with self._lock:
            found = self.objects.get((bucket, key))
        if found is None:
            return None
        modified = self.modified[(bucket, key)]
        return ObjectInfo(bucket, key, len(found[0]), _md5(found[0]), modified)

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        return self.fetch(bucket, key, max_bytes)[0]

    def fetch(
        self, bucket: str, key: str, max_bytes: int | None = None
    ) -> tuple[bytes, ObjectInfo]:
        info = self.head(bucket, key)
        with self._lock:
            found = self.objects.get((bucket, key))
        if found is None or info is None:
            raise SourceMissing(f"s3://{bucket}/{key} does not exist")
        if max_bytes is not None and len(found[0]) > max_bytes:
            raise TooLarge(f"object is {len(found[0])} bytes, the limit is {max_bytes}")
        return found[0], info

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str,
        cache_control: str | None = None,
    ) -> None:
        with self._lock:
            self.objects[(bucket, key)] = (bytes(data), content_type)
            self.modified[(bucket, key)] = datetime.now(UTC)

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            keys = sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))
        for key in keys:
            info = self.head(bucket, key)
            if info is not None:
                yield info


def _md5(data: bytes) -> str:
    import hashlib

    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _is_missing(exc: Exception) -> bool:
    return _error_code(exc) in _MISSING_CODES


def _translate(exc: Exception, bucket: str, key: str) -> Exception:
    """Map a botocore failure onto our tree: a missing object is permanent, all else transient."""
    if _is_missing(exc):
        return SourceMissing(f"s3://{bucket}/{key} does not exist")
    code = _error_code(exc) or type(exc).__name__
    return StorageUnavailable(f"storage error on s3://{bucket}/{key}: {code}")

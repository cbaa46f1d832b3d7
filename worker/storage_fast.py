"""The worker's three hot S3 calls (head, get, put) without botocore, for S3-compatible servers.

Why: botocore spends about 0.8 ms of CPU per request on this project's machine building,
signing and parsing it; the same request signed by hand and sent over a keep-alive
``http.client`` connection costs about 0.15 ms (``benchmarks/bench_pipeline.py``). The
worker makes five requests per image, on the same two cores as the store.

``FastS3Storage`` is an ``S3Storage``: ``list``, ``ensure_bucket`` and anything else stay
on boto3. It is only used where it is exact: an explicit endpoint (MinIO, SeaweedFS,
path-style) and static keys; AWS itself (credential chain, virtual hosts, session
tokens) keeps boto3. Same errors as ``S3Storage``: a missing object or bucket is
``SourceMissing`` (``None`` from ``head``), anything else ``StorageUnavailable`` after
``ATTEMPTS`` tries for connection errors and 5xx, like botocore's standard retry mode.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import random
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

from worker.config import Settings
from worker.errors import SourceMissing, StorageUnavailable, TooLarge
from worker.jobs import normalise_etag
from worker.storage import ObjectInfo, S3Storage

ATTEMPTS = 3
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_RETRYABLE = frozenset({500, 502, 503, 504})


def usable(settings: Settings) -> bool:
    """True when the fast path is exact for these settings (see the module docstring)."""
    return bool(settings.s3_endpoint and settings.access_key and settings.secret_key)


class SigV4:
    """AWS Signature Version 4 for S3 header authentication; the day's key is cached."""

    def __init__(self, access_key: str, secret_key: str, region: str) -> None:
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self._day, self._key = "", b""

    def headers(
        self, method: str, host: str, path: str, payload_sha256: str, now: datetime | None = None
    ) -> dict[str, str]:
        """The headers that authenticate ``method path`` (no query string) at ``now``."""
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        signed = {"host": host, "x-amz-content-sha256": payload_sha256, "x-amz-date": stamp}
        names = ";".join(signed)
        canonical = "\n".join(
            [method, path, "", *(f"{k}:{v}" for k, v in signed.items()), "", names, payload_sha256]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        signature = hmac.new(self._signing_key(day), to_sign.encode(), hashlib.sha256)
        return {
            "x-amz-content-sha256": payload_sha256,
            "x-amz-date": stamp,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature.hexdigest()}",
        }

    def _signing_key(self, day: str) -> bytes:
        if day != self._day:
            key = ("AWS4" + self.secret_key).encode()
            for part in (day, self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._day, self._key = day, key
        return self._key


class FastS3Storage(S3Storage):
    """``S3Storage`` with head/get/put on one keep-alive connection per thread."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)  # boto3 stays for list/ensure_bucket
        endpoint, access, secret = settings.s3_endpoint, settings.access_key, settings.secret_key
        if not (endpoint and access and secret):
            raise ValueError("FastS3Storage needs an endpoint and static keys")
        parts = urlsplit(endpoint)
        self._https = parts.scheme == "https"
        self._host = _host_header(parts.hostname or "", parts.port, self._https)
        self._timeout = settings.s3_timeout
        self._signer = SigV4(access, secret, settings.region)
        self._local = threading.local()

    # --- the seam -------------------------------------------------------------------

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        status, headers, _ = self._request("HEAD", bucket, key)
        if status == 404:
            return None
        if status != 200:
            raise _unavailable(status, bucket, key)
        return _info(bucket, key, headers)

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        return self.fetch(bucket, key, max_bytes)[0]

    def fetch(
        self, bucket: str, key: str, max_bytes: int | None = None
    ) -> tuple[bytes, ObjectInfo]:
        status, headers, data = self._request("GET", bucket, key, max_bytes=max_bytes)
        if status == 404:
            raise SourceMissing(f"s3://{bucket}/{key} does not exist")
        if status != 200:
            raise _unavailable(status, bucket, key)
        return data, _info(bucket, key, headers)

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str,
        cache_control: str | None = None,
    ) -> None:
        extra = {"Content-Type": content_type}
        if cache_control:
            extra["Cache-Control"] = cache_control
        status, _, _ = self._request("PUT", bucket, key, body=data, extra=extra)
        if status == 404:
            raise SourceMissing(f"s3://{bucket} does not exist")
        if status != 200:
            raise _unavailable(status, bucket, key)

    # --- HTTP -----------------------------------------------------------------------

    def _request(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        body: bytes = b"",
        extra: dict[str, str] | None = None,
        max_bytes: int | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send with retries on connection errors and 5xx; (status, headers, body)."""
        path = "/" + quote(bucket, safe="") + "/" + quote(key, safe="/~")
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        for attempt in range(1, ATTEMPTS + 1):
            headers = {**self._signer.headers(method, self._host, path, payload), **(extra or {})}
            try:
                result = self._exchange(method, path, body, headers, max_bytes)
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection()
                if attempt == ATTEMPTS:
                    raise StorageUnavailable(
                        f"storage error on s3://{bucket}/{key}: {type(exc).__name__}"
                    ) from exc
            else:
                if result[0] not in _RETRYABLE or attempt == ATTEMPTS:
                    return result
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
        raise AssertionError("unreachable")

    def _exchange(
        self, method: str, path: str, body: bytes, headers: dict[str, str], max_bytes: int | None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = self._connection()
        conn.request(method, path, body=body or None, headers=headers)
        response = conn.getresponse()
        found = {k.lower(): v for k, v in response.getheaders()}
        if method == "HEAD" or response.status != 200:
            response.read()
            return response.status, found, b""
        size = int(found.get("content-length", "-1"))
        if max_bytes is not None and size > max_bytes:
            self._drop_connection()  # the body stays unread: the connection is spent
            raise TooLarge(f"object is {size} bytes, the limit is {max_bytes}")
        # At most one byte past the limit: a lying Content-Length cannot flood us.
        data = response.read(None if max_bytes is None else max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:
            self._drop_connection()
            raise TooLarge(f"object is over the limit of {max_bytes} bytes")
        return response.status, found, data

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            factory = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = factory(self._host, timeout=self._timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _info(bucket: str, key: str, headers: dict[str, str]) -> ObjectInfo:
    modified = headers.get("last-modified")
    return ObjectInfo(
        bucket=bucket,
        key=key,
        size=int(headers.get("content-length", 0)),
        etag=normalise_etag(headers.get("etag")),
        last_modified=parsedate_to_datetime(modified) if modified else None,
    )


def _host_header(hostname: str, port: int | None, https: bool) -> str:
    """The Host header http.client sends (default port left out), which we must sign."""
    host = f"[{hostname}]" if ":" in hostname else hostname
    return host if port in (None, 443 if https else 80) else f"{host}:{port}"


def _unavailable(status: int, bucket: str, key: str) -> StorageUnavailable:
    return StorageUnavailable(f"storage error on s3://{bucket}/{key}: HTTP {status}")

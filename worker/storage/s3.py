"""``S3Storage``: any S3 server (AWS, MinIO, SeaweedFS, Ceph) through boto3 and botocore.

Everything goes through one boto3 client, so its credential chain, session tokens,
endpoints (path prefixes included), proxies, CA bundles, retries and error codes apply.

The worker's three hot calls (GET the image, PUT the bar and the JSON, HEAD) take a
shorter road to the same place when there is an explicit endpoint: botocore's own
signer (``S3SigV4Auth``) on a prepared request, sent over one keep-alive connection per
thread. A full boto3 call spends ~1.5 ms of CPU per request on this project's machine
in parameter validation, event hooks, endpoint rules and response parsing; the short
road ~0.4 ms (``benchmarks/bench_storage.py``). It is one attempt: any answer but a
definitive one (200, or 404 for a read), and any connection error, sends the same
request through boto3, whose retries and error translation then decide. The URL each
bucket lives at comes from botocore too (a presigned URL, computed once per bucket), and
the short road is left to boto3 whenever a proxy applies to that URL, or on AWS itself
(region redirects, S3 Express and checksums are boto3's business there).

botocore's errors are translated here, once, into the package's error tree: a missing
object or bucket is ``SourceMissing``, anything else ``StorageUnavailable``.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.session
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import get_cert_path
from botocore.utils import get_environ_proxies

from worker.config import Settings
from worker.errors import SourceMissing, StorageUnavailable, TooLarge
from worker.jobs import normalise_etag
from worker.storage.base import ObjectInfo
from worker.storage.clients import s3_client

_MISSING_CODES = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
_META_PREFIX = "x-amz-meta-"
_PROBE_KEY = "k"
"""The key of the presigned URL a bucket's base URL is read from (its last path segment)."""


class S3Storage:
    """The ``Storage`` protocol on S3; one boto3 client per instance (clients are
    thread-safe), one short-road connection per thread."""

    def __init__(self, settings: Settings) -> None:
        core = botocore.session.get_session()
        self.client = s3_client(settings, pool=32, botocore_session=core)
        self._short = (
            _ShortRoad(self.client, core, settings.s3_timeout) if settings.s3_endpoint else None
        )

    # --- the seam -------------------------------------------------------------------

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        answer = self._try_short("HEAD", bucket, key)
        if answer is not None and answer.status in (200, 404):
            return answer.info(bucket, key) if answer.status == 200 else None
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise _translate(exc, bucket, key) from exc
        return _info(bucket, key, response, int(response.get("ContentLength", 0)))

    def fetch(
        self, bucket: str, key: str, max_bytes: int | None = None
    ) -> tuple[bytes, ObjectInfo]:
        """The bytes and the version they are: one request where HEAD + GET would be two."""
        answer = self._try_short("GET", bucket, key, max_bytes=max_bytes)
        if answer is not None and answer.status == 200:
            return answer.body, answer.info(bucket, key)
        if answer is not None and answer.status == 404:
            raise SourceMissing(f"s3://{bucket}/{key} does not exist")
        return self._fetch_boto3(bucket, key, max_bytes)

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
        headers = {"Content-Type": content_type}
        if cache_control:
            headers["Cache-Control"] = cache_control
        for name, value in (metadata or {}).items():
            headers[_META_PREFIX + name.lower()] = value
        answer = self._try_short("PUT", bucket, key, body=data, headers=headers)
        if answer is not None and answer.status == 200:
            return normalise_etag(answer.headers.get("etag"))
        extra: dict[str, Any] = {"CacheControl": cache_control} if cache_control else {}
        if metadata:
            extra["Metadata"] = {name.lower(): value for name, value in metadata.items()}
        try:
            response = self.client.put_object(
                Bucket=bucket, Key=key, Body=data, ContentType=content_type, **extra
            )
        except Exception as exc:
            raise _translate(exc, bucket, key) from exc
        return normalise_etag(response.get("ETag"))

    def delete(self, bucket: str, key: str) -> None:
        """boto3's DeleteObject (rare: an image's deletion); S3 answers 204 for an absent key."""
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if not _is_missing(exc):  # a missing bucket: nothing to delete either
                raise _translate(exc, bucket, key) from exc

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield _info(bucket, item["Key"], item, int(item.get("Size", 0)))
        except Exception as exc:
            raise _translate(exc, bucket, prefix) from exc

    def close(self) -> None:
        """Close boto3's pool and this thread's short-road connection."""
        if self._short is not None:
            self._short.close()
        self.client.close()

    # --- the two roads --------------------------------------------------------------

    def _try_short(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        max_bytes: int | None = None,
    ) -> _Answer | None:
        if self._short is None:
            return None
        return self._short.send(method, bucket, key, body, headers or {}, max_bytes)

    def _fetch_boto3(
        self, bucket: str, key: str, max_bytes: int | None
    ) -> tuple[bytes, ObjectInfo]:
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            size = int(response.get("ContentLength", 0))
            body = response["Body"]
            if max_bytes is not None and size > max_bytes:
                body.close()
                raise TooLarge(f"object is {size} bytes, the limit is {max_bytes}")
            # Read at most one byte past the limit: a lying Content-Length cannot flood us.
            data: bytes = body.read(None if max_bytes is None else max_bytes + 1)
            body.close()
        except TooLarge:
            raise
        except Exception as exc:
            raise _translate(exc, bucket, key) from exc
        _check_size(len(data), max_bytes)
        return data, _info(bucket, key, response, len(data))


# --- the short road ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    """A response read to the end: the connection is free for the next request."""

    status: int
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes

    def info(self, bucket: str, key: str) -> ObjectInfo:
        modified = self.headers.get("last-modified")
        size = len(self.body) if self.body else int(self.headers.get("content-length", 0))
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=size,
            etag=normalise_etag(self.headers.get("etag")),
            last_modified=parsedate_to_datetime(modified) if modified else None,
            metadata={
                name[len(_META_PREFIX) :]: value
                for name, value in self.headers.items()
                if name.startswith(_META_PREFIX)
            },
        )


@dataclass(frozen=True)
class _Base:
    """Where a bucket's objects live: ``<scheme>://<netloc><path>/<quoted key>``."""

    https: bool
    netloc: str
    path: str


class _ShortRoad:
    """One signed attempt over this thread's keep-alive connection; None means "ask boto3"."""

    def __init__(self, client: Any, core: botocore.session.Session, timeout: float) -> None:
        self._client = client
        self._credentials = core.get_credentials()
        self._region: str = client.meta.region_name
        self._timeout = timeout
        self._tls = ssl.create_default_context(
            cafile=get_cert_path(core.get_config_variable("ca_bundle") or True)
        )
        self._bases: dict[str, _Base | None] = {}
        self._local = threading.local()

    def send(
        self,
        method: str,
        bucket: str,
        key: str,
        body: bytes,
        headers: dict[str, str],
        max_bytes: int | None,
    ) -> _Answer | None:
        base = self._base(bucket)
        if base is None or self._credentials is None:
            return None
        path = base.path + "/" + quote(key, safe="/~")
        scheme = "https" if base.https else "http"
        request = AWSRequest(method, f"{scheme}://{base.netloc}{path}", headers, body or None)
        S3SigV4Auth(self._credentials.get_frozen_credentials(), "s3", self._region).add_auth(
            request
        )
        try:
            return self._exchange(base, method, path, request, max_bytes)
        except (OSError, http.client.HTTPException):
            self._drop()  # a server-closed keep-alive connection, or the store is down
            return None

    def close(self) -> None:
        self._drop()

    def _exchange(
        self, base: _Base, method: str, path: str, request: AWSRequest, max_bytes: int | None
    ) -> _Answer:
        conn = self._connection(base)
        conn.request(method, path, body=request.data, headers=dict(request.headers.items()))
        response = conn.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        if method == "GET" and response.status == 200 and max_bytes is not None:
            declared = int(headers.get("content-length", "-1"))
            if declared > max_bytes:
                self._drop()  # the body stays unread: the connection is spent
                raise TooLarge(f"object is {declared} bytes, the limit is {max_bytes}")
            data = response.read(max_bytes + 1)  # a lying Content-Length cannot flood us
            if len(data) > max_bytes:
                self._drop()
            _check_size(len(data), max_bytes)
            return _Answer(response.status, headers, data)
        return _Answer(response.status, headers, response.read())

    def _base(self, bucket: str) -> _Base | None:
        """The bucket's URL as botocore addresses it (path prefix and style included);
        None when a proxy applies to it (boto3 then sends through the proxy)."""
        if bucket not in self._bases:
            url = self._client.generate_presigned_url(
                "head_object", Params={"Bucket": bucket, "Key": _PROBE_KEY}, ExpiresIn=60
            )
            parts = urlsplit(url)
            proxied = self._client.meta.config.proxies or get_environ_proxies(url)
            base = _Base(parts.scheme == "https", parts.netloc, parts.path[: -len(_PROBE_KEY) - 1])
            self._bases[bucket] = None if proxied else base
        return self._bases[bucket]

    def _connection(self, base: _Base) -> http.client.HTTPConnection:
        conns: dict[_Base, http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "conns", {}
        )
        conn = conns.get(base)
        if conn is None:
            if base.https:
                conn = http.client.HTTPSConnection(
                    base.netloc, timeout=self._timeout, context=self._tls
                )
            else:
                conn = http.client.HTTPConnection(base.netloc, timeout=self._timeout)
            conns[base] = conn
        return conn

    def _drop(self) -> None:
        for conn in self._local.__dict__.pop("conns", {}).values():
            conn.close()


# --- boto3's answers --------------------------------------------------------------------


def _info(bucket: str, key: str, response: dict[str, Any], size: int) -> ObjectInfo:
    metadata = response.get("Metadata") or {}
    return ObjectInfo(
        bucket=bucket,
        key=key,
        size=size,
        etag=normalise_etag(response.get("ETag")),
        last_modified=response.get("LastModified"),
        metadata={str(name).lower(): str(value) for name, value in metadata.items()},
    )


def _check_size(size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise TooLarge(f"object is over the limit of {max_bytes} bytes")


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

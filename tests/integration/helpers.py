"""Client-side helpers for integration tests: what a real user of the buckets would do."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any


def wait_for_result(
    s3: Any, key: str, etag: str | None = None, timeout: float = 45.0
) -> dict[str, Any]:
    """Poll the output bucket like a client; return the document once it records ``etag``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = s3.get_object(Bucket="palettes", Key=key + ".json")["Body"].read()
        except s3.exceptions.NoSuchKey:
            body = None
        if body is not None:
            doc = json.loads(body)
            if etag is None or doc["source"]["etag"] == etag:
                return doc
        time.sleep(0.1)
    raise AssertionError(f"no result for {key!r} within {timeout} s")


def upload(s3: Any, key: str, data: bytes, content_type: str = "image/jpeg") -> str:
    return s3.put_object(Bucket="images", Key=key, Body=data, ContentType=content_type)[
        "ETag"
    ].strip('"')


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception:
        return False
    return True


def http_get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")

"""Client-side helpers for integration tests: what a real user of the buckets would do."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis


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


# --- faults: what the fault tests and benchmarks/chaos.py do to a running stack ----------


def kill_group(proc: Any) -> None:
    """SIGKILL a component and every process of its group (Celery's pool children too)."""
    import contextlib
    import os
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    wait_until(lambda: not _alive(proc.pid), timeout=10)


def children(pid: int) -> list[int]:
    """Live direct children of ``pid`` (a Celery worker's pool processes, when beat is off)."""
    from infra.processes import children as live_children

    return live_children(pid)


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; never asserts on time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def _alive(pid: int) -> bool:
    from infra.processes import running

    return running(pid)


def flush_redis(url: str) -> None:
    """Empty the Redis database at ``url`` (tests own their database number)."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def flushed_redis(url: str) -> Iterator[redis.Redis]:
    """A client of the Redis database at ``url``, emptied before and after; the test is
    skipped when no Redis answers there."""
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {url}: {exc}")
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()

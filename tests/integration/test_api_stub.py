"""The api_stub over real HTTP (uvicorn on a free port) against the real Redis.

The app runs in a thread with ``MemoryStorage`` (so the test controls what exists) and
the real ``Enqueuer``, whose messages land in Redis DB 13 on 127.0.0.1:6379; that DB is
flushed before and after each test. ``python -m api_stub`` itself is started once as a
subprocess to prove the entry point binds, serves and stops on SIGTERM.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import uvicorn

from api_stub.app import create_app
from tests.helpers import etag_of
from tests.integration.helpers import flushed_redis
from worker import __version__
from worker.config import Settings
from worker.freshness import expected_options
from worker.jobs import QUEUE_NAME, TASK_NAME
from worker.storage import MemoryStorage

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("PALETTE_TEST_API_STUB_REDIS", "redis://127.0.0.1:6379/13")
EVENTS = Path(__file__).resolve().parents[1] / "data" / "events"
TOKEN = "integration-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEY = "my photos/a b+c ü%.png"
BROKER_DOWN_BUDGET_S = 2.5
"""A dead broker must turn into a 503 this fast, or the store's retry loop stalls."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    with flushed_redis(REDIS_URL) as client:
        yield client


class Served:
    """A uvicorn server in a thread, bound to a socket we opened on a free port."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        self.client = httpx.Client(base_url=self.url, timeout=10)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def serve(broker_url: str, storage: MemoryStorage | None = None) -> Served:
    settings = Settings.from_env({"PALETTE_BROKER_URL": broker_url, "PALETTE_WEBHOOK_TOKEN": TOKEN})
    return Served(create_app(settings, storage=storage or MemoryStorage()))


def queued_messages(client: redis.Redis) -> list[dict[str, Any]]:
    """Decode kombu's Redis envelopes: JSON with a base64 body of ``[args, kwargs, embed]``."""
    messages = []
    for raw in client.lrange(QUEUE_NAME, 0, -1):
        envelope = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        messages.append({"headers": envelope["headers"], "args": args, "kwargs": kwargs})
    return messages


def event(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def test_seaweed_event_leaves_a_celery_message_in_redis(broker: redis.Redis) -> None:
    with serve(REDIS_URL) as http:
        response = http.post("/events", content=event("seaweed_create.json"), headers=AUTH)
    assert response.status_code == 200
    [job_id] = response.json()["enqueued"]
    [message] = queued_messages(broker)
    assert message["headers"]["task"] == TASK_NAME
    assert message["headers"]["id"] == job_id
    assert message["args"] == []
    job = message["kwargs"]["job"]
    assert job == {
        "bucket": "images",
        "key": KEY,
        "etag": "c5fc2a0fa44652d4b62ecea0b62d3c3e",
        "size": 1529,
    }


def test_ignored_events_enqueue_nothing_and_answer_200(broker: redis.Redis) -> None:
    with serve(REDIS_URL) as http:
        for name in ("seaweed_dir.json", "seaweed_output_bucket.json", "aws_test_event.json"):
            response = http.post("/events", content=event(name), headers=AUTH)
            assert response.status_code == 200, name
            assert response.json()["enqueued"] == []
    assert broker.llen(QUEUE_NAME) == 0


def test_wrong_or_missing_token_is_401_and_enqueues_nothing(broker: redis.Redis) -> None:
    with serve(REDIS_URL) as http:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            response = http.post("/events", content=event("minio_put.json"), headers=headers)
            assert response.status_code == 401
    assert broker.llen(QUEUE_NAME) == 0


def test_dead_broker_is_a_fast_503() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/13"
    with serve(dead) as http:
        started = time.monotonic()
        response = http.post("/events", content=event("minio_put.json"), headers=AUTH)
        elapsed = time.monotonic() - started
        health = http.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "broker_unavailable"
    assert elapsed < BROKER_DOWN_BUDGET_S
    assert health.status_code == 503
    assert health.json()["checks"]["broker"]["ok"] is False


def test_hung_broker_is_a_fast_503() -> None:
    """A broker that accepts connections but never answers (a stopped or wedged Redis)."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        url = f"redis://127.0.0.1:{hung.getsockname()[1]}/13"
        with serve(url) as http:
            started = time.monotonic()
            response = http.post("/events", content=event("minio_put.json"), headers=AUTH)
            elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert elapsed < BROKER_DOWN_BUDGET_S


def test_palettes_404_202_200(broker: redis.Redis) -> None:
    storage = MemoryStorage()
    path = "/palettes/" + KEY.replace("%", "%25")
    with serve(REDIS_URL, storage) as http:
        assert http.get(path).status_code == 404
        storage.put("images", KEY, b"\x89PNG...", "image/png")
        assert http.get(path).json() == {"status": "pending", "key": KEY}
        etag = etag_of(storage, "images", KEY)
        document = {  # current by worker.freshness: this ETag, version and default options
            "schema_version": 1,
            "status": "done",
            "source": {"etag": etag, "metadata": {}},
            "options": expected_options({}, 5),
            "worker": {"version": __version__},
        }
        storage.put("palettes", KEY + ".json", json.dumps(document).encode(), "application/json")
        response = http.get(path)
        health = http.get("/healthz")
    assert (response.status_code, response.json()) == (200, document)
    assert health.status_code == 200


def test_python_m_api_stub_serves_and_stops_on_sigterm() -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PALETTE_", "AWS_"))},
        "PALETTE_API_URL": "http://example.invalid:9",
        "PALETTE_API_BIND": f"127.0.0.1:{port}",
        "PALETTE_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
        "PALETTE_BROKER_URL": f"redis://127.0.0.1:{free_port()}/13",
        "PALETTE_WEBHOOK_TOKEN": TOKEN,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "api_stub"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[0].decode()
                assert time.monotonic() < deadline, "api_stub did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        unauthorised = httpx.post(f"http://127.0.0.1:{port}/events", content=b"{}", timeout=5)
        assert unauthorised.status_code == 401
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=15)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # uvicorn shuts down gracefully, then re-raises the signal: "killed by SIGTERM" is normal
    assert proc.returncode in {0, -signal.SIGTERM}, output
    assert "Application shutdown complete" in output
    assert "POST /events" not in output  # access log is off by default

"""Start-up without the services: a worker waits for Redis and S3 one line at a time,
then serves; the api_stub answers 503 while the broker is away, then enqueues.

Real processes throughout: ``python -m worker`` as a subprocess against the session
stack's SeaweedFS, a ``redis-server`` this module starts late on a free port, the
api_stub's app over real HTTP. (The api_stub's fast 503 on a dead or hung broker is in
test_api_stub.py; here it is the broker coming back that matters.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from infra import broker
from tests.integration.conftest import free_port
from tests.integration.helpers import wait_until
from tests.integration.test_api_stub import AUTH, event, queued_messages, serve

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "startup-secret-pw"


class LateRedis:
    """A password-protected redis-server on a port that answers only once ``start``ed."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"
        self.dir = tmp_path / "redis"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = self.dir / "redis.conf"
        broker.write_config(config, password=PASSWORD)
        command = broker.command(config, self.port, self.dir)
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(lambda: broker.ping(self.url), timeout=20), "redis did not start"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def late_redis(tmp_path: Path) -> Iterator[LateRedis]:
    server = LateRedis(tmp_path)
    yield server
    server.stop()


class Worker:
    """``python -m worker`` with its output in a file; always killed at the end."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        full = {k: v for k, v in os.environ.items() if not k.startswith(("PALETTE_", "AWS_"))}
        full |= env | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        full |= {"PALETTE_METRICS_PORT": "0"}
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "worker", "--pool", "solo"],
                env=full,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=log_path.parent,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines(self, text: str) -> list[str]:
        return [line for line in self.log.splitlines() if text in line]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def test_a_worker_waits_for_redis_one_line_a_try_then_serves(
    stack: Any, late_redis: LateRedis, tmp_path: Path
) -> None:
    env = stack.env | {"PALETTE_BROKER_URL": late_redis.url}
    worker = Worker(env, tmp_path / "worker.log")
    try:
        assert wait_until(lambda: len(worker.lines("cannot reach Redis")) >= 2, timeout=60), (
            worker.log
        )
        assert worker.proc.poll() is None, "it must wait, not exit"
        late_redis.start()
        assert wait_until(lambda: " ready." in worker.log, timeout=90), worker.log
    finally:
        worker.kill()
    waits = worker.lines("cannot reach Redis")
    assert "retrying in 1 s" in waits[0]
    assert "retrying in 2 s" in waits[1]
    assert PASSWORD not in worker.log
    assert "Traceback" not in worker.log
    assert not worker.lines("cannot reach S3")


def test_a_worker_waits_for_s3_and_says_so(
    stack: Any, late_redis: LateRedis, tmp_path: Path
) -> None:
    late_redis.start()
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = stack.env | {"PALETTE_BROKER_URL": late_redis.url, "PALETTE_S3_ENDPOINT": nowhere}
    worker = Worker(env, tmp_path / "worker.log")
    try:
        assert wait_until(lambda: len(worker.lines("cannot reach S3")) >= 2, timeout=60), worker.log
        assert worker.proc.poll() is None
    finally:
        worker.kill()
    assert nowhere in worker.lines("cannot reach S3")[0]
    assert " ready." not in worker.log
    assert stack.env["AWS_SECRET_ACCESS_KEY"] not in worker.log


def test_the_api_stub_answers_503_until_the_broker_is_back(late_redis: LateRedis) -> None:
    with serve(late_redis.url) as http:
        away = http.post("/events", content=event("minio_put.json"), headers=AUTH)
        health = http.get("/healthz")
        late_redis.start()
        back = http.post("/events", content=event("minio_put.json"), headers=AUTH)
        health_back = http.get("/healthz")
    assert (away.status_code, away.json()["status"]) == (503, "broker_unavailable")
    assert away.headers["Retry-After"]
    assert health.json()["checks"]["broker"]["ok"] is False
    assert back.status_code == 200, back.text
    assert health_back.json()["checks"]["broker"]["ok"] is True
    client = redis.Redis.from_url(late_redis.url)
    try:
        assert [m["headers"]["id"] for m in queued_messages(client)] == back.json()["enqueued"]
    finally:
        client.close()

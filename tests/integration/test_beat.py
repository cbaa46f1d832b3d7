"""``python -m worker.beat`` (``palette beat``): one sweep at start, then one per interval.

Runs the real process against a real Redis (``PALETTE_TEST_BEAT_REDIS``, default
``redis://127.0.0.1:6379/14``, flushed before and after) and reads the queue it fills.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.helpers import wait_until
from worker.jobs import QUEUE_NAME, SWEEP_TASK_NAME

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("PALETTE_TEST_BEAT_REDIS", "redis://127.0.0.1:6379/14")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def queued_tasks(client: redis.Redis) -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in client.lrange(QUEUE_NAME, 0, -1)]


def test_beat_sends_a_sweep_at_start_then_every_interval(
    broker: redis.Redis, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PALETTE_BROKER_URL": REDIS_URL,
        "PALETTE_SWEEP_INTERVAL": "1",
        "PALETTE_BEAT_SCHEDULE": str(tmp_path / "schedule"),
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "beat.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.beat"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        assert wait_until(lambda: len(queued_tasks(broker)) >= 3, timeout=60), (
            tmp_path / "beat.log"
        ).read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
    assert set(queued_tasks(broker)) == {SWEEP_TASK_NAME}


def test_beat_refuses_to_run_with_the_sweep_disabled() -> None:
    env = {**os.environ, "PALETTE_SWEEP_INTERVAL": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "worker.beat"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "PALETTE_SWEEP_INTERVAL" in done.stderr

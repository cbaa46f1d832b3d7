"""``python -m worker.beat`` (``palette beat``): one sweep at start, then one per interval,
and one sender however many beats run.

Runs the real processes against a real Redis (``PALETTE_TEST_BEAT_REDIS``, default
``redis://127.0.0.1:6379/14``, flushed before and after) and reads the queue they fill:
nothing consumes that database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.helpers import flushed_redis, wait_until
from worker.jobs import QUEUE_NAME, SWEEP_TASK_NAME

pytestmark = pytest.mark.integration

REDIS_URL = os.environ.get("PALETTE_TEST_BEAT_REDIS", "redis://127.0.0.1:6379/14")
ROOT = Path(__file__).resolve().parents[2]
INTERVAL_S = 1


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    with flushed_redis(REDIS_URL) as client:
        yield client


def queued_tasks(client: redis.Redis) -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in client.lrange(QUEUE_NAME, 0, -1)]


def sweeps_sent(client: redis.Redis) -> int:
    return queued_tasks(client).count(SWEEP_TASK_NAME)


class Beat:
    """One ``python -m worker.beat`` process with its log in a file."""

    def __init__(self, name: str, log_dir: Path) -> None:
        self.log_path = log_dir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PALETTE_")}
        env.update(
            PALETTE_BROKER_URL=REDIS_URL,
            PALETTE_SWEEP_INTERVAL=str(INTERVAL_S),
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "worker.beat"], env=env, stdout=log, stderr=log
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def scheduling(self) -> bool:
        """It holds the lock: it sent its start-up sweep."""
        return "start-up sweep sent" in self.log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def test_beat_sends_a_sweep_at_start_then_every_interval(
    broker: redis.Redis, tmp_path: Path
) -> None:
    beat = Beat("beat", tmp_path)
    try:
        assert wait_until(lambda: len(queued_tasks(broker)) >= 3, timeout=60), beat.log
    finally:
        beat.stop()
    assert set(queued_tasks(broker)) == {SWEEP_TASK_NAME}
    assert beat.scheduling


def test_a_second_beat_never_doubles_the_sweep_and_takes_over(
    broker: redis.Redis, tmp_path: Path
) -> None:
    first = Beat("first", tmp_path)
    second: Beat | None = None
    try:
        assert wait_until(lambda: first.scheduling, timeout=60), first.log
        second = Beat("second", tmp_path)
        assert wait_until(lambda: "Starting" in second.log, timeout=60), second.log
        counted_from, started = sweeps_sent(broker), time.monotonic()
        wait_until(lambda: sweeps_sent(broker) >= counted_from + 6, timeout=60)
        sent = sweeps_sent(broker) - counted_from
        elapsed = time.monotonic() - started
        assert sent >= 1, "the lock holder stopped sending"
        # one sender: at most one sweep per interval (two senders would send twice that)
        assert sent <= elapsed / INTERVAL_S + 1, (sent, elapsed)
        assert not second.scheduling, "the second beat must wait for the lock"

        first.stop()  # a clean stop releases the lock: the standby takes over
        assert wait_until(lambda: second.scheduling, timeout=30), second.log
        before = sweeps_sent(broker)
        assert wait_until(lambda: sweeps_sent(broker) > before + 1, timeout=30)
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_beat_refuses_to_run_with_the_sweep_disabled() -> None:
    env = {**os.environ, "PALETTE_SWEEP_INTERVAL": "0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "worker.beat"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "PALETTE_SWEEP_INTERVAL" in done.stderr

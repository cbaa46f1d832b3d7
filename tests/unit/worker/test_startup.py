"""The worker's wait for Redis and S3: one line per failed try, back-off, then serve.

The real dependencies going away and coming back are in
tests/integration/test_startup.py; here the checks are plain functions.
"""

from __future__ import annotations

import logging

import pytest

from worker.config import Settings
from worker.startup import Unreachable, wait_for_dependencies


def test_one_line_per_failed_try_with_growing_waits(caplog: pytest.LogCaptureFixture) -> None:
    failures = ["Redis at redis://:***@10.0.0.1:6379/0: ConnectionError"] * 3
    slept: list[float] = []

    def flaky(settings: Settings) -> None:
        if failures:
            raise Unreachable(failures.pop())

    with caplog.at_level(logging.WARNING, logger="worker.startup"):
        attempts = wait_for_dependencies(Settings(), (flaky,), sleep=slept.append)
    assert attempts == 4
    assert slept == [1.0, 2.0, 4.0]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert all(line.startswith("worker: cannot reach Redis at") for line in lines)
    assert lines[0].endswith("retrying in 1 s")


def test_the_wait_is_capped() -> None:
    failures = list(range(12))
    slept: list[float] = []

    def flaky(settings: Settings) -> None:
        if failures:
            failures.pop()
            raise Unreachable("S3")

    wait_for_dependencies(Settings(), (flaky,), max_wait=30.0, sleep=slept.append)
    assert max(slept) == 30.0


def test_anything_but_unreachable_is_not_retried() -> None:
    def broken(settings: Settings) -> None:
        raise ValueError("a bug, not a network")

    with pytest.raises(ValueError, match="a bug"):
        wait_for_dependencies(Settings(), (broken,), sleep=lambda s: None)

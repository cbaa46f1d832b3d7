"""A small run of ``benchmarks/chaos.py`` on the session's stack: nothing may be lost.

30 uploads (photos and hostile inputs); at a third the worker's whole process group is
SIGKILLed and restarted, at two thirds Redis is killed and restarted empty. After one
sweep every upload has exactly its expected, current result.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from benchmarks.chaos import corpus_images, kill_worker, plan, restart_redis, run_scenario

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"


def test_nothing_is_lost_when_the_worker_and_redis_die(stack: Any) -> None:
    images = [(name, data) for name, data in corpus_images(DATA) if len(data) < 100_000]
    items = plan(30, images, f"chaos-{uuid.uuid4().hex[:8]}/", stack.settings.max_bytes)
    summary = run_scenario(
        stack,
        "kill+redis",
        items,
        rate=10.0,
        settle_timeout=120.0,
        faults_at=[(0.33, kill_worker), (0.66, restart_redis)],
        quiet=4.0,
    )
    assert summary.missing == 0
    assert summary.wrong == []  # every result records its object's current ETag and outcome
    assert summary.done + sum(summary.failed.values()) == summary.uploaded == 30
    assert summary.failed["not_an_image"] >= 1
    assert summary.duplicated_work == 0

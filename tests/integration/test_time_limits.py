"""A job killed by the hard time limit ends as a failed ``timeout`` result, and the
worker keeps serving (issue 9 item 3), on a private stack with short limits (soft 2 s,
hard 4 s); the sweep then retries that transient failure, never a bad input's (item 4).

What overruns the limits is a stalled store, a fault injected the way the other fault
tests do it, with a signal: SeaweedFS is stopped (SIGSTOP) while the job runs, so its
download hangs, the soft limit interrupts it, the failure write that follows hangs too,
and the pool kills the process at the hard limit. Before this change Celery acked that
message and nothing of the job remained.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from PIL import Image

from infra.private_stack import private_stack
from infra.processes import running
from tests.integration.helpers import children, upload, wait_for_result, wait_until
from worker.enqueue import Enqueuer
from worker.jobs import Job
from worker.ledger import ATTEMPTS_PREFIX
from worker.storage import s3_client

pytestmark = pytest.mark.integration

LIMITS = {"PALETTE_SOFT_TIME_LIMIT": "2", "PALETTE_TIME_LIMIT": "4"}
PALETTE = str(Path(sys.executable).with_name("palette"))
STALLED = "limits/stalled.png"


@pytest.fixture(scope="module")
def limited() -> Iterator[tuple[Any, Any]]:
    with private_stack(prefix="palette-limits-", settings=LIMITS) as stack:
        s3 = s3_client(stack.settings)
        try:
            yield stack, s3
        finally:
            s3.close()


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(out, "PNG")
    return out.getvalue()


def worker_log(stack: Any) -> str:
    return (stack.stack_dir / "logs" / "worker.log").read_text(errors="replace")


@contextlib.contextmanager
def stalled(proc: Any) -> Iterator[None]:
    """The store stops answering (its connections stay open) until the block ends."""
    os.killpg(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGCONT)


def test_a_job_killed_at_the_hard_limit_ends_as_failed_timeout(limited: tuple[Any, Any]) -> None:
    stack, s3 = limited
    key = STALLED
    etag = upload(s3, key, png((200, 40, 40)), "image/png")
    wait_for_result(s3, key, etag, timeout=60)  # done; removed so the next job must redo it
    for suffix in (".json", ".png"):
        s3.delete_object(Bucket="palettes", Key=key + suffix)
    worker = stack.proc("worker")
    pool = children(worker.pid)
    with stalled(stack.proc("seaweedfs")):
        Enqueuer(stack.settings).enqueue(Job("images", key, etag))
        killed = "Hard time limit (4"  # Celery's own line, logged just before the kill
        assert wait_until(lambda: killed in worker_log(stack), timeout=60), "never killed"
        # the store answers again only once the process is gone (it would finish its
        # own failure write in the moment between that line and the kill)
        assert wait_until(lambda: not any(map(running, pool)), timeout=30)
    doc = wait_for_result(s3, key, etag, timeout=60)
    assert (doc["status"], doc["error"]["code"]) == ("failed", "timeout")
    assert f"job for '{key}' killed at the 4 s time limit" in worker_log(stack)

    # the worker keeps serving: the same main process, a fresh pool process, new work done
    assert stack.proc("worker").pid == worker.pid
    after = "limits/after.png"
    assert (
        wait_for_result(s3, after, upload(s3, after, png((10, 90, 200)), "image/png"))["status"]
        == "done"
    )
    client = redis.Redis.from_url(stack.settings.broker_url)
    try:
        assert client.get(ATTEMPTS_PREFIX + Job("images", key, etag).id) is None
    finally:
        client.close()


def sweep(stack: Any, **settings: str) -> str:
    """``palette sweep --prefix limits/`` as an operator runs it; its stdout."""
    run = subprocess.run(
        [PALETTE, "sweep", "--prefix", "limits/"],
        env={**os.environ, **stack.env, **settings},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return run.stdout


def test_the_sweep_retries_the_timeout_but_never_a_bad_input(limited: tuple[Any, Any]) -> None:
    """After the test above: its ``timeout`` is retryable and, once its back-off passed,
    the sweep enqueues it and it ends done; a non-image's failure is final: neither the
    sweep nor a duplicate job runs it again."""
    stack, s3 = limited
    bad = "limits/not-an-image.png"
    bad_etag = upload(s3, bad, b"plain text, not a PNG", "image/png")
    assert wait_for_result(s3, bad, bad_etag)["error"]["retryable"] is False
    timed_out = wait_for_result(s3, STALLED)
    assert (timed_out["error"]["code"], timed_out["error"]["retryable"]) == ("timeout", True)
    assert timed_out["error"]["attempts"] == 1

    assert "enqueued 0" in sweep(stack, PALETTE_FAILURE_RETRY_AFTER="3600")  # not yet due
    assert "enqueued 1" in sweep(stack, PALETTE_FAILURE_RETRY_AFTER="0")  # the timeout only
    etag = timed_out["source"]["etag"]
    assert wait_until(lambda: wait_for_result(s3, STALLED, etag)["status"] == "done", timeout=60)

    Enqueuer(stack.settings).enqueue(Job("images", bad, bad_etag))  # a duplicate event
    skipped = f"job {Job('images', bad, bad_etag).id} skipped already_failed"
    assert wait_until(lambda: skipped in worker_log(stack), timeout=30)
    assert "enqueued 0" in sweep(stack, PALETTE_FAILURE_RETRY_AFTER="0")

"""A job killed by the hard time limit still ends with a result.

The pool kills a child that overruns ``PALETTE_TIME_LIMIT``: the soft limit could not
stop it (a long C call, or its own failure write hung on a stalled store). Celery then
acknowledges the message in the worker's main process (``task_acks_on_failure_or_timeout``)
and, left alone, nothing of the job would remain. ``TimeLimitRequest``, Celery's
documented hook for this (a custom request class; ``on_timeout`` runs in the main process
in every Celery the floor admits, 5.4 on), hears the kill and sends ``palette.timed_out``
for the job: a pool process then stores the failed ``timeout`` result, or dead-letters the
job when storage will not take it. The main process only publishes one message, so no S3
call blocks its event loop. Were Redis away at that moment too, the job has no result and
the next sweep enqueues it again.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker import state
from celery.worker.request import Request

from worker.jobs import QUEUE_NAME

log = logging.getLogger(__name__)

TIMED_OUT_TASK_NAME = "palette.timed_out"
"""Stores the failed ``timeout`` result of a job whose process the hard limit killed."""


class TimeLimitRequest(Request):  # type: ignore[misc]  # celery is untyped
    """Celery's request, plus: a hard time limit reports the killed job."""

    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        if soft or state.should_terminate:  # a cold shutdown requeues, it does not kill
            return
        job = (self.kwargs or {}).get("job")
        if isinstance(job, dict):
            report_kill(self.task.app, job, timeout)


def report_kill(app: Any, job: dict[str, Any], seconds: float) -> None:
    """Send ``palette.timed_out`` for ``job``; never raises (it runs in Celery's loop)."""
    try:
        app.send_task(
            TIMED_OUT_TASK_NAME, kwargs={"job": job, "seconds": seconds}, queue=QUEUE_NAME
        )
    except Exception as exc:
        log.error(
            "job for %r killed at the time limit; its failure could not be queued (%s): "
            "the next sweep enqueues it again",
            job.get("key"),
            type(exc).__name__,
        )
    else:
        log.warning(
            "job for %r killed at the %g s time limit: failed timeout", job.get("key"), seconds
        )

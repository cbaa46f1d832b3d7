"""Put jobs on the queue, failing fast when the broker is down.

The api_stub answers the object store with 5xx when enqueueing fails, so the store
retries; that only works if a dead Redis fails in about a second, not after kombu's
default of retrying for ever.
"""

from __future__ import annotations

import logging
from typing import Any

from worker.celery_app import make_celery
from worker.config import Settings
from worker.errors import BrokerUnavailable
from worker.jobs import QUEUE_NAME, TASK_NAME, Job

log = logging.getLogger(__name__)

_FAST_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


class Enqueuer:
    """Sends ``palette.process`` messages by name; one Celery app (and pool) per instance."""

    def __init__(self, settings: Settings, celery: Any = None) -> None:
        self.celery = celery if celery is not None else make_celery(settings)

    def enqueue(self, job: Job) -> str:
        """Send one job; its task id is the job id, so duplicates are recognisable."""
        try:
            self.celery.send_task(
                TASK_NAME,
                kwargs={"job": job.to_message()},
                task_id=job.id,
                queue=QUEUE_NAME,
                retry=True,
                retry_policy=_FAST_RETRY,
            )
        except Exception as exc:
            log.warning("enqueue of %s failed: %s", job.id, type(exc).__name__)
            raise BrokerUnavailable(f"broker unavailable: {type(exc).__name__}") from exc
        return job.id

    def ping(self) -> bool:
        """True when the broker answers; used by health checks."""
        try:
            with self.celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        except Exception:
            return False
        return True

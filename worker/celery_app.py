"""The Celery application: one factory, shared by the worker and every producer.

Producers (api_stub, CLI ``sweep``/``submit``) call ``make_celery`` and send tasks by
name; only the worker process registers the task itself (``worker.tasks.register``),
so producers never import Pillow or scikit-learn.
"""

from __future__ import annotations

import random

from celery import Celery

from worker.config import RETRY_BACKOFF_MAX_S, Settings
from worker.jobs import QUEUE_NAME, SWEEP_TASK_NAME

TASK_SOFT_TIME_LIMIT = int(Settings.soft_time_limit_s)
"""Default seconds before a task is asked to stop (SoftTimeLimitExceeded -> failed JSON);
``PALETTE_SOFT_TIME_LIMIT``."""
TASK_TIME_LIMIT = int(Settings.time_limit_s)
"""Default seconds before the pool kills the child (``PALETTE_TIME_LIMIT``); the job then
ends as a failed ``timeout`` result all the same (``worker.timeouts``)."""
RETRY_BACKOFF_MAX = RETRY_BACKOFF_MAX_S
"""Longest retry countdown, seconds. A worker holds a retried message unacknowledged
while it waits for its countdown, so this counts against the visibility timeout too."""
VISIBILITY_TIMEOUT = 180
"""Seconds after which Redis hands an unacknowledged message to another consumer
(the default of ``PALETTE_VISIBILITY_TIMEOUT``, ``Settings.visibility_timeout_s``).

Why 180: a live worker holds a message unacknowledged for at most a retry countdown plus
the hard time limit (60 + 90 s); any shorter and healthy tasks would run twice. Why not
longer: it is also how long the message of a worker whose *main* process died (SIGKILL,
OOM, power loss) stays invisible. A killed pool child is different: the main process
sees it die and requeues at once (``task_reject_on_worker_lost``). Messages lost with
Redis itself (its append-only file, fsynced every second, bounds a restart's loss to
about a second of queue; a Redis lost with its disk loses all) come back only through
``sweep``, which the worker running beat also does at start-up, so a restarted stack
recovers in seconds.
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
        task_soft_time_limit=settings.soft_time_limit_s,
        task_time_limit=settings.time_limit_s,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": RESTORE_INTERVAL,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        },
        broker_pool_limit=16,
        # a pool child whose peak resident size passed this is replaced after its job:
        # memory one large image left fragmented goes back to the system (KiB; 0: never)
        worker_max_memory_per_child=settings.max_memory_per_child_mb * 1024,
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


def full_jitter(retries: int, cap: float) -> float:
    """A retry countdown drawn from [0, min(cap, 2 ** (retries + 1))] seconds: retries
    spread out instead of arriving in waves (AWS's "full jitter"). Shared by every task
    that retries by hand (``palette.process``, ``palette.callback``)."""
    return random.uniform(0, min(float(cap), 2.0 ** (retries + 1)))


BEAT_TICK_S = 5.0
"""Longest sleep of beat between looks at its schedule (and extensions of its lock)."""
BEAT_LOCK_TIMEOUT_S = 30
"""How long the beat lock outlives a beat that died without releasing it (SIGKILL, lost
host): the longest a standby beat waits before it takes over. Renewed every tick."""
BEAT_KEY_PREFIX = "palette:beat:"
"""Where beat keeps its schedule (``palette:beat:sweep``) and lock (``palette:beat:lock``)."""


def use_redis_beat(app: Celery, settings: Settings) -> None:
    """Keep beat's schedule and a singleton lock in the broker's Redis (celery-redbeat).

    Any number of beat processes may then run: one holds the lock and sends, the rest
    wait for it. No schedule file either, so beat runs on a read-only filesystem.
    """
    app.conf.update(
        beat_scheduler="redbeat.RedBeatScheduler",
        beat_max_loop_interval=BEAT_TICK_S,
        redbeat_redis_url=settings.broker_url,
        redbeat_redis_options={"socket_connect_timeout": 2, "socket_timeout": 5},
        redbeat_key_prefix=BEAT_KEY_PREFIX,
        redbeat_lock_key=BEAT_KEY_PREFIX + "lock",
        redbeat_lock_timeout=BEAT_LOCK_TIMEOUT_S,
        # no result backend, so nothing for Celery's daily backend_cleanup entry to do
        result_expires=None,
    )

"""``python -m worker.beat`` (``palette beat``): the one scheduler of the periodic sweep.

Beat sends ``palette.sweep`` every ``PALETTE_SWEEP_INTERVAL`` seconds, and one sweep as
soon as it starts scheduling, so a restarted deployment recovers lost events in seconds
rather than an interval later. Run inside every scaled-out worker it would multiply the
sweep, so it is its own process (its own Compose service, its own one-replica
Deployment), or, on a single host, ``python -m worker --beat`` embeds it in the one
worker the native stack runs.

However many beats do run (a second started by mistake, a rolling update, one per host),
exactly one sends: the schedule and a lock live in the broker's Redis (celery-redbeat,
``worker.celery_app.use_redis_beat``). The others wait for the lock and take over within
``BEAT_LOCK_TIMEOUT_S`` of the holder's death, or at once when it stops cleanly. No
schedule file either: beat runs on a read-only filesystem.

Beat only sends messages by name; the workers run the sweep, so this process imports
neither Pillow nor scikit-learn.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from worker.celery_app import make_celery, use_redis_beat
from worker.config import Settings
from worker.jobs import QUEUE_NAME, SWEEP_TASK_NAME
from worker.redact import configure_logging

log = logging.getLogger(__name__)


def send_sweep(app: Any) -> None:
    """One sweep now; a failure is logged, never fatal (the next tick sends another)."""
    try:
        app.send_task(SWEEP_TASK_NAME, queue=QUEUE_NAME, retry=False)
        log.info("beat: scheduling; start-up sweep sent")
    except Exception as exc:
        log.warning("start-up sweep not sent: %s", type(exc).__name__)


def sweep_when_scheduling(app: Any) -> None:
    """Send one sweep once this beat holds the lock (never from a waiting one).

    celery-redbeat takes its lock in a ``beat_init`` receiver connected when its module
    is imported; ours is connected after it, so it runs only once the lock is held.
    """
    import redbeat.schedulers  # noqa: F401  # connects the lock receiver first
    from celery.signals import beat_init

    beat_init.connect(lambda **_: send_sweep(app), weak=False)


def run(loglevel: str) -> int:
    """Run the scheduler until stopped (``palette beat``); returns the exit code."""
    configure_logging(loglevel)
    settings = Settings.from_env()
    if settings.sweep_interval_s <= 0:
        print("palette beat: PALETTE_SWEEP_INTERVAL is 0: nothing to schedule", file=sys.stderr)
        return 2
    app = make_celery(settings)
    use_redis_beat(app, settings)
    sweep_when_scheduling(app)
    app.Beat(loglevel=loglevel, quiet=True).run()
    return 0

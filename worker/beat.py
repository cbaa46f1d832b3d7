"""``python -m worker.beat`` (``palette beat``): the one scheduler of the periodic sweep.

Beat must be a singleton: run inside every scaled-out worker it would multiply the
sweep. So it is its own process (its own Compose service, its own Deployment with one
replica), or, on a single host, ``python -m worker --beat`` embeds it in the one worker
that the native stack runs. Either way it sends one sweep as soon as it starts, so a
restarted deployment recovers lost events in seconds rather than an interval later.

Beat only sends messages by name; the workers run the sweep, so this process imports
neither Pillow nor scikit-learn.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from worker.celery_app import make_celery
from worker.config import Settings
from worker.jobs import QUEUE_NAME, SWEEP_TASK_NAME
from worker.redact import configure_logging

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = "celerybeat-schedule"


def schedule_path(env: dict[str, str] | None = None) -> str:
    """Where beat keeps its state: ``PALETTE_BEAT_SCHEDULE``, else the working directory."""
    env = dict(os.environ) if env is None else env
    return env.get("PALETTE_BEAT_SCHEDULE") or DEFAULT_SCHEDULE


def send_sweep(app: Any) -> None:
    """One sweep now; a failure is logged, never fatal (the next tick sends another)."""
    try:
        app.send_task(SWEEP_TASK_NAME, queue=QUEUE_NAME, retry=False)
    except Exception as exc:
        log.warning("start-up sweep not sent: %s", type(exc).__name__)


def run(loglevel: str, schedule: str) -> int:
    """Run the scheduler until stopped (``palette beat``); returns the exit code."""
    configure_logging(loglevel)
    settings = Settings.from_env()
    if settings.sweep_interval_s <= 0:
        print("palette beat: PALETTE_SWEEP_INTERVAL is 0: nothing to schedule", file=sys.stderr)
        return 2
    app = make_celery(settings)

    from celery.signals import beat_init

    beat_init.connect(lambda **_: send_sweep(app), weak=False)
    app.Beat(schedule=schedule, loglevel=loglevel).run()
    return 0


if __name__ == "__main__":
    from worker.cli import main
    from worker.cli.services import beat

    sys.exit(main(sys.argv[1:], "python -m worker.beat", beat))

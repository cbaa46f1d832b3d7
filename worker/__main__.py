"""``python -m worker``: run the Celery worker (config → validate → clients → start).

Thread pools are capped before numpy or scikit-learn load: their OpenMP/BLAS threads
multiplied by prefork processes would oversubscribe the cores, and a palette's small
k-means gains nothing from them.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from worker.beat import schedule_path  # noqa: E402
from worker.celery_app import make_celery  # noqa: E402
from worker.config import Settings  # noqa: E402
from worker.jobs import QUEUE_NAME  # noqa: E402
from worker.redact import configure_logging  # noqa: E402
from worker.storage import Storage  # noqa: E402

CELERY_PER_TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")
"""Celery's "Task … received" and "Task … succeeded in …" INFO lines: two per job on top
of the task's own outcome line (``worker.tasks``); failures still log as errors."""


def _quiet_per_task_lines() -> None:
    """One log line per job, not three (``--celery-task-log`` keeps all three).

    At 50 images/s the three lines cost the worker measurable CPU and fill the log
    (measured in ``benchmarks/bench_pipeline.py``); "ready" and errors stay visible.
    """
    for name in CELERY_PER_TASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


WARM_UP_ALIVE_TIMEOUT_S = 30.0
"""A prefork child counts as started only once ``worker_process_init`` returns; Celery's
default of 4 s is too tight for the warm-up on a loaded 2-core machine."""


def per_process_storage(settings: Settings) -> Callable[[], Storage]:
    """One storage client per process, built once: the warm-up builds it, the tasks reuse it.

    Keyed by pid, so a client built before a fork is never shared by the children.
    """
    from worker.storage import make_storage

    built: dict[int, Storage] = {}

    def storage() -> Storage:
        pid = os.getpid()
        if pid not in built:
            built[pid] = make_storage(settings)
        return built[pid]

    return storage


def warm_up(storage: Callable[[], Storage]) -> None:
    """Pay the first job's one-off costs before it arrives (measured: 0.9 s for the first
    k-means, scikit-learn's and threadpoolctl's lazy set-up, and 0.2 s for the boto3
    client), so the first image after a start or a scale-up is as fast as the rest."""
    import io

    import numpy as np
    from PIL import Image

    from worker import palette

    try:
        storage()
        noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noise).save(buffer, "PNG")
        palette.extract(buffer.getvalue())
    except Exception:  # a warm-up must never keep the worker from serving
        logging.getLogger(__name__).warning("warm-up failed", exc_info=True)
    from worker.palette.limits import cap_from_environment

    cap_from_environment()  # per process, once imported and warm: see worker/palette/limits.py


def _schedule_warm_up(app: Any, pool: str, storage: Callable[[], Storage]) -> None:
    """Prefork: in each child as it starts (the parent never runs a task, and OpenMP
    must not be initialised before a fork); solo and threads: here, before serving."""
    if pool != "prefork":
        warm_up(storage)
        return
    from celery.signals import worker_process_init

    app.conf.worker_proc_alive_timeout = WARM_UP_ALIVE_TIMEOUT_S
    worker_process_init.connect(lambda **_: warm_up(storage), weak=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    parser.add_argument(
        "--concurrency", type=int, default=int(os.environ.get("PALETTE_WORKER_CONCURRENCY", "1"))
    )
    parser.add_argument(
        "--pool",
        choices=("prefork", "threads", "solo"),
        default="prefork",
        help="Celery pool (solo: tasks run in this process, one at a time)",
    )
    parser.add_argument(
        "--prefetch", type=int, default=1, help="messages reserved per pool process (Celery)"
    )
    parser.add_argument(
        "--celery-task-log",
        action="store_true",
        help="keep Celery's two INFO lines per task (received, succeeded)",
    )
    parser.add_argument("--loglevel", default=os.environ.get("PALETTE_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--beat",
        action="store_true",
        help="also run the periodic sweep, and one sweep at start (in exactly one worker)",
    )
    parser.add_argument("--hostname", default=None, help="Celery node name (default: palette@host)")
    args = parser.parse_args(argv)

    configure_logging(args.loglevel)
    if not args.celery_task_log:
        _quiet_per_task_lines()
    settings = Settings.from_env()
    app = make_celery(settings)
    app.conf.worker_prefetch_multiplier = args.prefetch

    from worker import tasks

    storage = per_process_storage(settings)
    tasks.register(app, settings, storage)
    _schedule_warm_up(app, args.pool, storage)
    if args.beat and settings.sweep_interval_s > 0:
        tasks.sweep_on_start(app)
    worker_argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        f"--concurrency={args.concurrency}",
        f"--pool={args.pool}",
        f"--queues={QUEUE_NAME}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if args.beat:
        worker_argv += [
            "--beat",
            f"--schedule={schedule_path()}",
        ]
    if args.hostname:
        worker_argv.append(f"--hostname={args.hostname}")
    app.worker_main(worker_argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

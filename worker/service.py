"""The worker process: config → validate → clients → start (``palette worker``).

Thread pools are capped before numpy or scikit-learn load: their OpenMP/BLAS threads
multiplied by prefork processes would oversubscribe the cores, and a palette's small
k-means gains nothing from them. The cap is set when the worker starts, not when this
module is imported, so importing it changes nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from worker import metrics
from worker.callbacks import CALLBACK_QUEUE
from worker.config import Settings
from worker.jobs import QUEUE_NAME
from worker.redact import configure_logging
from worker.storage import Storage

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

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


@dataclass(frozen=True)
class WorkerOptions:
    """How to run the worker; ``palette worker``'s options."""

    concurrency: int = 1
    pool: str = "prefork"
    """prefork, threads or solo (tasks run in the main process, one at a time)."""
    prefetch: int = 1
    celery_task_log: bool = False
    loglevel: str = "INFO"
    beat: bool = False
    hostname: str | None = None
    callbacks: bool = False
    """Consume the callback queue (``worker.callbacks``) instead of the palette queue."""


def cap_threads() -> None:
    """One OpenMP/BLAS thread per process, unless the operator set otherwise."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


def run(options: WorkerOptions) -> int:
    """Run the Celery worker until it is stopped; returns the exit code."""
    cap_threads()
    configure_logging(options.loglevel)
    if not options.celery_task_log:
        _quiet_per_task_lines()
    settings = Settings.from_env()
    from worker.startup import wait_for_dependencies

    wait_for_dependencies(settings)  # one line per try while Redis or S3 is away
    metrics_dir = metrics.prepare_multiprocess_dir(os.environ)  # before prometheus_client
    main_pid = os.getpid()
    try:
        app = build_app(settings, options)
        if not options.callbacks:  # the palette worker's port; deliveries have none
            metrics.serve(os.environ, metrics_dir)
        app.worker_main(celery_argv(options))
    finally:
        if os.getpid() == main_pid:  # never from a forked pool child
            metrics.remove_multiprocess_dir(metrics_dir, os.environ)
    return 0


def build_app(settings: Settings, options: WorkerOptions) -> Any:
    """The Celery app with the tasks registered and the warm-up scheduled."""
    from worker import tasks
    from worker.celery_app import make_celery

    app = make_celery(settings)
    app.conf.worker_prefetch_multiplier = options.prefetch
    storage = per_process_storage(settings)
    tasks.register(app, settings, storage)
    if options.callbacks:  # it delivers; it never decodes an image, so nothing to warm
        return app
    _schedule_warm_up(app, options.pool, storage)
    if options.beat:
        from worker.beat import sweep_when_scheduling
        from worker.celery_app import use_redis_beat

        use_redis_beat(app, settings)
        if settings.sweep_interval_s > 0:
            sweep_when_scheduling(app)
    return app


def celery_argv(options: WorkerOptions) -> list[str]:
    """Celery's own command line for these options."""
    argv = [
        "worker",
        f"--loglevel={options.loglevel}",
        f"--concurrency={options.concurrency}",
        f"--pool={options.pool}",
        f"--queues={CALLBACK_QUEUE if options.callbacks else QUEUE_NAME}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if options.beat:
        argv.append("--beat")
    if options.hostname:
        argv.append(f"--hostname={options.hostname}")
    return argv

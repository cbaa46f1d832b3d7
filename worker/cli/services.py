"""``palette worker`` and ``palette api``: the long-running processes.

Containers start them as ``python -m worker`` and ``python -m api_stub``, thin aliases
of these two commands; ``palette beat`` runs the singleton sweep scheduler.
"""

from __future__ import annotations

import click


@click.command("worker", help="Run the Celery worker that turns images into palettes.")
@click.option(
    "--concurrency",
    type=int,
    default=1,
    show_default=True,
    envvar="PALETTE_WORKER_CONCURRENCY",
    help="Worker processes (env PALETTE_WORKER_CONCURRENCY).",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads", "solo"]),
    default="prefork",
    show_default=True,
    help="Celery pool (solo: tasks run in this process, one at a time).",
)
@click.option(
    "--prefetch", type=int, default=1, show_default=True, help="Messages reserved per process."
)
@click.option(
    "--celery-task-log",
    is_flag=True,
    help="Keep Celery's two INFO lines per task (received, succeeded).",
)
@click.option("--loglevel", default="INFO", show_default=True, envvar="PALETTE_LOG_LEVEL")
@click.option(
    "--beat",
    is_flag=True,
    help="Also run beat (the periodic sweep); with several, one sends (a Redis lock).",
)
@click.option("--hostname", default=None, help="Celery node name (default: celery@host).")
@click.option(
    "--callbacks",
    is_flag=True,
    help="Deliver the signed completion callbacks (queue palette-callbacks) instead of "
    "palettes; use with --pool threads and a concurrency of a few dozen.",
)
def worker(
    concurrency: int,
    pool: str,
    prefetch: int,
    celery_task_log: bool,
    loglevel: str,
    beat: bool,
    hostname: str | None,
    callbacks: bool,
) -> int:
    from worker.service import WorkerOptions, run

    options = WorkerOptions(
        concurrency, pool, prefetch, celery_task_log, loglevel, beat, hostname, callbacks
    )
    return run(options)


@click.command("beat", help="Run the periodic sweep's scheduler (exactly one per deployment).")
@click.option("--loglevel", default="INFO", show_default=True, envvar="PALETTE_LOG_LEVEL")
def beat(loglevel: str) -> int:
    from worker import beat as beat_module

    return beat_module.run(loglevel)


@click.command("api", help="Serve the api_stub: storage events in, results out, the web page.")
def api() -> int:
    from api_stub.server import serve

    return serve()

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

from worker.celery_app import make_celery  # noqa: E402
from worker.config import Settings  # noqa: E402
from worker.jobs import QUEUE_NAME  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    parser.add_argument(
        "--concurrency", type=int, default=int(os.environ.get("PALETTE_WORKER_CONCURRENCY", "1"))
    )
    parser.add_argument("--loglevel", default=os.environ.get("PALETTE_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--beat",
        action="store_true",
        help="also run the periodic sweep scheduler (run it in exactly one worker)",
    )
    parser.add_argument("--hostname", default=None, help="Celery node name (default: palette@host)")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env()
    app = make_celery(settings)

    from worker import tasks
    from worker.storage import S3Storage

    tasks.register(app, settings, lambda: S3Storage(settings))
    worker_argv = [
        "worker",
        f"--loglevel={args.loglevel}",
        f"--concurrency={args.concurrency}",
        f"--queues={QUEUE_NAME}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if args.beat:
        worker_argv += [
            "--beat",
            f"--schedule={os.environ.get('PALETTE_BEAT_SCHEDULE', 'celerybeat-schedule')}",
        ]
    if args.hostname:
        worker_argv.append(f"--hostname={args.hostname}")
    app.worker_main(worker_argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

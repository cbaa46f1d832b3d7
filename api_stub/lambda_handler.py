"""AWS Lambda entry point: S3 notifications (direct, via SQS or via SNS) → Celery tasks.

Configure the function with handler ``api_stub.lambda_handler.handler`` and the same
``PALETTE_*`` environment as the api_stub. The parsing is ``api_stub.events``, shared
with ``POST /events``, so Lambda and the HTTP webhook enqueue identical jobs (same task
ids). A broker failure raises, so Lambda retries the invocation (or SQS redelivers the
batch); jobs are idempotent, so a partly enqueued batch sent again is harmless.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from api_stub.events import parse_event
from worker.config import Settings

if TYPE_CHECKING:  # the Lambda package need not ship FastAPI
    from api_stub.app import JobQueue

log = logging.getLogger(__name__)

_clients: tuple[Settings, JobQueue] | None = None
"""Built on the first invocation and reused while Lambda keeps the container warm."""


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The function Lambda calls."""
    settings, enqueuer = _warm_clients()
    return handle(event, enqueuer, settings.input_bucket)


def handle(event: Any, enqueuer: JobQueue, input_bucket: str) -> dict[str, Any]:
    """Enqueue every job in ``event``; raises ``BrokerUnavailable`` if one cannot be sent."""
    parsed = parse_event(event, input_bucket)
    enqueued = [enqueuer.enqueue(job) for job in parsed.jobs]
    summary = {
        "enqueued": enqueued,
        "ignored": len(parsed.ignored),
        "ignored_reasons": parsed.reasons(),
    }
    log.info("enqueued %d job(s), ignored %s", len(enqueued), summary["ignored_reasons"])
    return summary


def _warm_clients() -> tuple[Settings, JobQueue]:
    global _clients
    if _clients is None:
        from worker.enqueue import Enqueuer

        settings = Settings.from_env()
        _clients = (settings, Enqueuer(settings))
    return _clients

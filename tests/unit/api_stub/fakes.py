"""A stand-in for ``worker.enqueue.Enqueuer`` (unit tests only: integration tests use Redis)."""

from __future__ import annotations

from typing import Any

from worker import __version__
from worker.config import Settings
from worker.errors import BrokerUnavailable
from worker.freshness import expected_options
from worker.jobs import Job


class FakeQueue:
    """Records jobs; fails from the ``fail_at``-th call on, like a broker going away."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.jobs: list[Job] = []
        self.fail_at = fail_at

    def enqueue(self, job: Job) -> str:
        if self.fail_at is not None and len(self.jobs) >= self.fail_at:
            raise BrokerUnavailable("broker unavailable: ConnectionRefusedError")
        self.jobs.append(job)
        return job.id

    def ping(self) -> bool:
        return self.fail_at is None


def current_result(etag: str | None, status: str = "done") -> dict[str, Any]:
    """A result document the freshness rule (``worker.freshness``) counts as current for
    an object with this ETag and no metadata, under the default k."""
    options = expected_options({}, Settings().default_k) or {}
    return {
        "schema_version": 1,
        "status": status,
        "source": {"etag": etag, "metadata": {}},
        "options": options if status == "done" else {"k": options["k"]},
        "colors": [],
        "worker": {"version": __version__, "host": "test"},
    }

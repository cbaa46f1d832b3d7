"""A stand-in for ``worker.enqueue.Enqueuer`` (unit tests only: integration tests use Redis)."""

from __future__ import annotations

from worker.errors import BrokerUnavailable
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

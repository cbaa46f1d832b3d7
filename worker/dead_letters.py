"""Working off the dead-letter list: what ``palette dead-letters list|replay|purge`` does.

An entry is a palette job (the message it was sent with; reason: the error code it gave
up with, such as ``storage_unavailable`` or ``timeout``) or a callback delivery
(``{"task": "palette.callback", "key", "body"}``; reason ``callback_failed``). Replay
sends each entry back to its queue, oldest first, and takes it off the list only once it
is queued, so a broker outage mid-replay loses nothing. A replayed palette job is an
ordinary job: the worker skips it if its result became current meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.callbacks import CALLBACK_QUEUE, CALLBACK_TASK_NAME
from worker.config import Settings
from worker.enqueue import Enqueuer
from worker.errors import BrokerUnavailable
from worker.jobs import Job
from worker.ledger import Ledger


@dataclass(frozen=True)
class Entry:
    """One dead letter as stored; ``raw`` names it for removal."""

    raw: bytes
    job: Mapping[str, Any] | None
    reason: str
    at: float | None

    @property
    def task(self) -> str:
        if self.job is None:
            return "?"
        return str(self.job.get("task") or Job.from_message(dict(self.job)).task_name)

    @property
    def key(self) -> str:
        return "" if self.job is None else str(self.job.get("key", ""))


def entries(ledger: Ledger, reason: str | None = None) -> list[Entry]:
    """Every dead letter (newest first), or those given up with ``reason``."""
    found = []
    for raw, parsed in ledger.dead_letter_entries():
        job = parsed.get("job")
        at = parsed.get("at")
        entry = Entry(
            raw,
            job if isinstance(job, Mapping) and "key" in job else None,
            str(parsed.get("reason", "")),
            float(at) if isinstance(at, int | float) else None,
        )
        if reason is None or entry.reason == reason:
            found.append(entry)
    return found


def replay(
    ledger: Ledger, send: Callable[[Mapping[str, Any]], None], reason: str | None = None
) -> tuple[int, int]:
    """Send the entries back to their queues, oldest first; (replayed, left unreadable).
    Raises BrokerUnavailable when sending fails: what was not sent stays listed."""
    replayed = unreadable = 0
    for entry in reversed(entries(ledger, reason)):
        if entry.job is None:
            unreadable += 1
            continue
        send(entry.job)
        replayed += ledger.remove_dead_letter(entry.raw)
    return replayed, unreadable


def purge(ledger: Ledger, reason: str | None = None) -> int:
    """Delete the entries (all, or those with ``reason``); how many went."""
    return sum(ledger.remove_dead_letter(entry.raw) for entry in entries(ledger, reason))


def sender(settings: Settings) -> Callable[[Mapping[str, Any]], None]:
    """Sends an entry's job the way it was first sent: a palette job through the
    ``Enqueuer``, a callback to its own queue."""
    enqueuer = Enqueuer(settings)

    def send(job: Mapping[str, Any]) -> None:
        if job.get("task") != CALLBACK_TASK_NAME:
            enqueuer.enqueue(Job.from_message(dict(job)))
            return
        try:
            enqueuer.celery.send_task(
                CALLBACK_TASK_NAME,
                kwargs={"body": str(job.get("body", "")), "key": str(job.get("key", ""))},
                queue=CALLBACK_QUEUE,
                retry=False,
            )
        except Exception as exc:
            raise BrokerUnavailable(f"broker unavailable: {type(exc).__name__}") from exc

    return send

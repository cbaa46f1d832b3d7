"""Replay and purge rules over a list shaped like the ledger's (newest first)."""

import json
from collections.abc import Mapping
from typing import Any

import pytest

from worker.dead_letters import entries, purge, replay
from worker.errors import BrokerUnavailable


class ListLedger:
    """The two ledger calls the rules use, over a Python list (newest first)."""

    def __init__(self, *items: dict[str, Any] | bytes) -> None:
        self.items = [i if isinstance(i, bytes) else json.dumps(i).encode() for i in items]

    def dead_letter_entries(self) -> list[tuple[bytes, dict[str, Any]]]:
        from worker.ledger import _parsed

        return [(raw, _parsed(raw)) for raw in self.items]

    def remove_dead_letter(self, raw: bytes) -> bool:
        if raw in self.items:
            self.items.remove(raw)
            return True
        return False


def letter(key: str, reason: str = "storage_unavailable", at: float = 1.0) -> dict[str, Any]:
    return {"job": {"bucket": "images", "key": key, "etag": "e"}, "reason": reason, "at": at}


CALLBACK = {
    "job": {"task": "palette.callback", "key": "c.png", "body": "{}"},
    "reason": "callback_failed",
    "at": 0.5,
}


def test_replay_sends_oldest_first_and_removes_what_it_sent() -> None:
    ledger = ListLedger(letter("new.png", at=3), CALLBACK, letter("old.png", at=1))
    sent: list[Mapping[str, Any]] = []
    assert replay(ledger, sent.append) == (3, 0)  # type: ignore[arg-type]
    assert [job["key"] for job in sent] == ["old.png", "c.png", "new.png"]
    assert ledger.items == []


def test_replay_by_reason_leaves_the_others() -> None:
    ledger = ListLedger(letter("t.png", "timeout"), letter("s.png"))
    sent: list[Mapping[str, Any]] = []
    assert replay(ledger, sent.append, reason="timeout") == (1, 0)  # type: ignore[arg-type]
    assert [job["key"] for job in sent] == ["t.png"]
    assert [e.key for e in entries(ledger)] == ["s.png"]  # type: ignore[arg-type]


def test_a_failed_send_keeps_the_entry_and_what_follows() -> None:
    ledger = ListLedger(letter("b.png"), letter("a.png"))

    def down(job: Mapping[str, Any]) -> None:
        raise BrokerUnavailable("broker unavailable: ConnectionError")

    with pytest.raises(BrokerUnavailable):
        replay(ledger, down)  # type: ignore[arg-type]
    assert len(ledger.items) == 2


def test_an_unreadable_entry_is_listed_and_kept_never_sent() -> None:
    ledger = ListLedger(b"not json", letter("a.png"))
    sent: list[Mapping[str, Any]] = []
    assert replay(ledger, sent.append) == (1, 1)  # type: ignore[arg-type]
    assert ledger.items == [b"not json"]
    assert [e.reason for e in entries(ledger)] == ["unreadable"]  # type: ignore[arg-type]


def test_purge_deletes_all_or_by_reason() -> None:
    ledger = ListLedger(letter("t.png", "timeout"), letter("s.png"), CALLBACK)
    assert purge(ledger, "timeout") == 1  # type: ignore[arg-type]
    assert purge(ledger) == 2  # type: ignore[arg-type]
    assert ledger.items == []


def test_entries_name_their_task() -> None:
    ledger = ListLedger(CALLBACK, letter("a.png"))
    assert [(e.task, e.key) for e in entries(ledger)] == [  # type: ignore[arg-type]
        ("palette.callback", "c.png"),
        ("palette.process", "a.png"),
    ]

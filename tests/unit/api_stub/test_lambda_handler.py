"""The Lambda entry point enqueues exactly what POST /events would, and fails loudly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api_stub import lambda_handler
from tests.unit.api_stub.fakes import FakeQueue
from worker.config import Settings
from worker.errors import BrokerUnavailable

EVENTS = Path(__file__).resolve().parents[2] / "data" / "events"


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def test_s3_put_event_enqueues_the_decoded_key() -> None:
    queue = FakeQueue()
    summary = lambda_handler.handle(load("aws_put.json"), queue, "images")
    assert [job.key for job in queue.jobs] == ["my photos/a b+c ü%.png"]
    assert summary == {"enqueued": [queue.jobs[0].id], "ignored": 0, "ignored_reasons": {}}


def test_test_event_is_a_successful_no_op() -> None:
    queue = FakeQueue()
    summary = lambda_handler.handle(load("aws_test_event.json"), queue, "images")
    assert queue.jobs == []
    assert summary["ignored_reasons"] == {"s3_test_event": 1}


@pytest.mark.parametrize(
    "name", ["aws_sqs_wrapped.json", "aws_sns_wrapped.json", "aws_sns_sqs_wrapped.json"]
)
def test_wrapped_events_enqueue_the_inner_jobs(name: str) -> None:
    queue = FakeQueue()
    summary = lambda_handler.handle(load(name), queue, "images")
    assert len(queue.jobs) == 1
    assert summary["enqueued"] == [queue.jobs[0].id]


def test_other_buckets_are_ignored() -> None:
    queue = FakeQueue()
    summary = lambda_handler.handle(load("aws_multi_records.json"), queue, "images")
    assert len(queue.jobs) == 2
    assert summary["ignored_reasons"] == {"other_bucket": 1}


def test_broker_failure_raises_so_lambda_retries() -> None:
    queue = FakeQueue(fail_at=1)
    with pytest.raises(BrokerUnavailable):
        lambda_handler.handle(load("aws_multi_records.json"), queue, "images")
    assert len(queue.jobs) == 1


def test_handler_builds_clients_once_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = FakeQueue()
    built: list[Settings] = []

    def fake_enqueuer(settings: Settings) -> FakeQueue:
        built.append(settings)
        return queue

    monkeypatch.setenv("PALETTE_INPUT_BUCKET", "photos")
    monkeypatch.setattr(lambda_handler, "_clients", None)
    monkeypatch.setattr("worker.enqueue.Enqueuer", fake_enqueuer)
    event = load("aws_put.json")
    event["Records"][0]["s3"]["bucket"]["name"] = "photos"
    lambda_handler.handler(event, None)
    lambda_handler.handler(event, None)
    assert len(built) == 1
    assert built[0].input_bucket == "photos"
    assert [job.bucket for job in queue.jobs] == ["photos", "photos"]

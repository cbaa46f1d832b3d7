"""No input yields a 500: any JSON to the event parser and to every route with a body.

MinIO replays undelivered events one at a time, in order: one event we answer with a
5xx for ever blocks every later upload. So ``POST /events`` must answer any JSON with a
2xx (jobs plus ignore reasons) or a 4xx, and the parser itself must never raise.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api_stub.events import parse_body, parse_event
from tests.unit.api_stub.test_app import AUTH, EVENTS, client_for
from worker.storage import MemoryStorage, ObjectInfo

# Text with lone surrogates, control characters and everything else Unicode has.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | ANY_TEXT
    | st.sampled_from(["images", "s3:ObjectCreated:Put", "ObjectCreated:Put", "create", "/"])
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(["a.png", "a\ud800.png", "%ED%A0%80", "%ff", "x/../y", "a+b%2B"]) | ANY_TEXT
"""Keys: known troublemakers (a lone surrogate raw or encoded, bad UTF-8) and anything."""


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return value | ANY_JSON


S3_RECORD = st.fixed_dictionaries(
    {
        "eventName": _maybe(st.sampled_from(["s3:ObjectCreated:Put", "ObjectCreated:Copy"])),
        "s3": _maybe(
            st.fixed_dictionaries(
                {
                    "bucket": _maybe(st.fixed_dictionaries({"name": _maybe(st.just("images"))})),
                    "object": _maybe(
                        st.fixed_dictionaries({"key": KEYS, "eTag": ANY_JSON, "size": ANY_JSON})
                    ),
                }
            )
        ),
    }
)
SEAWEED_EVENT = st.fixed_dictionaries(
    {
        "event_type": _maybe(st.sampled_from(["create", "update"])),
        "key": _maybe(KEYS.map(lambda key: "/buckets/images/" + key)),
        "message": _maybe(
            st.fixed_dictionaries(
                {
                    "new_entry": _maybe(
                        st.fixed_dictionaries(
                            {"attributes": ANY_JSON, "extended": ANY_JSON, "is_directory": ANY_JSON}
                        )
                    )
                }
            )
        ),
    }
)
EVENT_LIKE = (
    st.lists(S3_RECORD | ANY_JSON, max_size=3).map(lambda records: {"Records": records})
    | SEAWEED_EVENT
    | st.lists(SEAWEED_EVENT | S3_RECORD, max_size=2).map(
        lambda records: {"Records": [{"body": json.dumps({"Records": records})}]}
    )
    | ANY_JSON
)


def _dumps(payload: Any) -> bytes:
    """JSON text as a store would send it (``Infinity``/``NaN`` and ``\\ud800`` escapes too)."""
    return json.dumps(payload).encode("ascii")


@settings(max_examples=300, deadline=None)
@given(EVENT_LIKE)
def test_the_parser_never_raises_and_every_job_is_safe(payload: Any) -> None:
    parsed = parse_body(_dumps(payload), "images")
    assert parsed == parse_event(payload, "images")
    for job in parsed.jobs:
        assert job.bucket == "images"
        job.key.encode("utf-8")  # a lone surrogate would fail here, at enqueue, as a 500
        assert job.size is None or isinstance(job.size, int)
        json.dumps(job.to_message(), ensure_ascii=False).encode("utf-8")
        assert job.id.startswith("palette-")
    assert all(isinstance(reason, str) for reason in parsed.reasons())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVENT_LIKE)
def test_any_json_event_is_2xx_or_4xx(payload: Any) -> None:
    client, queue, _ = client_for()
    response = client.post("/events", content=_dumps(payload), headers=AUTH)
    assert response.status_code in {200, 400}, response.text
    if response.status_code == 200:
        assert len(response.json()["enqueued"]) == len(queue.jobs)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_JSON)
def test_any_json_upload_request_is_201_or_4xx(payload: Any) -> None:
    client, _, _ = client_for()
    response = client.post("/uploads", content=_dumps(payload))
    assert response.status_code in {201, 413, 422}, response.text
    assert "status" in response.json()


def test_the_reported_500s_are_ignored_records() -> None:
    """A key with a lone surrogate and ``"size": 1e999`` (both were 500s)."""
    client, queue, _ = client_for()
    surrogate = b'{"Records": [{"eventName": "s3:ObjectCreated:Put", "s3": {"bucket": '
    surrogate += b'{"name": "images"}, "object": {"key": "a\\ud800.png", "eTag": "e"}}}]}'
    response = client.post("/events", content=surrogate, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["ignored_reasons"] == {"unsafe_key": 1}
    huge = surrogate.replace(b"a\\ud800.png", b"a.png").replace(b'"e"', b'"e", "size": 1e999')
    response = client.post("/events", content=huge, headers=AUTH)
    assert response.status_code == 200
    assert queue.jobs[0].key == "a.png"
    assert queue.jobs[0].size is None


def test_unknown_routes_and_methods_get_a_stable_code() -> None:
    client, _, _ = client_for()
    assert client.get("/nope").json()["status"] == "not_found"
    response = client.request("DELETE", "/events")
    assert (response.status_code, response.json()["status"]) == (405, "method_not_allowed")


# --- event intake is not starved by reads --------------------------------------------


class BlockingStorage(MemoryStorage):
    """Every read waits until the test lets it go: a slow or hung store."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.waiting = 0

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        self.waiting += 1
        self.release.wait(timeout=30)
        return super().head(bucket, key)


def test_events_are_accepted_while_every_read_thread_is_stuck() -> None:
    storage = BlockingStorage()
    client, queue, _ = client_for(storage=storage)
    event = (EVENTS / "aws_put.json").read_bytes()

    async def scenario() -> tuple[int, int]:
        async with httpx.AsyncClient(transport=client.transport, base_url="http://t") as http:
            reads = [asyncio.create_task(http.get(f"/palettes/k{i}.png")) for i in range(60)]
            while storage.waiting < 40:  # Starlette's whole shared pool is now blocked
                await asyncio.sleep(0.01)
            response = await asyncio.wait_for(
                http.post("/events", content=event, headers=AUTH), timeout=10
            )
            blocked = storage.waiting
            storage.release.set()
            await asyncio.gather(*reads)
            return response.status_code, blocked

    status, blocked = asyncio.run(scenario())
    assert status == 200
    assert blocked == 40
    assert len(queue.jobs) == 1

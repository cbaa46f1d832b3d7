"""HTTP contract of the api_stub with in-memory storage and a fake queue (no sockets)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_stub.app import create_app
from worker.config import Settings
from worker.errors import BrokerUnavailable, StorageUnavailable
from worker.jobs import Job
from worker.storage import MemoryStorage

EVENTS = Path(__file__).resolve().parents[2] / "data" / "events"
TOKEN = "s3cr3t-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
KEY = "my photos/a b+c ü%.png"


class Client:
    """A synchronous client over httpx's ASGI transport (Starlette's TestClient now warns)."""

    def __init__(self, app: Any) -> None:
        self.transport = httpx.ASGITransport(app=app)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://t") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


class FakeQueue:
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


class DownStorage(MemoryStorage):
    def head(self, bucket: str, key: str) -> None:
        raise StorageUnavailable("storage error: EndpointConnectionError")


def client_for(
    token: str | None = TOKEN, queue: FakeQueue | None = None, storage: MemoryStorage | None = None
) -> tuple[Client, FakeQueue, MemoryStorage]:
    queue = queue if queue is not None else FakeQueue()
    storage = storage if storage is not None else MemoryStorage()
    settings = Settings.from_env({}).with_overrides(webhook_token=token)
    return Client(create_app(settings, storage, queue)), queue, storage


def body(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def test_seaweed_event_is_enqueued() -> None:
    client, queue, _ = client_for()
    response = client.post("/events", content=body("seaweed_create.json"), headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"enqueued": [queue.jobs[0].id], "ignored": 0, "ignored_reasons": {}}
    assert queue.jobs[0].key == KEY


@pytest.mark.parametrize(
    "name", ["seaweed_dir.json", "seaweed_output_bucket.json", "aws_test_event.json"]
)
def test_ignored_events_are_still_2xx(name: str) -> None:
    client, queue, _ = client_for()
    response = client.post("/events", content=body(name), headers=AUTH)
    assert response.status_code == 200
    assert response.json()["enqueued"] == []
    assert response.json()["ignored"] == 1
    assert queue.jobs == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
)
def test_missing_or_wrong_token_is_401(headers: dict[str, str]) -> None:
    client, queue, _ = client_for()
    response = client.post("/events", content=body("seaweed_create.json"), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert queue.jobs == []


def test_no_configured_token_rejects_everything() -> None:
    client, _, _ = client_for(token=None)
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
        response = client.post("/events", content=body("seaweed_create.json"), headers=headers)
        assert response.status_code == 401


def test_bearer_scheme_is_case_insensitive() -> None:
    client, _, _ = client_for()
    headers = {"Authorization": f"bearer {TOKEN}"}
    assert client.post("/events", content=body("aws_put.json"), headers=headers).status_code == 200


def test_invalid_json_is_400() -> None:
    client, _, _ = client_for()
    response = client.post("/events", content=b"{nope", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["status"] == "invalid_json"


def test_oversized_body_is_413() -> None:
    client, _, _ = client_for()
    response = client.post("/events", content=b" " * (1024 * 1024 + 1), headers=AUTH)
    assert response.status_code == 413


def test_broker_failure_is_503_so_the_store_retries() -> None:
    client, _, _ = client_for(queue=FakeQueue(fail_at=1))
    response = client.post("/events", content=body("aws_multi_records.json"), headers=AUTH)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["status"] == "broker_unavailable"
    assert len(response.json()["enqueued"]) == 1


def test_palette_404_then_202_then_200() -> None:
    client, _, storage = client_for()
    url = "/palettes/" + KEY.replace("%", "%25")
    assert client.get(url).status_code == 404
    assert client.get(url).json() == {"status": "not_found", "key": KEY}
    storage.put("images", KEY, b"png bytes", "image/png")
    response = client.get(url)
    assert (response.status_code, response.json()) == (202, {"status": "pending", "key": KEY})
    etag = storage.head("images", KEY).etag  # type: ignore[union-attr]
    document = {"schema_version": 1, "status": "done", "source": {"etag": etag}, "colors": []}
    storage.put("palettes", KEY + ".json", json.dumps(document).encode(), "application/json")
    response = client.get(url)
    assert (response.status_code, response.json()) == (200, document)


def test_result_for_an_older_version_is_pending() -> None:
    client, _, storage = client_for()
    storage.put("images", "a.png", b"new bytes", "image/png")
    stale = {"schema_version": 1, "status": "done", "source": {"etag": "0" * 32}}
    storage.put("palettes", "a.png.json", json.dumps(stale).encode(), "application/json")
    assert client.get("/palettes/a.png").status_code == 202


def test_result_whose_image_was_deleted_is_still_served() -> None:
    client, _, storage = client_for()
    document = {"schema_version": 1, "status": "failed", "source": {"etag": "x"}}
    storage.put("palettes", "gone.png.json", json.dumps(document).encode(), "application/json")
    assert client.get("/palettes/gone.png").json() == document


def test_palette_key_escaping_the_bucket_is_400() -> None:
    client, _, _ = client_for()
    response = client.get("/palettes/a/%2E%2E/b.png")
    assert response.status_code == 400
    assert response.json()["status"] == "invalid_key"


def test_palette_storage_down_is_503() -> None:
    client, _, _ = client_for(storage=DownStorage())
    assert client.get("/palettes/a.png").status_code == 503


def test_healthz_ok_and_unavailable() -> None:
    client, _, _ = client_for()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"]["ok"] is True
    client, _, _ = client_for(queue=FakeQueue(fail_at=0), storage=DownStorage())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert {name: check["ok"] for name, check in response.json()["checks"].items()} == {
        "broker": False,
        "storage": False,
    }


def test_openapi_documents_every_route() -> None:
    client, _, _ = client_for()
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {"/events", "/palettes/{key}", "/healthz"}
    assert {"200", "400", "401", "413", "503"} <= set(paths["/events"]["post"]["responses"])

"""GET /metrics of the api_stub: what an operator's dashboard and alerts read."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api_stub.access import ApiAccess
from api_stub.app import create_app
from api_stub.metrics import ApiMetrics, ListLengths
from tests.unit.api_stub.fakes import FakeQueue
from tests.unit.api_stub.test_app import AUTH, TOKEN, Client
from worker.config import Settings
from worker.storage import MemoryStorage

EVENTS = Path(__file__).resolve().parents[2] / "data" / "events"
API_TOKEN = "metrics-token-0123456789"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def lengths(depth: int = 0, dead: int = 0) -> ListLengths:
    return lambda: (depth, dead)


def redis_away() -> tuple[int, int]:
    raise ConnectionRefusedError("no Redis")


def app_client(
    list_lengths: ListLengths | None = None,
    queue: FakeQueue | None = None,
    access: ApiAccess | None = None,
) -> Client:
    settings = Settings.from_env({}).with_overrides(webhook_token=TOKEN)
    metrics = ApiMetrics(list_lengths or lengths())
    app = create_app(
        settings, MemoryStorage(), queue or FakeQueue(), metrics=metrics, access=access
    )
    return Client(app)


def scrape(client: Client, headers: dict[str, str] | None = None) -> Samples:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def post(client: Client, name: str, headers: dict[str, str] | None = None) -> int:
    body = (EVENTS / name).read_bytes()
    return client.post(
        "/events", content=body, headers=AUTH if headers is None else headers
    ).status_code


def test_events_are_counted_as_received_enqueued_and_ignored_by_reason() -> None:
    client = app_client()
    assert post(client, "seaweed_create.json") == 200
    assert post(client, "minio_delete.json") == 200
    assert post(client, "seaweed_dir.json") == 200
    assert post(client, "seaweed_output_bucket.json") == 200
    samples = scrape(client)
    assert samples[("palette_events_received_total", (("result", "accepted"),))] == 4
    assert samples[("palette_events_enqueued_total", (("task", "process"),))] == 1
    assert samples[("palette_events_enqueued_total", (("task", "remove"),))] == 1
    ignored = {
        labels[0][1]: value
        for (name, labels), value in samples.items()
        if name == "palette_events_ignored_total"
    }
    assert ignored == {"directory": 1, "other_bucket": 1}


def test_refused_events_are_counted_by_why() -> None:
    client = app_client(queue=FakeQueue(fail_at=0))
    assert post(client, "seaweed_create.json", headers={}) == 401
    assert client.post("/events", content=b"{not json", headers=AUTH).status_code == 400
    assert post(client, "seaweed_create.json") == 503
    samples = scrape(client)
    for result in ("unauthorized", "invalid_json", "broker_unavailable"):
        assert samples[("palette_events_received_total", (("result", result),))] == 1, result
    assert ("palette_events_received_total", (("result", "accepted"),)) not in samples
    assert not any(name == "palette_events_enqueued_total" for name, _ in samples)


def test_queue_depth_and_dead_letters_are_read_at_scrape_time() -> None:
    current = {"depth": 7, "dead": 2}
    client = app_client(lambda: (current["depth"], current["dead"]))
    samples = scrape(client)
    assert samples[("palette_queue_depth", ())] == 7
    assert samples[("palette_dead_letters", ())] == 2
    assert samples[("palette_broker_up", ())] == 1
    current["depth"] = 0
    assert scrape(client)[("palette_queue_depth", ())] == 0


def test_a_redis_that_does_not_answer_costs_the_queue_gauges_only() -> None:
    client = app_client(redis_away)
    post(client, "seaweed_create.json")
    samples = scrape(client)
    assert samples[("palette_broker_up", ())] == 0
    assert ("palette_queue_depth", ()) not in samples
    assert ("palette_dead_letters", ()) not in samples
    assert samples[("palette_events_received_total", (("result", "accepted"),))] == 1


def test_loopback_bound_metrics_need_no_credential() -> None:
    scrape(app_client(access=ApiAccess("127.0.0.1", None)))
    scrape(app_client(access=ApiAccess("::1", None)))


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_TOKEN}"}],
    ids=["none", "wrong", "not-bearer"],
)
def test_beyond_loopback_metrics_need_the_api_token(headers: dict[str, str]) -> None:
    client = app_client(access=ApiAccess("0.0.0.0", API_TOKEN))
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == "unauthorized"
    assert "palette_" not in response.text
    scrape(client, {"Authorization": f"Bearer {API_TOKEN}"})


def test_beyond_loopback_without_a_token_no_scrape_is_answered() -> None:
    client = app_client(access=ApiAccess("0.0.0.0", None))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def test_access_comes_from_the_environment() -> None:
    env = {"PALETTE_API_TOKEN": API_TOKEN}
    assert ApiAccess.from_env("10.0.0.5", env) == ApiAccess("10.0.0.5", API_TOKEN)
    assert ApiAccess.from_env("10.0.0.5", {"PALETTE_API_TOKEN": ""}).token is None

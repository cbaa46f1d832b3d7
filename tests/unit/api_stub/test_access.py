"""api_stub.access: loopback answers everyone, anything beyond answers the token only.

The guarded routes are exercised through the real app (httpx's ASGI transport): every
client route without, with a wrong and with the right token; ``/events`` keeps its own
token; the page, ``/healthz`` and the schema stay open.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

from api_stub import server
from api_stub.access import ApiAccess
from api_stub.app import create_app
from tests.helpers import etag_of
from tests.unit.api_stub.fakes import FakeQueue, current_result
from tests.unit.api_stub.test_app import AUTH as WEBHOOK_AUTH
from tests.unit.api_stub.test_app import EVENTS, Client
from tests.unit.api_stub.test_app import TOKEN as WEBHOOK_TOKEN
from worker.config import Settings
from worker.storage import MemoryStorage

API_TOKEN = "api-token-0123456789abcdef"
API_AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
KEY = "cats/a.png"
UPLOAD = {"filename": "a.png", "content_type": "image/png", "size": 10}

# (method, path, json body): every client route and the status it answers when allowed
GUARDED: list[tuple[str, str, Any, int]] = [
    ("POST", "/uploads", UPLOAD, 201),
    ("GET", "/palettes", None, 200),
    ("GET", f"/palettes/{KEY}", None, 200),
    ("GET", f"/bars/{KEY}", None, 200),
    ("GET", f"/files/bar/{KEY}", None, 200),
    ("GET", "/metrics", None, 200),
]


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "#123456").save(out, "PNG")
    return out.getvalue()


def client_with(access: ApiAccess) -> Client:
    settings = Settings.from_env(
        {
            "PALETTE_S3_ENDPOINT": "http://s3.example.test:8333",
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
        }
    ).with_overrides(webhook_token=WEBHOOK_TOKEN)
    storage = MemoryStorage()
    storage.put(settings.input_bucket, KEY, _png(), "image/png")
    etag = etag_of(storage, settings.input_bucket, KEY)
    document = json.dumps(current_result(etag)).encode()
    storage.put(settings.output_bucket, KEY + ".json", document, "application/json")
    storage.put(settings.output_bucket, KEY + ".png", _png(), "image/png")
    app = create_app(settings, storage, FakeQueue(), access=access)
    return Client(app)


def _send(client: Client, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "allowed"), GUARDED)
@pytest.mark.parametrize("bind", ["0.0.0.0", "10.1.2.3", "::"])
def test_beyond_loopback_client_routes_need_the_api_token(
    bind: str, method: str, path: str, body: Any, allowed: int
) -> None:
    client = client_with(ApiAccess(bind, API_TOKEN))
    wrong = [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {API_TOKEN}"}]
    for headers in [*wrong, WEBHOOK_AUTH]:  # the webhook's token is not the clients'
        response = _send(client, method, path, body, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json() == {"status": "unauthorized"}
        assert response.headers["www-authenticate"] == "Bearer"
    assert _send(client, method, path, body, API_AUTH).status_code == allowed


@pytest.mark.parametrize(("method", "path", "body", "allowed"), GUARDED)
def test_on_loopback_everything_answers_as_before(
    method: str, path: str, body: Any, allowed: int
) -> None:
    for bind in ("127.0.0.1", "::1", "localhost"):
        client = client_with(ApiAccess(bind))
        assert _send(client, method, path, body, {}).status_code == allowed


@pytest.mark.parametrize(("method", "path", "body", "allowed"), GUARDED)
def test_require_token_guards_loopback_too(method: str, path: str, body: Any, allowed: int) -> None:
    client = client_with(ApiAccess("127.0.0.1", API_TOKEN, require=True))
    assert _send(client, method, path, body, {}).status_code == 401
    assert _send(client, method, path, body, API_AUTH).status_code == allowed


def test_events_keep_their_own_token() -> None:
    client = client_with(ApiAccess("0.0.0.0", API_TOKEN))
    body = (EVENTS / "seaweed_create.json").read_bytes()
    assert client.post("/events", content=body, headers=API_AUTH).status_code == 401
    assert client.post("/events", content=body, headers=WEBHOOK_AUTH).status_code == 200


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/openapi.json"])
def test_the_page_and_the_schema_stay_open(path: str) -> None:
    """They reveal no key, image or result; the page asks for the token itself."""
    assert client_with(ApiAccess("0.0.0.0", API_TOKEN)).get(path).status_code == 200


def test_healthz_stays_open_for_probes() -> None:
    response = client_with(ApiAccess("0.0.0.0", API_TOKEN)).get("/healthz")
    assert response.status_code in {200, 503}
    assert response.status_code != 401


def test_the_schema_documents_the_token_only_where_it_is_required() -> None:
    guarded = client_with(ApiAccess("0.0.0.0", API_TOKEN)).get("/openapi.json").json()
    opened = client_with(ApiAccess("127.0.0.1")).get("/openapi.json").json()
    for method, path, _, _ in GUARDED:
        template = path.replace(KEY, "{key}").replace("/files/bar/", "/files/{name}/")
        operation = guarded["paths"][template][method.lower()]
        assert operation["security"] == [{"ApiToken": []}], template
        assert "401" in operation["responses"]
        plain = opened["paths"][template][method.lower()]
        assert "security" not in plain, template
        assert "401" not in plain["responses"], template
    assert guarded["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"
    assert guarded["paths"]["/events"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in guarded["paths"]["/healthz"]["get"]


def test_access_comes_from_the_environment() -> None:
    env = {"PALETTE_API_TOKEN": API_TOKEN, "PALETTE_API_REQUIRE_TOKEN": "1"}
    assert ApiAccess.from_env("10.0.0.5", env) == ApiAccess("10.0.0.5", API_TOKEN, True)
    assert ApiAccess.from_env("::1", {"PALETTE_API_TOKEN": ""}) == ApiAccess("::1")


@pytest.mark.parametrize(
    ("access", "problem"),
    [
        (ApiAccess("127.0.0.1"), None),
        (ApiAccess("0.0.0.0", API_TOKEN), None),
        (ApiAccess("127.0.0.1", API_TOKEN, require=True), None),
        (ApiAccess("0.0.0.0"), "listening on 0.0.0.0 requires PALETTE_API_TOKEN"),
        (ApiAccess("127.0.0.1", require=True), "PALETTE_API_REQUIRE_TOKEN=1 requires"),
    ],
)
def test_startup_problem(access: ApiAccess, problem: str | None) -> None:
    found = access.startup_problem()
    assert (found is None) == (problem is None)
    if problem is not None:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    "env",
    [
        {"PALETTE_API_BIND": "0.0.0.0:0"},
        {"PALETTE_API_BIND": "127.0.0.1:0", "PALETTE_API_REQUIRE_TOKEN": "1"},
    ],
)
def test_the_server_refuses_to_start_guarded_without_a_token(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert server.serve(env) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("api_stub: ")
    assert "PALETTE_API_TOKEN" in err


class LeakyQueue(FakeQueue):
    """A broker whose failure message quotes its URL, password included (as redis-py's
    connection errors can)."""

    def ping(self) -> bool:
        raise ConnectionError("Error connecting to redis://:hunter2-secret@10.0.0.9:6379/0")


def test_healthz_never_shows_the_broker_url_or_its_password() -> None:
    settings = Settings.from_env(
        {"PALETTE_BROKER_URL": "redis://:hunter2-secret@10.0.0.9:6379/0"}
    ).with_overrides(webhook_token=WEBHOOK_TOKEN)
    client = Client(create_app(settings, MemoryStorage(), LeakyQueue()))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["error"] == "ConnectionError"
    assert "hunter2" not in response.text
    assert "redis://" not in response.text

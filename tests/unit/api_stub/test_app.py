"""HTTP contract of the api_stub with in-memory storage and a fake queue (no sockets)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import typing
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api_stub import web
from api_stub.app import create_app
from tests.helpers import etag_of
from tests.unit.api_stub.fakes import FakeQueue, current_result
from worker.config import Settings
from worker.errors import StorageUnavailable
from worker.jobs import unsafe_key_reason
from worker.storage import MemoryStorage, ObjectInfo

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
    etag = etag_of(storage, "images", KEY)
    document = current_result(etag)
    storage.put("palettes", KEY + ".json", json.dumps(document).encode(), "application/json")
    response = client.get(url)
    assert (response.status_code, response.json()) == (200, document)


def test_result_for_an_older_version_is_pending() -> None:
    client, _, storage = client_for()
    storage.put("images", "a.png", b"new bytes", "image/png")
    stale = {"schema_version": 1, "status": "done", "source": {"etag": "0" * 32}}
    storage.put("palettes", "a.png.json", json.dumps(stale).encode(), "application/json")
    assert client.get("/palettes/a.png").status_code == 202


def test_a_result_without_etag_or_of_other_options_is_pending() -> None:
    """No ETag recorded proves nothing; same bytes re-uploaded with another k keep their
    ETag, and the HEAD's metadata is what makes the old result stale."""
    client, _, storage = client_for()
    storage.put("images", "a.png", b"bytes", "image/png")
    etag = etag_of(storage, "images", "a.png")
    for document in ({**current_result(etag), "source": {}}, current_result(None)):
        storage.put("palettes", "a.png.json", json.dumps(document).encode(), "application/json")
        assert client.get("/palettes/a.png").status_code == 202
    storage.put("palettes", "a.png.json", json.dumps(current_result(etag)).encode(), "")
    assert client.get("/palettes/a.png").status_code == 200
    storage.put("images", "a.png", b"bytes", "image/png", metadata={"palette-k": "3"})
    assert client.get("/palettes/a.png").status_code == 202


def test_a_result_whose_image_was_deleted_is_404() -> None:
    """No image: the left-over result answers for nothing (its removal job is coming)."""
    client, _, storage = client_for()
    document = {"schema_version": 1, "status": "failed", "source": {"etag": "x"}}
    storage.put("palettes", "gone.png.json", json.dumps(document).encode(), "application/json")
    response = client.get("/palettes/gone.png")
    assert (response.status_code, response.json()["status"]) == (404, "not_found")


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
    assert set(paths) == {
        "/events",
        "/palettes/{key}",
        "/healthz",
        "/metrics",
        "/",
        "/uploads",
        "/palettes",
        "/bars/{key}",
        "/files/{name}/{key}",
    }
    assert {"200", "400", "401", "413", "503"} <= set(paths["/events"]["post"]["responses"])


# --- the web page and its routes (api_stub.web) ----------------------------------------

S3_ENDPOINT = "http://s3.example.test:8333"
UPLOAD_KEY = re.compile(r"uploads/[0-9a-f]{32}/[A-Za-z0-9._-]{1,100}")


class BrokenPresigner:
    def presigned_post(
        self,
        bucket: str,
        key: str,
        content_type: str,
        max_bytes: int,
        expires: int,
        metadata: Any = None,
    ) -> web.PostPolicy:
        raise RuntimeError("Unable to locate credentials for secret-profile")

    def presigned_get(self, bucket: str, key: str, content_type: str, expires: int) -> str:
        raise RuntimeError("Unable to locate credentials for secret-profile")


class DownReads(MemoryStorage):
    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        raise StorageUnavailable("storage error: EndpointConnectionError")

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        raise StorageUnavailable("storage error: EndpointConnectionError")


def web_client(
    storage: MemoryStorage | None = None, presigner: Any = None
) -> tuple[Client, MemoryStorage]:
    """An app whose presigner is the real boto3 one: signing needs no network."""
    storage = storage if storage is not None else MemoryStorage()
    settings = Settings.from_env(
        {
            "PALETTE_S3_ENDPOINT": S3_ENDPOINT,
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
            "PALETTE_MAX_BYTES": "1000",
        }
    )
    return Client(create_app(settings, storage, FakeQueue(), presigner)), storage


def test_page_is_served_with_a_strict_content_security_policy() -> None:
    client, _ = web_client()
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="drop-zone"' in response.text
    assert 'aria-live="polite"' in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert f"connect-src 'self' {S3_ENDPOINT}" in csp
    assert f"img-src 'self' blob: data: {S3_ENDPOINT};" in csp  # gallery thumbnails


@pytest.mark.parametrize(
    ("path", "kind"), [("/static/app.js", "javascript"), ("/static/style.css", "text/css")]
)
def test_static_assets_are_served(path: str, kind: str) -> None:
    client, _ = web_client()
    response = client.get(path)
    assert response.status_code == 200
    assert kind in response.headers["content-type"]


@dataclass(frozen=True)
class WithPublicEndpoint(Settings):
    """Settings once ``PALETTE_S3_PUBLIC_ENDPOINT`` exists (proposed for worker/config.py)."""

    s3_public_endpoint: str | None = None


def test_browsers_get_the_public_s3_endpoint_when_there_is_one() -> None:
    internal = Settings(s3_endpoint="http://minio:9000", access_key="a", secret_key="b")
    assert web.public_s3_endpoint(internal) == "http://minio:9000"
    public = WithPublicEndpoint(
        s3_endpoint="http://minio:9000",
        access_key="a",
        secret_key="b",
        s3_public_endpoint="http://localhost:9000",
    )
    assert web.public_s3_endpoint(public) == "http://localhost:9000"
    assert "connect-src 'self' http://localhost:9000;" in web.content_security_policy(public)
    policy = web.S3Presigner(public).presigned_post(
        "images", "uploads/x/a.png", "image/png", 1000, 60
    )
    assert policy.url == "http://localhost:9000/images"
    aws = web.content_security_policy(Settings())
    assert "connect-src 'self' https://*.amazonaws.com;" in aws


def test_upload_ticket_is_a_sigv4_post_policy_bounded_in_size_type_key_and_time() -> None:
    client, _ = web_client()
    request = {"filename": "Cat photo ü.JPG", "content_type": "image/jpeg", "size": 10}
    before = datetime.now(UTC)
    response = client.post("/uploads", json=request)
    after = datetime.now(UTC)
    assert response.status_code == 201
    ticket = response.json()
    assert UPLOAD_KEY.fullmatch(ticket["key"])
    assert ticket["key"].endswith("/Cat-photo-u.JPG")
    assert ticket["method"] == "POST"
    assert ticket["url"] == f"{S3_ENDPOINT}/images"
    assert ticket["max_bytes"] == 1000
    assert ticket["palette_url"] == "/palettes/" + ticket["key"]
    fields = ticket["fields"]
    assert fields["key"] == ticket["key"]
    assert fields["Content-Type"] == "image/jpeg"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert fields["x-amz-credential"].startswith("AKIDEXAMPLE/")
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1, 1000] in conditions
    assert ["starts-with", "$Content-Type", "image/"] in conditions
    assert {"key": ticket["key"]} in conditions
    assert {"bucket": "images"} in conditions
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    # signed between before and after, UPLOAD_EXPIRES_S ahead, in whole seconds
    lifetime = timedelta(seconds=web.UPLOAD_EXPIRES_S)
    assert before + lifetime - timedelta(seconds=1) <= expires <= after + lifetime
    assert web.UPLOAD_EXPIRES_S <= 300


@pytest.mark.parametrize(("k", "sent"), [(3, "3"), (32, "32"), ("auto", "auto")])
def test_an_upload_asking_for_k_signs_it_as_exact_user_metadata(k: Any, sent: str) -> None:
    """The stored object gets ``x-amz-meta-palette-k``; the policy pins its value."""
    client, _ = web_client()
    request = {"filename": "a.png", "content_type": "image/png", "k": k}
    ticket = client.post("/uploads", json=request).json()
    assert ticket["fields"]["x-amz-meta-palette-k"] == sent
    policy = json.loads(base64.b64decode(ticket["fields"]["policy"]))
    assert {"x-amz-meta-palette-k": sent} in policy["conditions"]


def test_an_upload_without_k_carries_no_metadata() -> None:
    client, _ = web_client()
    ticket = client.post("/uploads", json={"filename": "a.png", "content_type": "image/png"})
    assert not [name for name in ticket.json()["fields"] if name.startswith("x-amz-meta-")]


@pytest.mark.parametrize("k", [0, 33, -1, "3", "many", True, 2.5])
def test_an_upload_asking_for_an_invalid_k_is_422(k: Any) -> None:
    client, _ = web_client(presigner=BrokenPresigner())
    response = client.post(
        "/uploads", json={"filename": "a.png", "content_type": "image/png", "k": k}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", "k"]


def test_two_uploads_of_one_name_never_share_a_key() -> None:
    client, _ = web_client()
    request = {"filename": "a.png", "content_type": "image/png"}
    keys = {client.post("/uploads", json=request).json()["key"] for _ in range(3)}
    assert len(keys) == 3


@pytest.mark.parametrize(
    "request_body",
    [
        {"filename": "a.html", "content_type": "text/html"},
        {"filename": "", "content_type": "image/png"},
        {"filename": "a.png"},
        {"filename": "a.png", "content_type": "image/png", "size": -1},
        {"filename": "x" * 256, "content_type": "image/png"},
        {"filename": "a.png", "content_type": "image/png", "size": False},
        {"filename": "a.png", "content_type": "image/png", "size": "12"},
        {"filename": 12, "content_type": "image/png"},
    ],
)
def test_bad_upload_requests_are_422(request_body: dict[str, Any]) -> None:
    client, _ = web_client()
    assert client.post("/uploads", json=request_body).status_code == 422


def test_upload_over_the_byte_limit_is_refused_before_signing() -> None:
    client, _ = web_client(presigner=BrokenPresigner())
    response = client.post(
        "/uploads", json={"filename": "big.png", "content_type": "image/png", "size": 1001}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "size"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["UploadRequest"]
    assert schema["properties"]["size"]["anyOf"][0]["maximum"] == 1000


def test_signing_failure_is_503_without_the_error_text() -> None:
    client, _ = web_client(presigner=BrokenPresigner())
    response = client.post("/uploads", json={"filename": "a.png", "content_type": "image/png"})
    assert response.status_code == 503
    assert response.json() == {"status": "cannot_sign", "detail": "RuntimeError"}


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("photo.jpg", "image/jpeg", "photo.jpg"),
        ("../../etc/passwd", "image/png", "passwd.png"),
        ("C:\\Users\\me\\shot.png", "image/png", "shot.png"),
        ("...", "image/gif", "image.gif"),
        ("..png", "image/png", "image.png"),
        ("my photo (1).webp", "image/webp", "my-photo-1.webp"),
        ("日本.png", "image/png", "image.png"),
        ("a.tar.gz.bmp", "image/bmp", "a.tar.gz.bmp"),
        ("noext", "image/tiff", "noext.tif"),
        ("x" * 300 + ".png", "image/png", "x" * 96 + ".png"),
    ],
)
def test_safe_filename(name: str, content_type: str, expected: str) -> None:
    assert web.safe_filename(name, content_type) == expected


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(min_size=1, max_size=300), content_type=st.sampled_from(sorted(web.CONTENT_TYPES))
)
def test_every_upload_key_is_safe(name: str, content_type: str) -> None:
    key = web.upload_key(name, content_type)
    assert UPLOAD_KEY.fullmatch(key)
    assert unsafe_key_reason(key) is None


def test_the_documented_content_types_are_the_allowed_ones() -> None:
    assert set(typing.get_args(web.ContentType)) == set(web.CONTENT_TYPES)


def put_result(storage: MemoryStorage, key: str, minutes_ago: float, **document: Any) -> None:
    """A stored result document whose LastModified lies ``minutes_ago`` in the past."""
    body = {"schema_version": 1, "status": "done", "colors": [], **document}
    storage.put("palettes", key + ".json", json.dumps(body).encode(), "application/json")
    storage.put("palettes", key + ".png", b"\x89PNG fake", "image/png")
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    storage.modified[("palettes", key + ".json")] = when


COLOR = {
    "hex": "#8e684c",
    "rgb": [142, 104, 76],
    "proportion": 1.0,
    "pixel_count": 10,
    "oklch": [0.5, 0.06, 57.3],
    "name": {"css": "sienna", "basic": "brown"},
    "text": {"color": "#ffffff", "contrast": 4.96},
}


def test_gallery_lists_results_newest_first_with_card_fields() -> None:
    storage = MemoryStorage()
    put_result(storage, "old.jpg", 30)
    put_result(storage, "new one.jpg", 1, colors=[COLOR])
    error = {"code": "not_an_image", "message": "bytes are no image"}
    put_result(storage, "bad.jpg", 10, status="failed", error=error)
    client, _ = web_client(storage)
    page = client.get("/palettes").json()
    assert [item["key"] for item in page["items"]] == ["new one.jpg", "bad.jpg", "old.jpg"]
    assert page["next_cursor"] is None
    newest, failed = page["items"][0], page["items"][1]
    assert newest["colors"] == [{k: COLOR[k] for k in ("hex", "rgb", "proportion", "name", "text")}]
    assert newest["bar_url"] == "/bars/new%20one.jpg"
    assert newest["files"] == {"bar": "/files/bar/new%20one.jpg"}
    assert newest["palette_url"] == "/palettes/new%20one.jpg"
    assert (failed["status"], failed["error"], failed["bar_url"]) == ("failed", error, None)
    assert failed["files"] == {}


def test_gallery_cards_of_done_results_carry_a_presigned_thumbnail() -> None:
    """A short-lived signed GET of the source image, for images a browser shows and
    small enough; none for a failed result, a TIFF or an image over the cap."""
    storage = MemoryStorage()
    small = {"format": "JPEG", "size": 5000}
    put_result(storage, "cats/a b.jpg", 1, source=small, quality={"k_requested": 3})
    put_result(storage, "scan.tif", 2, source={"format": "TIFF", "size": 5000})
    huge = {"format": "PNG", "size": web.PREVIEW_MAX_BYTES + 1}
    put_result(storage, "huge.png", 3, source=huge)
    put_result(storage, "bad.jpg", 4, status="failed", source=small)
    client, _ = web_client(storage)
    items = {item["key"]: item for item in client.get("/palettes").json()["items"]}
    url = urllib.parse.urlsplit(items["cats/a b.jpg"]["image_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{S3_ENDPOINT}/images/cats/a%20b.jpg"
    query = urllib.parse.parse_qs(url.query)
    assert query["X-Amz-Expires"] == [str(web.PREVIEW_EXPIRES_S)]
    assert query["response-content-type"] == ["image/jpeg"]
    assert "X-Amz-Signature" in query
    assert items["cats/a b.jpg"]["k_requested"] == 3
    assert [items[k]["image_url"] for k in ("scan.tif", "huge.png", "bad.jpg")] == [None] * 3


def test_gallery_without_credentials_to_sign_shows_cards_without_thumbnails() -> None:
    storage = MemoryStorage()
    put_result(storage, "a.jpg", 1, source={"format": "JPEG", "size": 10})
    client, _ = web_client(storage, presigner=BrokenPresigner())
    response = client.get("/palettes")
    assert response.status_code == 200
    assert response.json()["items"][0]["image_url"] is None


def test_gallery_pages_with_a_cursor_until_the_end() -> None:
    storage = MemoryStorage()
    for minute in range(5):
        put_result(storage, f"img-{minute}.png", minute)
    client, _ = web_client(storage)
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/palettes", params=params).json()
        seen += [item["key"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"img-{minute}.png" for minute in range(5)]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 51}, {"limit": "x"}, {"cursor": "nope"}, {"cursor": ":k"}],
)
def test_gallery_bad_limit_or_cursor_is_422(params: dict[str, Any]) -> None:
    client, _ = web_client()
    assert client.get("/palettes", params=params).status_code == 422


def test_any_cursor_of_the_documented_shape_is_a_position() -> None:
    storage = MemoryStorage()
    put_result(storage, "a.png", 10)
    put_result(storage, "b.png", 1)
    client, _ = web_client(storage)
    first = client.get("/palettes", params={"limit": 1}).json()
    assert first["next_cursor"].endswith(":b.png.json")
    later = client.get("/palettes", params={"cursor": first["next_cursor"]}).json()
    assert [item["key"] for item in later["items"]] == ["a.png"]
    assert client.get("/palettes", params={"cursor": "0:zzz"}).json()["items"] == []
    everything = client.get("/palettes", params={"cursor": "99999999999999999999:"}).json()
    assert [item["key"] for item in everything["items"]] == ["b.png", "a.png"]


@settings(max_examples=100, deadline=None)
@given(micros=st.integers(0, 10**19), key=st.text())
def test_cursor_round_trip(micros: int, key: str) -> None:
    assert web.decode_cursor(web.encode_cursor((-micros, key))) == (-micros, key)


def test_gallery_storage_down_is_503() -> None:
    client, _ = web_client(DownReads())
    assert client.get("/palettes").status_code == 503


def test_result_index_lists_once_per_ttl() -> None:
    storage = MemoryStorage()
    put_result(storage, "a.png", 1)
    now = [0.0]
    index = web.ResultIndex(storage, "palettes", ttl=5.0, clock=lambda: now[0])
    assert [i.key for i in index.page(10, None)[0]] == ["a.png.json"]
    put_result(storage, "b.png", 0)
    now[0] = 4.9
    assert [i.key for i in index.page(10, None)[0]] == ["a.png.json"]
    now[0] = 5.0
    assert [i.key for i in index.page(10, None)[0]] == ["b.png.json", "a.png.json"]


def test_bar_is_served_as_png() -> None:
    storage = MemoryStorage()
    put_result(storage, "my photos/a b+c ü%.png", 1)
    client, _ = web_client(storage)
    response = client.get("/bars/" + KEY.replace("%", "%25"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == b"\x89PNG fake"


def test_a_file_is_served_by_its_output_name_as_the_bar_route_serves_it() -> None:
    storage = MemoryStorage()
    put_result(storage, "my photos/a b+c ü%.png", 1)
    client, _ = web_client(storage)
    response = client.get("/files/bar/" + KEY.replace("%", "%25"))
    assert (response.status_code, response.headers["content-type"]) == (200, "image/png")
    assert response.content == b"\x89PNG fake"
    again = client.get(
        "/files/bar/" + KEY.replace("%", "%25"), headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
    assert client.get("/files/json/" + KEY.replace("%", "%25")).status_code == 404  # /palettes
    assert (
        client.get("/files/nope/" + KEY.replace("%", "%25")).json()["detail"] == "no output 'nope'"
    )


@pytest.mark.parametrize(
    ("storage", "path", "code"),
    [
        (MemoryStorage(), "/files/bar/missing.png", 404),
        (MemoryStorage(), "/files/bar/a/%2E%2E/b.png", 400),
        (DownReads(), "/files/bar/a.png", 503),
        (MemoryStorage(), "/bars/missing.png", 404),
        (MemoryStorage(), "/bars/a/%2E%2E/b.png", 400),
        (DownReads(), "/bars/a.png", 503),
    ],
)
def test_bar_errors(storage: MemoryStorage, path: str, code: int) -> None:
    client, _ = web_client(storage)
    assert client.get(path).status_code == code

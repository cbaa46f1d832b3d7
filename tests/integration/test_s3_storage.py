"""``S3Storage`` against a real HTTP server that records what it is sent.

What SeaweedFS cannot show: an endpoint with a path prefix, temporary credentials, a
proxy, and a store that fails once (the short road must hand the request to boto3,
whose retries then decide).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from worker.config import Settings
from worker.errors import StorageUnavailable
from worker.storage.s3 import S3Storage

pytestmark = pytest.mark.integration


@dataclass
class Recorder:
    """Answers every request with the next planned status (then 200); keeps what came."""

    plan: list[int] = field(default_factory=list)
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.plan.pop(0) if self.plan else 200


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            recorder.seen.append((self.command, self.path, dict(self.headers.items())))
            status = recorder.next_status()
            body = b"hello" if status == 200 and self.command == "GET" else b""
            self.send_response(status)
            self.send_header("ETag", '"abc"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = _answer  # noqa: N815  (http.server names them so)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", recorder
    finally:
        httpd.shutdown()
        httpd.server_close()


def _storage(endpoint: str, **extra: object) -> S3Storage:
    settings = Settings(
        s3_endpoint=endpoint, access_key="AKIDEXAMPLE", secret_key="secret", s3_timeout=2.0
    )
    return S3Storage(settings.with_overrides(**extra))


def test_an_endpoint_path_prefix_is_kept(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    storage = _storage(url + "/s3")
    assert storage.get("images", "cats/a b.jpg") == b"hello"
    storage.put("palettes", "cats/a b.jpg.json", b"{}", "application/json")
    assert [(m, p) for m, p, _ in recorder.seen] == [
        ("GET", "/s3/images/cats/a%20b.jpg"),
        ("PUT", "/s3/palettes/cats/a%20b.jpg.json"),
    ]
    storage.close()


def test_a_session_token_is_sent_and_signed(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    storage = _storage(url, session_token="TOKEN-123")
    storage.head("images", "a.jpg")
    _, _, headers = recorder.seen[0]
    assert headers["X-Amz-Security-Token"] == "TOKEN-123"
    assert "x-amz-security-token" in headers["Authorization"]
    storage.close()


def test_a_failed_attempt_goes_to_boto3_which_retries(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    recorder.plan = [503, 503]  # the short road's attempt, then boto3's first
    storage = _storage(url)
    assert storage.get("images", "a.jpg") == b"hello"
    assert len(recorder.seen) == 3
    storage.close()


def test_a_store_that_keeps_failing_is_unavailable(server: tuple[str, Recorder]) -> None:
    url, recorder = server
    recorder.plan = [500] * 10
    storage = _storage(url)
    with pytest.raises(StorageUnavailable):
        storage.put("palettes", "a.json", b"{}", "application/json")
    storage.close()


def test_a_proxy_takes_every_request(
    server: tuple[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set, requests go to the proxy (here the recorder itself)."""
    url, recorder = server
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    storage = _storage("http://store.invalid:9000")
    assert storage.get("images", "a.jpg") == b"hello"
    method, path, _ = recorder.seen[0]
    assert (method, path) == ("GET", "http://store.invalid:9000/images/a.jpg")
    storage.close()

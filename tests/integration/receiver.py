"""A callback receiver for the tests: a real HTTP server that checks every signature.

It plays the web app behind ``PALETTE_CALLBACK_URL``: each POST is verified with
``worker.signing.verify`` (a bad one is answered 400 and counted), and kept by the key
of the result it carries. ``fail_first[key] = n`` answers 503 to the first n deliveries
of that key, as a receiver that is briefly down would.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from worker.signing import SignatureError, verify

SECRET = "test-callback-secret-0123456789"


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]
    received_at: float


class CallbackReceiver:
    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.deliveries: dict[str, list[Delivery]] = {}
        self.attempts: dict[str, int] = {}
        self.refused = 0
        self.fail_first: dict[str, int] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/palette-hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, key: str, count: int = 1, timeout: float = 45.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                got = list(self.deliveries.get(key, []))
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{count} callback(s) for {key!r} not received in {timeout} s")

    def _receive(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            verify(self.secret, body, headers.get("palette-signature"))
        except SignatureError:
            with self._lock:
                self.refused += 1
            return 400
        key = str(json.loads(body).get("source", {}).get("key", ""))
        with self._lock:
            self.attempts[key] = self.attempts.get(key, 0) + 1
            if self.attempts[key] <= self.fail_first.get(key, 0):
                return 503
            self.deliveries.setdefault(key, []).append(Delivery(body, headers, time.time()))
        return 204

    def _handler(self) -> Any:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                self.send_response(receiver._receive(body, headers))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

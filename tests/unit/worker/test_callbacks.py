"""Callback delivery without a network: httpx's MockTransport plays the receiver, and
the Celery task runs eagerly (``apply``), retries included."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from worker import callbacks
from worker.celery_app import make_celery
from worker.config import Settings
from worker.signing import verify

SECRET = "0123456789abcdef-secret"
URL = "http://receiver.test/palettes"
BODY = b'{"status": "done", "source": {"key": "a.jpg"}}\n'


def client(handler: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_a_delivery_is_the_stored_bytes_signed() -> None:
    seen: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    assert callbacks.post(client(receiver), URL, SECRET, BODY) == 204
    [request] = seen
    assert (request.method, str(request.url), request.content) == ("POST", URL, BODY)
    assert request.headers["content-type"] == "application/json"
    assert verify(SECRET, request.content, request.headers["palette-signature"])
    assert request.headers["palette-delivery"] == callbacks.delivery_id(BODY)


@pytest.mark.parametrize("status", [301, 400, 410, 429, 500, 503])
def test_anything_but_2xx_is_a_failed_attempt(status: int) -> None:
    with pytest.raises(callbacks.CallbackFailed, match=f"HTTP {status}"):
        callbacks.post(client(lambda r: httpx.Response(status)), URL, SECRET, BODY)


@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
def test_connection_errors_and_timeouts_are_failed_attempts(error: type[Exception]) -> None:
    def receiver(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)  # type: ignore[call-arg]

    with pytest.raises(callbacks.CallbackFailed, match=error.__name__):
        callbacks.post(client(receiver), URL, SECRET, BODY)


def test_the_delivery_id_is_stable_per_result() -> None:
    assert callbacks.delivery_id(BODY) == callbacks.delivery_id(bytes(BODY))
    assert callbacks.delivery_id(BODY) != callbacks.delivery_id(BODY + b" ")


class Harness:
    """The task on an eager app, its HTTP client replaced by a scripted receiver."""

    def __init__(self, answers: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
        settings = Settings.from_env(
            {"PALETTE_CALLBACK_URL": URL, "PALETTE_CALLBACK_SECRET": SECRET}
        )
        self.app = make_celery(settings)
        self.app.conf.task_always_eager = True
        self.dead: list[tuple[dict[str, Any], str]] = []
        self.attempts = 0
        self.answers = answers

        def receiver(request: httpx.Request) -> httpx.Response:
            self.attempts += 1
            verify(SECRET, request.content, request.headers["palette-signature"])
            return httpx.Response(self.answers.pop(0) if self.answers else 500)

        monkeypatch.setattr(callbacks, "http_client", lambda: client(receiver))
        self.task = callbacks.register(self.app, settings, lambda e, r: self.dead.append((e, r)))

    def run(self) -> Any:
        return self.task.apply(kwargs={"body": BODY.decode(), "key": "a.jpg"}).result


def test_failed_attempts_are_retried_until_one_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    harness = Harness([503, 500, 200], monkeypatch)
    assert harness.run() == {"key": "a.jpg", "status": "delivered", "attempts": 3}
    assert harness.dead == []


def test_a_receiver_that_never_answers_2xx_ends_in_the_dead_letters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness = Harness([], monkeypatch)
    result = harness.run()
    assert result["status"] == "dead"
    assert harness.attempts == callbacks.MAX_ATTEMPTS
    [(entry, reason)] = harness.dead
    assert reason == "callback_failed"
    assert entry == {"task": "palette.callback", "key": "a.jpg", "body": BODY.decode()}


def test_nothing_is_queued_without_a_callback_url() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.sent: list[Any] = []

        def send_task(self, *args: Any, **kwargs: Any) -> None:
            self.sent.append((args, kwargs))

    app = Recorder()
    callbacks.send(app, Settings(), BODY, "a.jpg")
    assert app.sent == []
    on = Settings(callback_url=URL, callback_secret=SECRET)
    callbacks.send(app, on, BODY, "a.jpg")
    [(args, kwargs)] = app.sent
    assert args == ("palette.callback",)
    assert kwargs["queue"] == "palette-callbacks"
    assert kwargs["kwargs"] == {"body": BODY.decode(), "key": "a.jpg"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PALETTE_CALLBACK_URL": URL}, "PALETTE_CALLBACK_SECRET"),
        ({"PALETTE_CALLBACK_URL": URL, "PALETTE_CALLBACK_SECRET": "short"}, "16 characters"),
        ({"PALETTE_CALLBACK_URL": "ftp://x", "PALETTE_CALLBACK_SECRET": SECRET}, "http"),
    ],
)
def test_a_callback_url_needs_a_real_secret_and_http(env: dict[str, str], message: str) -> None:
    from worker.errors import InvalidOptions

    with pytest.raises(InvalidOptions, match=message):
        Settings.from_env(env)


def test_the_secret_never_shows_in_the_settings_repr() -> None:
    shown = repr(Settings(callback_url=URL, callback_secret=SECRET))
    assert SECRET not in shown
    assert URL in shown

"""The broker URL's password never reaches a log line, a status line or a repr."""

from __future__ import annotations

import logging

import pytest

from worker.redact import RedactingFormatter, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:hunter2@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://user:hunter2@h/1", "redis://user:***@h/1"),
        ("rediss://:p%40ss@h:6380/0", "rediss://:***@h:6380/0"),
        ("redis://h/0?password=hunter2&db=1", "redis://h/0?password=***&db=1"),
    ],
)
def test_urls_lose_their_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_free_text_loses_every_password() -> None:
    text = "Cannot connect to redis://:hunter2@redis:6379/0 (also amqp://u:pw2@mq//, password=x1)"
    shown = redact_text(text)
    assert not any(secret in shown for secret in ("hunter2", "pw2", "x1"))
    assert "redis://:***@redis:6379/0" in shown


def test_log_lines_and_tracebacks_are_redacted() -> None:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "broker %s down", None, None)
    record.args = ("redis://:hunter2@redis:6379/0",)
    try:
        raise ConnectionError("Error connecting to redis://:hunter3@redis:6379/0")
    except ConnectionError:
        import sys

        record.exc_info = sys.exc_info()
    line = RedactingFormatter("%(message)s").format(record)
    assert "hunter2" not in line
    assert "hunter3" not in line
    assert "redis://:***@redis:6379/0" in line

"""Secrets out of everything a person or a log collector reads.

The broker URL carries Redis's password (``redis://:<password>@host:6379/0``), so it is
a secret like the S3 key: ``redact_url`` is what ``palette stack status``, error lines
and ``Settings``'s repr show, and ``RedactingFormatter`` masks any URL credentials that
reach a log line (a library's exception text included) in the worker, the beat and the
api_stub, which install it through ``configure_logging``.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):[^@/\s]*@")
"""``scheme://user:password@``: the password part, wherever it appears in a text."""

_SECRET_QUERY = re.compile(r"(?i)\b(password|pass|secret|token)=[^&\s'\"]+")
"""redis-py also reads ``?password=…`` from the URL's query."""


def redact_url(url: str) -> str:
    """The URL with its password (userinfo or ``?password=``) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        netloc = f"{user}:{MASK}@{netloc.rpartition('@')[2]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _is_secret(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _is_secret(name: str) -> bool:
    return name.lower() in {"password", "pass", "secret", "token"}


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` and ``password=…`` in free text, masked."""
    text = _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={MASK}", text)


class RedactingFormatter(logging.Formatter):
    """A formatter whose output (message, arguments and traceback) never holds a password."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int | str = logging.INFO, fmt: str = LOG_FORMAT) -> None:
    """``logging.basicConfig`` whose handlers redact: every process's composition root."""
    logging.basicConfig(level=level, format=fmt)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(RedactingFormatter(fmt))

"""Conditional GETs for results and bars: ``ETag``, ``Cache-Control``, ``If-None-Match``.

A result can change under the same URL (the image is uploaded again), so clients may
keep it but must ask before reusing it (``no-cache``); the question is cheap, because an
unchanged result answers 304 with no body. ``private``: results sit behind a token
beyond loopback, and no shared cache should keep them. The tag is a hash of the exact
bytes served, so it is the same on every api_stub replica and for every store.
"""

from __future__ import annotations

import hashlib

from fastapi.responses import Response

REVALIDATE = "private, no-cache"
"""Cache-Control of results and bars: keep, but revalidate before each use."""
NEVER_STORE = "no-store"
"""Cache-Control of answers that only say "not yet" or "not there"."""


def entity_tag(body: bytes) -> str:
    """A strong validator for ``body``: 128 bits of BLAKE2b, quoted."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison of ``If-None-Match`` against ``etag``: ``*`` or any
    listed tag equal to it once ``W/`` is dropped."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def cached(body: bytes, media_type: str, if_none_match: str | None) -> Response:
    """200 with ``body``, or 304 when the client already holds exactly these bytes."""
    etag = entity_tag(body)
    headers = {"ETag": etag, "Cache-Control": REVALIDATE}
    if matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)

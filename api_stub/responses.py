"""The ``{"status": …}`` body every refusal and not-ready answer shares, defined once.

Both route modules (``api_stub.app``: events, results, health; ``api_stub.web``: the
page, uploads, gallery, bars) answer in this shape, so it lives below both: one
``StatusBody`` keeps the OpenAPI document to one schema for every such body, and
``status_response`` is the one way to build it.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

RETRY_AFTER_S = "5"
"""``Retry-After`` of every 503: a store or broker outage is worth asking again soon."""


class StatusBody(BaseModel):
    status: str
    key: str | None = None
    detail: str | None = None


def status_response(
    code: int, status: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """``{"status": status, **extra}`` with HTTP ``code``; ``status`` is a stable code."""
    return JSONResponse({"status": status, **extra}, status_code=code, headers=headers)

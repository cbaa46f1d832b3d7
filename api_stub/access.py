"""Who may use the api_stub's client routes: everyone on loopback, the token's holder
beyond it.

Uploads (``POST /uploads``), the listing (``GET /palettes``), results
(``GET /palettes/{key}``), bars and other files (``GET /bars/{key}``,
``GET /files/{name}/{key}``) and ``GET /metrics`` answer anyone when the server listens
on a loopback address, as the demo and the page always did; on any other address
(``0.0.0.0`` in a container, a LAN address, a pod IP) they answer only
``Authorization: Bearer $PALETTE_API_TOKEN`` and everyone else gets a 401
``{"status": "unauthorized"}``. ``PALETTE_API_REQUIRE_TOKEN=1`` demands the token on
loopback too (a shared machine, a reverse proxy in front). ``POST /events`` keeps its
own token (``PALETTE_WEBHOOK_TOKEN``): the store holds that one, clients this one.

A server that would guard its routes without a token to check refuses to start
(``ApiAccess.startup_problem``): "every request is a 401" is a broken deployment, not
a safe one. The page itself (``GET /``, ``/static``), ``/healthz`` and
``/openapi.json`` stay open: they reveal no image, key or result.

The OpenAPI document tells the truth about the running server: the guarded routes
carry the ``ApiToken`` bearer scheme and a documented 401 only when they are guarded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer

from api_stub.responses import status_response
from worker.bearer import ENV_REQUIRE, ENV_TOKEN, BearerCheck, bearer_check, is_loopback, truthy

SCHEME = HTTPBearer(auto_error=False, scheme_name="ApiToken", description=ENV_TOKEN)
"""Documents the scheme only; the check itself is ``bearer_check`` (constant time)."""

UNAUTHORIZED_DOC = {
    "description": f"Listening beyond loopback (or {ENV_REQUIRE}=1), and no valid "
    f"Authorization: Bearer ${ENV_TOKEN}.",
    "content": {"application/json": {}},
}


class Unauthorized(Exception):
    """A guarded route was asked without the token; answered 401 by ``install``."""


@dataclass(frozen=True)
class ApiAccess:
    """Where the server listens, the token it accepts, and whether loopback needs it."""

    bind_host: str
    token: str | None = None
    require: bool = False

    @classmethod
    def from_env(cls, bind_host: str, env: Mapping[str, str]) -> ApiAccess:
        return cls(bind_host, env.get(ENV_TOKEN) or None, truthy(env.get(ENV_REQUIRE)))

    @property
    def open(self) -> bool:
        """True when the client routes answer without a token (loopback, not forced)."""
        return not self.require and is_loopback(self.bind_host)

    def startup_problem(self) -> str | None:
        """Why the server must not start (guarded, but no token to accept), else None."""
        if self.open or self.token:
            return None
        why = f"{ENV_REQUIRE}=1" if self.require else f"listening on {self.bind_host}"
        return (
            f"{why} requires {ENV_TOKEN}: set it to a random secret "
            "(e.g. openssl rand -hex 24), or bind to 127.0.0.1"
        )

    def check(self) -> BearerCheck | None:
        """None when open; else a constant-time bearer check (no token: rejects all)."""
        return None if self.open else bearer_check(self.token)

    def dependencies(self) -> list[Any]:
        """The route dependencies that enforce (and document) the token; [] when open."""
        check = self.check()
        if check is None:
            return []

        def require_token(request: Request) -> None:
            if not check(request.headers.get("authorization")):
                raise Unauthorized

        return [Security(SCHEME), Depends(require_token)]

    def responses(self) -> dict[int | str, dict[str, Any]]:
        """The 401 to document on a guarded route; {} when open."""
        return {} if self.open else {401: UNAUTHORIZED_DOC}


def unauthorized() -> JSONResponse:
    """The one 401 body of every guarded route (and ``/events``, ``/metrics``)."""
    return status_response(401, "unauthorized", {"WWW-Authenticate": "Bearer"})


def install(app: FastAPI) -> None:
    """Answer ``Unauthorized`` raised by a route's dependency with the 401 above."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return unauthorized()

    app.add_exception_handler(Unauthorized, handler)

"""The web page and the three routes it needs: presigned uploads, bars and a gallery.

The browser never sends image bytes through the api_stub: it asks ``POST /uploads`` for
a presigned POST policy and posts the file straight to the input bucket, so the upload
raises the same storage event as any other client's. The store itself bounds the upload
(a presigned PUT could bound nothing but the key and the expiry): the policy allows
1..``PALETTE_MAX_BYTES`` bytes, a ``Content-Type`` starting ``image/``, this one key,
for ``UPLOAD_EXPIRES_S``; S3, MinIO and SeaweedFS refuse anything else and store
nothing. Everything else the page shows
comes from the output bucket through this process (same origin, no bucket CORS for
reads)::

    GET  /                  200 the page (text/html)
    GET  /static/…          its CSS and JS
    POST /uploads           201 {key, url, method: POST, fields, max_bytes, expires_in,
                                 palette_url}: post ``fields`` then ``file`` as a form
                            · 422 bad name, type, size (over PALETTE_MAX_BYTES) or k
                            · 503 no credentials to sign with
    GET  /palettes          200 {items, next_cursor} newest first · 422 bad cursor · 503
    GET  /bars/{key}        200 the bar PNG (ETag) · 304 · 400 bad key · 404 no bar · 503
    GET  /files/{name}/{key} 200 any file of a result by its ``worker.outputs`` name
                            (``bar``, ...), same answers as /bars; 404 unknown name

An upload may ask for k (1–32 or ``auto``): the policy then carries the field
``x-amz-meta-palette-k`` with an exact-match condition, so the stored object has that
user metadata (``worker.upload_options``) and the browser cannot post another value.

Each gallery item of a done result carries ``image_url``, a presigned GET of the source
image for ``PREVIEW_EXPIRES_S``: the page shows it as the card's thumbnail. Only
``/palettes`` hands these out, so they need the same credential as every other route;
none is signed for an image over ``PREVIEW_MAX_BYTES`` or of a type browsers do not show.

The upload URL points at ``s3_public_endpoint`` when the settings have one (the address
a browser can reach, e.g. behind a proxy or from another host), else ``s3_endpoint``.

Beyond loopback every route here but the page needs ``PALETTE_API_TOKEN``
(``api_stub.access``); the page asks for it on its first 401 and keeps it in the tab's
``sessionStorage``.
"""

from __future__ import annotations

import bisect
import re
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Header, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, create_model

from api_stub.access import ApiAccess
from api_stub.caching import cached
from api_stub.responses import RETRY_AFTER_S, StatusBody, status_response
from worker.config import Settings
from worker.errors import SourceMissing, StorageUnavailable
from worker.jobs import unsafe_key_reason
from worker.outputs import BAR, PALETTE_JSON, Output, files
from worker.storage import ObjectInfo, Storage, get_json, s3_client
from worker.upload_options import metadata_for

STATIC_DIR = Path(__file__).resolve().parent / "static"

UPLOAD_PREFIX = "uploads/"
"""Browser uploads land under ``uploads/<uuid>/``: unguessable, never overwrite each other."""

UPLOAD_EXPIRES_S = 300
"""Long enough for a slow 50 MB upload to start; short enough that a leaked policy dies
soon (the issue's bound: at most 5 minutes)."""

CONTENT_TYPES: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/tiff": ".tif",
    "image/bmp": ".bmp",
    "image/avif": ".avif",
}
"""What the page may upload (the worker's allow-list) and the extension a bare name gets."""

ContentType = Literal[
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff", "image/bmp", "image/avif"
]

PREVIEW_EXPIRES_S = 600
"""A gallery's thumbnail URLs outlive a slow scroll through it, and little more."""

PREVIEW_MAX_BYTES = 8 * 1024 * 1024
"""Larger images get no thumbnail: a page of twelve must not pull hundreds of MB."""

PREVIEW_TYPES: dict[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "AVIF": "image/avif",
}
"""Formats browsers show (Pillow's names, as results record them) → the type to serve."""

MAX_K = 32

MAX_FILENAME_CHARS = 100
GALLERY_TTL_S = 5.0
"""The gallery's listing of the output bucket is reused this long (see ``ResultIndex``)."""

GALLERY_MAX_LIMIT = 50


KEY_PATTERN = r"^(?!/)(?!.*//)(?!.*/$)(?!(?:.*/)?\.{1,2}(?:/|$))[^\x00-\x1f\x7f]+$"
"""``unsafe_key_reason`` as a schema: no control character, no empty, ``.`` or ``..``
segment."""

KEY_MAX_CHARS = 254
"""Any 254 characters fit the 1019 UTF-8 bytes a key may have (longer ASCII keys work too)."""


def key_parameter() -> Any:
    """The ``{key}`` path parameter as documented; the route itself still checks it (400).

    ``json_schema_extra``, not ``pattern=``: FastAPI would answer 422 on its own, and the
    400 ``invalid_key`` with its reason is the contract clients already rely on.
    """
    return PathParam(
        description="The image's key in the input bucket, as is (slashes included).",
        json_schema_extra={"pattern": KEY_PATTERN, "maxLength": KEY_MAX_CHARS},
    )


class PostPolicy(BaseModel):
    """A signed S3 POST policy: where to post, and the form fields to send first."""

    url: str
    fields: dict[str, str]


class Presigner(Protocol):
    """Signs a POST policy the browser can use without credentials."""

    def presigned_post(
        self,
        bucket: str,
        key: str,
        content_type: str,
        max_bytes: int,
        expires: int,
        metadata: Mapping[str, str] | None = None,
    ) -> PostPolicy: ...

    def presigned_get(self, bucket: str, key: str, content_type: str, expires: int) -> str: ...


class UploadRequest(BaseModel):
    """What the page sends; ``upload_request_model`` adds this deployment's byte limit."""

    filename: str = Field(
        min_length=1, max_length=255, strict=True, description="The file's own name."
    )
    content_type: ContentType = Field(description="The form's Content-Type field.")
    size: int | None = Field(default=None, ge=0, strict=True, description="Bytes, if known.")
    k: Annotated[int, Field(ge=1, le=MAX_K, strict=True)] | Literal["auto"] | None = Field(
        default=None,
        description="Colours wanted (1-32, or auto); none: the deployment's default.",
    )


def upload_request_model(max_bytes: int) -> type[UploadRequest]:
    """``UploadRequest`` whose ``size`` has ``maximum: max_bytes`` in the schema.

    The limit is a setting, so it is part of the document only if the model is built per
    app; an over-limit size is then a 422 like any other invalid field, refused before
    anything is signed (the policy's content-length-range then holds the real bytes to it).
    """
    description = f"Bytes, if known; at most {max_bytes} (PALETTE_MAX_BYTES)."
    return create_model(
        "UploadRequest",
        __base__=UploadRequest,
        size=(
            int | None,
            Field(default=None, ge=0, le=max_bytes, strict=True, description=description),
        ),
    )


class UploadTicket(BaseModel):
    key: str = Field(description="The input-bucket key the file will have.")
    url: str = Field(description="Where to POST the multipart form, for expires_in seconds.")
    method: Literal["POST"]
    fields: dict[str, str] = Field(
        description="Form fields to send, in any order, before the file field (named file)."
    )
    max_bytes: int = Field(description="The largest file the store will accept.")
    expires_in: int
    palette_url: str = Field(description="Where to poll for the result.")


class GalleryItem(BaseModel):
    key: str
    last_modified: str | None
    status: str
    colors: list[dict[str, Any]]
    error: dict[str, Any] | None = None
    bar_url: str | None = None
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Every file of a done result (worker.outputs), by name: its /files URL.",
    )
    image_url: str | None = Field(
        default=None, description="Presigned GET of the source image (a thumbnail), if shown."
    )
    k_requested: int | str | None = None
    palette_url: str


class GalleryPage(BaseModel):
    items: list[GalleryItem]
    next_cursor: str | None = None


def add_web_routes(
    app: FastAPI,
    settings: Settings,
    storage: Storage,
    presigner: Presigner | None = None,
    access: ApiAccess | None = None,
) -> None:
    """Mount the page and its routes; the presigner defaults to a lazy boto3 one, access
    to open (loopback)."""
    presigner = presigner if presigner is not None else S3Presigner(settings)
    access = access if access is not None else ApiAccess("127.0.0.1")
    index = ResultIndex(storage, settings.output_bucket)
    _add_page(app, settings)
    _add_upload_route(app, settings, presigner, access)
    previews = Previews(presigner, settings.input_bucket)
    _add_gallery_route(app, index, storage, settings.output_bucket, access, previews)
    _add_bar_route(app, storage, settings.output_bucket, access)
    _add_file_route(app, storage, settings.output_bucket, access)


# --- the page --------------------------------------------------------------------------


def public_s3_endpoint(settings: Settings) -> str | None:
    """The S3 address browsers use, which may differ from the one services use."""
    return settings.s3_public_endpoint or settings.s3_endpoint


def content_security_policy(settings: Settings) -> str:
    """Scripts and styles from us only; the page may talk to us and to the upload endpoint."""
    endpoint = public_s3_endpoint(settings)
    if endpoint:
        parts = urlsplit(endpoint)
        s3_origin = f"{parts.scheme}://{parts.netloc}"
    else:
        s3_origin = "https://*.amazonaws.com"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' blob: data: {s3_origin}; "
        f"connect-src 'self' {s3_origin}; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def _add_page(app: FastAPI, settings: Settings) -> None:
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get(
        "/",
        response_class=FileResponse,
        responses={200: {"content": {"text/html": {}}, "description": "The web page."}},
    )
    def page() -> FileResponse:
        """Upload images, watch their palettes appear, browse recent results."""
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=headers)


# --- uploads ---------------------------------------------------------------------------


class S3Presigner:
    """boto3 SigV4 presigning against the public endpoint; the client is built on first use.

    A POST policy, not a presigned PUT: the policy's conditions are checked by the store
    against the bytes actually sent (``content-length-range``), where a PUT URL signs
    only the key, the expiry and whatever headers the client promises.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Any = None
        self._lock = threading.Lock()

    def presigned_post(
        self,
        bucket: str,
        key: str,
        content_type: str,
        max_bytes: int,
        expires: int,
        metadata: Mapping[str, str] | None = None,
    ) -> PostPolicy:
        fields = policy_fields(content_type, metadata or {})
        signed = self._get_client().generate_presigned_post(
            bucket,
            key,  # boto3 adds {"key": key} and {"bucket": bucket} to the conditions
            Fields=fields,
            Conditions=policy_conditions(max_bytes, fields),
            ExpiresIn=expires,
        )
        return PostPolicy(url=signed["url"], fields=dict(signed["fields"]))

    def presigned_get(self, bucket: str, key: str, content_type: str, expires: int) -> str:
        """A GET of one object for ``expires`` seconds, served as ``content_type``."""
        params = {"Bucket": bucket, "Key": key, "ResponseContentType": content_type}
        url: str = self._get_client().generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires
        )
        return url

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self) -> Any:
        return s3_client(self._settings, endpoint=public_s3_endpoint(self._settings))


def policy_fields(content_type: str, metadata: Mapping[str, str]) -> dict[str, str]:
    """The form fields the browser posts: the type and any ``x-amz-meta-*`` options."""
    return {"Content-Type": content_type} | {f"x-amz-meta-{n}": v for n, v in metadata.items()}


def policy_conditions(max_bytes: int, fields: Mapping[str, str] | None = None) -> list[Any]:
    """What the store checks besides bucket, key and expiry: size, type, and each
    metadata field exactly as signed (a form field without a condition is refused, and
    an exact one stops the browser from changing the value)."""
    exact = [{name: value} for name, value in (fields or {}).items() if name != "Content-Type"]
    return [
        ["content-length-range", 1, max_bytes],
        ["starts-with", "$Content-Type", "image/"],
        *exact,
    ]


def safe_filename(name: str, content_type: str) -> str:
    """An ASCII name that is one harmless path segment, with a telling extension.

    Browsers send the bare name, but other clients may send paths or names that are all
    dots; the key must never gain a ``..`` segment, a control character or a slash.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    if not re.fullmatch(r"[A-Za-z0-9]{1,5}", ext):
        ext = CONTENT_TYPES[content_type].lstrip(".")
    stem = _ascii_slug(stem)[: MAX_FILENAME_CHARS - len(ext) - 1].rstrip(".-_") or "image"
    return f"{stem}.{ext}"


def _ascii_slug(text: str) -> str:
    """Accents folded, runs of anything else turned into one ``-``, no leading dots."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-_")


def upload_key(filename: str, content_type: str) -> str:
    return f"{UPLOAD_PREFIX}{uuid.uuid4().hex}/{safe_filename(filename, content_type)}"


def _add_upload_route(
    app: FastAPI,
    settings: Settings,
    presigner: Presigner,
    access: ApiAccess,
) -> None:
    responses: dict[int | str, dict[str, Any]] = {
        201: {"model": UploadTicket, "description": "POST fields, then the file, to url."},
        413: {"model": StatusBody, "description": "Request body over 16 KiB."},
        503: {"model": StatusBody, "description": "No credentials to sign with."},
        **access.responses(),
    }

    def create_upload(request: UploadRequest) -> Any:
        """A presigned POST policy into the input bucket under a fresh ``uploads/<uuid>/``
        key: 1..max_bytes bytes, an ``image/`` type, this key, for expires_in seconds."""
        key = upload_key(request.filename, request.content_type)
        try:
            policy = presigner.presigned_post(
                settings.input_bucket,
                key,
                request.content_type,
                settings.max_bytes,
                UPLOAD_EXPIRES_S,
                metadata_for(request.k),
            )
        except Exception as exc:  # botocore's NoCredentialsError and friends
            return status_response(
                503, "cannot_sign", {"Retry-After": RETRY_AFTER_S}, detail=_name(exc)
            )
        ticket = UploadTicket(
            key=key,
            url=policy.url,
            method="POST",
            fields=policy.fields,
            max_bytes=settings.max_bytes,
            expires_in=UPLOAD_EXPIRES_S,
            palette_url=f"/palettes/{quote(key)}",
        )
        return JSONResponse(ticket.model_dump(), status_code=201)

    # The body model is built at run time, so the annotation is set here, not written.
    create_upload.__annotations__["request"] = upload_request_model(settings.max_bytes)
    app.post(
        "/uploads",
        status_code=201,
        responses=responses,
        response_model=None,
        dependencies=access.dependencies(),
    )(create_upload)


def _name(exc: Exception) -> str:
    """The exception's type only: a signing error's text may quote configuration."""
    return type(exc).__name__


# --- gallery ---------------------------------------------------------------------------


Position = tuple[int, str]
"""(-LastModified in microseconds, object key): ascending is newest first, ties by key."""

CURSOR_PATTERN = r"^[0-9]{1,20}:"
"""``<LastModified in µs since the epoch>:<object key>`` of the last item of a page.

Transparent on purpose: every string of this shape is a valid position (the key need
not exist), so a cursor can never be "foreign", only out of date, and the schema says
exactly what the server accepts.
"""


class ResultIndex:
    """The output bucket's result JSONs, newest first, listed at most once per ``ttl``.

    S3 lists keys in lexical order only, so "newest first" means listing the whole
    bucket: ceil(N / 1000) LIST requests and O(N) memory per refresh. The refresh is
    shared by every page and every client for ``ttl`` seconds, and cursors are keyset
    positions (time, key), so paging stays consistent across refreshes. Past ~10^5
    results, keep a time-ordered index instead (see infra/aws/README.md).
    """

    def __init__(
        self,
        storage: Storage,
        bucket: str,
        ttl: float = GALLERY_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._storage, self._bucket, self._ttl, self._clock = storage, bucket, ttl, clock
        self._lock = threading.Lock()
        self._entries: list[ObjectInfo] = []
        self._positions: list[Position] = []
        self._listed_at: float | None = None

    def page(self, limit: int, after: Position | None) -> tuple[list[ObjectInfo], bool]:
        """Up to ``limit`` results after the cursor position, and whether more follow."""
        entries, positions = self._current()
        start = 0 if after is None else bisect.bisect_right(positions, after)
        return entries[start : start + limit], start + limit < len(entries)

    def _current(self) -> tuple[list[ObjectInfo], list[Position]]:
        with self._lock:
            now = self._clock()
            if self._listed_at is None or now - self._listed_at >= self._ttl:
                results = self._storage.list(self._bucket)
                listed = [i for i in results if i.key.endswith(PALETTE_JSON.suffix)]
                listed.sort(key=position)
                self._entries, self._positions = listed, [position(i) for i in listed]
                self._listed_at = now
            return self._entries, self._positions


def position(info: ObjectInfo) -> Position:
    moment = info.last_modified
    micros = 0 if moment is None else round(moment.timestamp() * 1_000_000)
    return (-micros, info.key)


def encode_cursor(at: Position) -> str:
    return f"{-at[0]}:{at[1]}"


def decode_cursor(cursor: str) -> Position | None:
    """The position a cursor names, or None when it does not have the documented shape."""
    micros, sep, key = cursor.partition(":")
    if not sep or not re.fullmatch(r"[0-9]{1,20}", micros):
        return None
    return (-int(micros), key)


class Previews:
    """Thumbnail URLs for gallery cards: presigned GETs of the source images."""

    def __init__(self, presigner: Presigner, bucket: str) -> None:
        self._presigner, self._bucket = presigner, bucket

    def url(self, key: str, document: Mapping[str, Any]) -> str | None:
        """A presigned GET of a done result's image if browsers can show it and it is at
        most ``PREVIEW_MAX_BYTES``; else (or if signing fails) None: "no preview"."""
        source = document.get("source")
        if document.get("status") != "done" or not isinstance(source, dict):
            return None
        size, kind = source.get("size"), PREVIEW_TYPES.get(str(source.get("format")))
        if kind is None or not isinstance(size, int) or size > PREVIEW_MAX_BYTES:
            return None
        try:
            return self._presigner.presigned_get(self._bucket, key, kind, PREVIEW_EXPIRES_S)
        except Exception:  # no credentials: the card shows no thumbnail, the rest works
            return None


def gallery_item(
    info: ObjectInfo, document: dict[str, Any], image_url: str | None = None
) -> GalleryItem:
    """What a gallery card needs, and nothing heavier (no timings, no provenance)."""
    key = info.key.removesuffix(PALETTE_JSON.suffix)
    status = str(document.get("status", "unknown"))
    colors = document.get("colors")
    error = document.get("error")
    moment = info.last_modified
    return GalleryItem(
        key=key,
        last_modified=moment.astimezone(UTC).isoformat() if moment else None,
        status=status,
        colors=[_swatch(c) for c in colors if isinstance(c, dict)]
        if isinstance(colors, list)
        else [],
        error=error if isinstance(error, dict) else None,
        bar_url=f"/bars/{quote(key)}" if status == "done" else None,
        files={o.name: f"/files/{o.name}/{quote(key)}" for o in files() if status == "done"},
        image_url=image_url,
        k_requested=_k_requested(document),
        palette_url=f"/palettes/{quote(key)}",
    )


def _k_requested(document: Mapping[str, Any]) -> int | str | None:
    quality = document.get("quality")
    k = quality.get("k_requested") if isinstance(quality, dict) else None
    return k if isinstance(k, int | str) and not isinstance(k, bool) else None


_SWATCH_FIELDS = ("hex", "rgb", "proportion", "name", "text")


def _swatch(color: dict[str, Any]) -> dict[str, Any]:
    return {name: color[name] for name in _SWATCH_FIELDS if name in color}


def _add_gallery_route(
    app: FastAPI,
    index: ResultIndex,
    storage: Storage,
    output_bucket: str,
    access: ApiAccess,
    previews: Previews,
) -> None:
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": GalleryPage, "description": "Recent results, newest first."},
        503: {"model": StatusBody, "description": "Storage unavailable."},
        **access.responses(),
    }

    @app.get(
        "/palettes", responses=responses, response_model=None, dependencies=access.dependencies()
    )
    def gallery(
        limit: Annotated[int, Query(ge=1, le=GALLERY_MAX_LIMIT)] = 12,
        cursor: Annotated[
            str | None,
            Query(
                pattern=CURSOR_PATTERN,
                max_length=2048,
                description="next_cursor of the previous page: <µs since epoch>:<key>.",
            ),
        ] = None,
    ) -> Any:
        """Recent results, newest first; pass ``next_cursor`` back for the next page.

        Cost: one listing of the output bucket per few seconds (shared) plus one GET per
        item returned.
        """
        after = decode_cursor(cursor) if cursor else None
        try:
            infos, more = index.page(limit, after)
            items = _documents(storage, output_bucket, infos, previews)
        except StorageUnavailable:
            return status_response(503, "storage_unavailable", {"Retry-After": RETRY_AFTER_S})
        next_cursor = encode_cursor(position(infos[-1])) if more and infos else None
        page = GalleryPage(items=items, next_cursor=next_cursor)
        return JSONResponse(page.model_dump())


def _documents(
    storage: Storage, bucket: str, infos: list[ObjectInfo], previews: Previews
) -> list[GalleryItem]:
    """One GET per listed result (and a local signature for its thumbnail); one deleted
    since the listing is skipped."""
    items = []
    for info in infos:
        document = get_json(storage, bucket, info.key)
        if document is not None:
            image_url = previews.url(info.key.removesuffix(".json"), document)
            items.append(gallery_item(info, document, image_url))
    return items


# --- bars ------------------------------------------------------------------------------


def _add_bar_route(
    app: FastAPI,
    storage: Storage,
    output_bucket: str,
    access: ApiAccess,
) -> None:
    responses = _file_responses(
        {BAR.content_type: {}},
        "The 300x50 bar PNG, with an ETag.",
        "this bar",
        "No bar (no result yet, or a failed one).",
        access,
    )

    @app.get(
        "/bars/{key:path}",
        responses=responses,
        response_model=None,
        dependencies=access.dependencies(),
    )
    def bar(
        key: Annotated[str, key_parameter()],
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        """The bar PNG of ``s3://<input>/<key>``, from ``<output>/<key>.png``; with an
        ETag, so a page that shows it again asks with If-None-Match and gets a 304."""
        return _file(storage, output_bucket, BAR, key, if_none_match)


def _add_file_route(
    app: FastAPI,
    storage: Storage,
    output_bucket: str,
    access: ApiAccess,
) -> None:
    responses = _file_responses(
        {output.content_type: {} for output in files()},
        "The file as stored, with an ETag.",
        "this file",
        "No such output, or no such file (yet).",
        access,
    )

    @app.get(
        "/files/{name}/{key:path}",
        responses=responses,
        response_model=None,
        dependencies=access.dependencies(),
    )
    def file(
        name: str,
        key: Annotated[str, key_parameter()],
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        """Any file of the result of ``s3://<input>/<key>`` by its output name (the
        gallery's ``files``): what a new entry of ``worker.outputs`` is served by, with
        nothing added here. The JSON is not one of them: ``/palettes/{key}`` serves it,
        current or not at all."""
        output = next((o for o in files() if o.name == name), None)
        if output is None:
            return status_response(404, "not_found", key=key, detail=f"no output {name!r}")
        return _file(storage, output_bucket, output, key, if_none_match)


def _file_responses(
    content: dict[str, Any], found: str, this: str, missing: str, access: ApiAccess
) -> dict[int | str, dict[str, Any]]:
    """The answers of a route that serves one stored output file (``_file``)."""
    return {
        200: {"content": content, "description": found},
        304: {"description": f"If-None-Match names {this}: the client has it."},
        400: {"model": StatusBody, "description": "A key that can never name an image."},
        404: {"model": StatusBody, "description": missing},
        503: {"model": StatusBody, "description": "Storage unavailable."},
        **access.responses(),
    }


def _file(
    storage: Storage, bucket: str, output: Output, key: str, if_none_match: str | None
) -> Any:
    reason = unsafe_key_reason(key)
    if reason is not None:
        return status_response(400, "invalid_key", key=key, detail=reason)
    try:
        data = storage.get(bucket, output.key(key))
    except SourceMissing:
        return status_response(404, "not_found", key=key)
    except StorageUnavailable:
        return status_response(503, "storage_unavailable", {"Retry-After": RETRY_AFTER_S}, key=key)
    return cached(data, output.content_type, if_none_match)

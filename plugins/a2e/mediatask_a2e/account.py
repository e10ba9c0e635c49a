"""The A2E emulator's base: envelope, errors, auth, coins, presigned uploads and TTS.

:class:`A2EAccount` answers what is not a task family: ``GET /api/v1/user/remainingCoins``,
the presigned upload (``POST /api/v1/r2/upload-presigned-url`` or
``.../get_upload_presigned_url``, then ``PUT`` to the storage without ``Authorization``, then
``GET`` from the CDN URL), the synchronous ``POST /api/v1/video/send_tts`` and the avatar list
``GET /api/v1/anchor/character_list``. The storage lives on the same host under
``/storage/3days-apac/`` (no auth; files expire after 3 days on the emulator clock).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mediatask.emulator import Emulator, Faults, StoredFile, WorkError
from mediatask.plugin import UsageError
from mediatask_a2e import media
from mediatask_a2e.emulated import BadRequestError, iso

RETENTION_SECONDS = 3 * 24 * 3600.0
"""Results, uploads and records live 3 days."""
UPLOAD_PREFIX = "/storage/3days-apac/"
ANCHORS = ("65f1c0de0a2e000000000001", "65f1c0de0a2e000000000002")
"""The emulated system avatars (any 24-hex anchor id works, these are the listed ones)."""


def _faults() -> Faults:
    return Faults(result_ttl_seconds=RETENTION_SECONDS)


@attrs.define
class A2EAccount(Emulator):
    """What every A2E endpoint shares, and the endpoints that are not task families."""

    faults: Faults = attrs.field(factory=_faults)
    coins: int = 5000
    """The account's balance; every start call pays its price from it."""
    diamonds: int = 3
    error_mode: Literal["http4xx_spec", "http200_code"] = attrs.field(
        default="http4xx_spec", validator=attrs.validators.in_(("http4xx_spec", "http200_code"))
    )
    """How errors are answered (see :meth:`fail`)."""
    _stored: dict[str, StoredFile] = attrs.field(init=False, factory=dict)
    _grants: dict[str, tuple[str, float]] = attrs.field(init=False, factory=dict)

    def configure(self, option: str, value: str) -> None:
        """``error-style``: ``http4xx`` (errors as HTTP 4xx with the spec's body, the default)
        or ``http200`` (HTTP 200 with ``code != 0`` and ``msg``, as third-party clients see)."""
        if option != "error-style":
            super().configure(option, value)
        styles = {"http4xx": "http4xx_spec", "http200": "http200_code"}
        if value not in styles:
            raise UsageError(f"error-style: {value!r} is not one of {', '.join(styles)}")
        self.error_mode = styles[value]  # type: ignore[assignment]  # one of the two literals

    def account_routes(self) -> list[BaseRoute]:
        """The routes of this class, for :meth:`api_routes`."""
        return [
            Route("/api/v1/user/remainingCoins", self._remaining, methods=["GET"]),
            Route("/api/v1/r2/upload-presigned-url", self._presign, methods=["POST"]),
            Route("/api/v1/r2/get_upload_presigned_url", self._presign, methods=["POST"]),
            Route(UPLOAD_PREFIX + "{key:path}", self._put, methods=["PUT"]),
            Route(UPLOAD_PREFIX + "{key:path}", self._cdn, methods=["GET"]),
            Route("/api/v1/video/send_tts", self._tts, methods=["POST"]),
            Route("/api/v1/anchor/character_list", self._anchors, methods=["GET"]),
        ]

    # -- shared answers ------------------------------------------------------------------------

    def trace_id(self) -> str:
        """A fresh UUID-4 string for ``trace_id``."""
        return str(uuid.UUID(hex=self.new_id() + self.new_id(), version=4))

    def ok(self, data: Any) -> Response:
        """The success envelope ``{"code": 0, "data": data, "trace_id": uuid}``."""
        envelope = {"code": 0, "data": data, "trace_id": self.trace_id()}
        return Response(self.json_bytes(envelope), media_type="application/json")

    def fail(self, status: int, message: str, code: int | None = None) -> Response:
        """An error: HTTP ``status`` with the spec's ``{success: false, error, code, timestamp}``,
        or with ``error_mode="http200_code"`` HTTP 200 ``{code, msg, data: null, trace_id}``."""
        self.stats["errors"] += 1
        if self.error_mode == "http200_code":
            body = {"code": code or status, "msg": message, "data": None}
            return JSONResponse({**body, "trace_id": self.trace_id()}, 200)
        spec_body = {"success": False, "error": message, "code": str(code or status)}
        return JSONResponse({**spec_body, "timestamp": iso(self.clock.now())}, status)

    def error_response(self, status: int, message: str) -> Response:
        """Injected faults: 429 and 5xx keep their HTTP status (a gateway's answer)."""
        if status == 429 or status >= 500:
            body = {"success": False, "error": message, "code": str(status)}
            return JSONResponse({**body, "timestamp": iso(self.clock.now())}, status)
        return self.fail(status, message)

    def refuse(self, request: Request) -> Response | None:
        """401 unless ``Authorization: Bearer <accepted key>``."""
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme == "Bearer" and self.key_accepted(key.strip()):
            return None
        self.stats["unauthorized"] += 1
        return self.fail(401, "Unauthorized - Invalid or missing bearer token")

    async def json_body(self, request: Request) -> dict[str, Any]:
        """The request's JSON object body (``BadRequestError`` if it is not one)."""
        try:
            body = await request.json()
        except ValueError:
            raise BadRequestError("Invalid request parameters: the body must be JSON") from None
        if not isinstance(body, dict):
            raise BadRequestError("Invalid request parameters: the body must be a JSON object")
        return body

    def object_id(self) -> str:
        """A fresh 24-hex MongoDB ObjectId: 8 hex of seconds, then 16 random."""
        return f"{int(self.clock.now()) & 0xFFFFFFFF:08x}{self.new_id()}"

    def file_name(self, suffix: str) -> str:
        """A fresh UUID file name."""
        return f"{uuid.UUID(hex=self.new_id() + self.new_id(), version=4)}{suffix}"

    def keep(self, key: str, data: bytes, mime_type: str) -> None:
        """Store a file under ``/storage/3days-apac/<key>`` for 3 days."""
        expires = self.clock.now() + RETENTION_SECONDS
        self._stored[key] = StoredFile(data, mime_type, expires)

    # -- endpoints -----------------------------------------------------------------------------

    async def _remaining(self, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        return self.ok({"coins": self.coins, "diamonds": self.diamonds})

    async def _anchors(self, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        rows = [{"_id": a, "name": f"Avatar {n}", "type": "default"} for n, a in enumerate(ANCHORS)]
        return self.ok(rows)

    async def _presign(self, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        try:
            body = await self.json_body(request)
            key, prefix = body.get("key"), body.get("urlPrefix", "adam2eve")
            expires = body.get("expiresIn", 3600)
            if not isinstance(key, str) or not key.strip("/") or not isinstance(prefix, str):
                raise BadRequestError("Invalid request parameters: key is required")
            if isinstance(expires, bool) or not isinstance(expires, int) or expires < 60:
                raise BadRequestError("Invalid request parameters: expiresIn must be >= 60")
        except BadRequestError as exc:
            return self.fail(400, str(exc))
        full_key, token = f"{prefix}/{key.strip('/')}", self.new_id()
        self._grants[token] = (full_key, self.clock.now() + expires)
        cdn_url = f"{self.base_url(request)}{UPLOAD_PREFIX}{full_key}"
        upload_url = f"{cdn_url}?X-Amz-Expires={expires}&X-Amz-Signature={token}"
        grant = {"uploadUrl": upload_url, "cdnUrl": cdn_url, "key": full_key}
        return self.ok({**grant, "bucket": body.get("bucket", "3days-apac"), "expiresIn": expires})

    async def _put(self, request: Request) -> Response:
        key = request.path_params["key"]
        grant = self._grants.get(request.query_params.get("X-Amz-Signature", ""))
        if "authorization" in request.headers:  # S3: a presigned URL is the only auth
            return Response("Only one auth mechanism allowed", 400, media_type="text/plain")
        if grant is None or grant[0] != key or self.clock.now() > grant[1]:
            return Response("SignatureDoesNotMatch or expired", 403, media_type="text/plain")
        data = await request.body()
        self.keep(key, data, request.headers.get("content-type", "application/octet-stream"))
        self.stats["uploads"] += 1
        return Response(b"", 200, headers={"ETag": f'"{self.new_id()}"'})

    async def _cdn(self, request: Request) -> Response:
        stored = self._stored.get(request.path_params["key"])
        if stored is None or self.clock.now() >= stored.expires_at:
            return Response("Not Found", 404, media_type="text/plain")
        self.stats["downloads"] += 1
        return Response(stored.data, media_type=stored.mime_type)

    async def _tts(self, request: Request) -> Response:
        if (refusal := self.refuse(request)) is not None:
            return refusal
        try:
            body = await self.json_body(request)
            text, rate = body.get("msg"), body.get("speechRate", 1)
            if not isinstance(text, str) or not 1 <= len(text) <= 1000:
                raise BadRequestError("Invalid request parameters: msg must be 1..1000 characters")
            if not body.get("tts_id") and not body.get("user_voice_id"):
                raise BadRequestError("Invalid request parameters: tts_id or user_voice_id")
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.5 <= rate <= 2:
                raise BadRequestError("Invalid request parameters: speechRate must be 0.5..2")
        except BadRequestError as exc:
            return self.fail(400, str(exc))
        try:
            made = await self.run_media(media.speech_mp3, text, float(rate))
        except WorkError as exc:
            return self.fail(500, str(exc))
        key = f"adam2eve/tts/{self.file_name('.mp3')}"
        self.keep(key, made.data, made.mime_type)
        self.stats["submissions"] += 1
        return self.ok(f"{self.base_url(request)}{UPLOAD_PREFIX}{key}")

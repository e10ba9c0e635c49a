"""An emulator of Claid's image-edit API (PROVIDERS.md section 3), quirks included, doing real work.

Served under both ``/v1`` and ``/v1-beta1``: sync edit, multipart upload, async edit and its
result. Bearer auth; strict validation (422, ``error_code "9000"``, ``error_details`` keyed by
dotted path, from the same schema the plugin uses); ``RateLimit-*`` and ``x-request-id`` headers
on every API answer; the nested ``{"detail": {...}}`` 429 when the 4/s or 120/min policy is
exceeded; a credits knob for 402. Results are served at ``/storage/tmp/...`` (the real
``tmp_url`` is on Google Cloud Storage) and expire 24 h after completion on the emulator clock.

Where the vendor's behaviour is UNKNOWN the emulator makes a documented choice (ASSUMPTION):

- Error codes other than 111 (auth), 2001 (rate limit) and 9000 (validation) are made up:
  see ``ERRORS``. A 429 body carries ``error_details: {}`` inside ``detail``.
- Requests refused with 429 do not count against the windows; windows slide (see ``ratelimit``).
- ``result_url`` uses the submit's own prefix (``/v1-beta1`` in, ``/v1-beta1`` out); a status
  answer on ``/v1-beta1`` omits ``result_url`` (as the vendor's example does), on ``/v1`` has it.
- The accepted answer has the five fields of the vendor's example (no ``errors``/``result``).
- ``errors[].created_at`` is epoch seconds (documented as an integer, format unconfirmed).
- A failing sync edit or upload answers 400 ``error_type "image"``; an async one ends ``ERROR``.
- No storage connectors exist: a ``storage://`` input or destination is a 400 ``storage`` error.
- A successful edit costs one API call of ``credits`` (``None``: unlimited).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import PurePosixPath
from typing import Any

import attrs
import trio
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mediatask.emulator import (
    EmulatedTask,
    Emulator,
    InputFetchError,
    Phase,
    Produced,
    TaskState,
    WorkError,
    WorkResult,
    fetch_input,
)
from mediatask_claid.contract import EDIT, UPLOAD, Problem, problems
from mediatask_claid.imaging import edit
from mediatask_claid.ratelimit import SlidingWindows

PREFIXES = ("v1", "v1-beta1")
ERRORS = {
    400: ("1000", "general", "Bad Request."),  # ASSUMPTION: the code
    401: ("111", "auth", "Authorization is required."),
    402: ("3000", "billing", "No API calls left."),  # ASSUMPTION: the code
    403: ("112", "auth", "Not enough permissions."),  # ASSUMPTION: the code
    404: ("1004", "general", "Image edit pipeline not found."),  # ASSUMPTION
    422: ("9000", "validation", "Unprocessable Entity."),
    429: ("2001", "general", "Too Many Requests. Rate limit exceeded."),
    500: ("1500", "general", "Internal Server Error."),  # ASSUMPTION: the code
}
_WORDS = {
    Phase.QUEUED: "ACCEPTED",
    Phase.RUNNING: "PROCESSING",
    Phase.SUCCEEDED: "DONE",
    Phase.FAILED: "ERROR",
}


class _RefusedError(Exception):
    """An answer to send instead of going on."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _part(value: UploadFile | str | None) -> tuple[str, bytes] | None:
    """A form part as (file name, bytes), read before the form is closed."""
    if value is None:
        return None
    if isinstance(value, str):
        return "", value.encode()
    return value.filename or "", await value.read()


def _limits(value: Any) -> tuple[tuple[int, float], ...]:
    return tuple((int(n), float(s)) for n, s in value)


@attrs.define
class ClaidEmulator(Emulator):
    """Claid's image-edit API on loopback; its knobs beyond ``Faults`` are the fields below."""

    limits: tuple[tuple[int, float], ...] = attrs.field(
        default=((4, 1.0), (120, 60.0)), converter=_limits
    )
    """Rate-limit windows as (requests, seconds), measured on trio's clock."""
    credits: int | None = None
    """API calls left; a request when none are left answers 402. ``None``: unlimited."""
    first_id: int = 1
    """The id of the first async task; later ones count up."""
    _window: SlidingWindows = attrs.field(init=False)
    _numbers: dict[int, EmulatedTask] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._window = SlidingWindows(self.limits)

    def api_routes(self) -> list[BaseRoute]:
        """The image-edit endpoints of PROVIDERS.md 3.3, under ``/v1`` and ``/v1-beta1``."""
        routes: list[BaseRoute] = []
        for prefix in PREFIXES:
            base = f"/{prefix}/image/edit"
            routes += [
                Route(base, partial(self._api, self._sync), methods=["POST"]),
                Route(f"{base}/upload", partial(self._api, self._upload), methods=["POST"]),
                Route(f"{base}/async", partial(self._api, self._submit), methods=["POST"]),
                Route(
                    f"{base}/async/{{task_id}}", partial(self._api, self._status), methods=["GET"]
                ),
            ]
        return routes

    # -- answers -----------------------------------------------------------------------------

    def error_response(
        self,
        status: int,
        message: str = "",
        details: Mapping[str, list[str]] | None = None,
        *,
        error_type: str | None = None,
    ) -> Response:
        """Claid's error envelope (nested under ``detail`` for 429) with its headers.

        ``error_type`` overrides the status's usual one (``storage``, ``image`` for a 400).
        """
        code, kind, default = ERRORS.get(status, ("1000", "general", "Error."))
        envelope = {
            "error_code": code,
            "error_type": error_type or kind,
            "error_message": default if status == 429 else message or default,
            "error_details": dict(details or {}),
        }
        headers = {"x-request-id": self._request_id()}
        if status == 429:
            self.stats["rate_limited"] += 1
            headers |= self._window.headers(trio.current_time(), refused=True)
            if self.faults.retry_after is not None:  # an injected 429: its reset is the knob's
                headers["RateLimit-Reset"] = f"{self.faults.retry_after:g}"
            return JSONResponse({"detail": envelope}, 429, headers)
        return JSONResponse(envelope, status, headers)

    def _request_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _validation(self, found: list[Problem]) -> Response:
        self.stats["invalid_requests"] += 1
        details: dict[str, list[str]] = {}
        for problem in found:
            details.setdefault(problem.path or "__root__", []).append(problem.message)
        message = " ".join(f"{problem}." for problem in found)
        return self.error_response(422, message, details)

    async def _api(self, handler: Any, request: Request) -> Response:
        """Rate limits, auth and credits first; then the endpoint; headers on every answer."""
        now = trio.current_time()  # monotonic, as windows need; a test's MockClock scales it
        try:
            if not self._window.admit(now):
                raise _RefusedError(self.error_response(429))
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not self.key_accepted(key.strip()):
                self.stats["unauthorized"] += 1
                raise _RefusedError(self.error_response(401))
            response: Response = await handler(request)
        except _RefusedError as refused:
            response = refused.response
        if response.status_code != 429:
            response.headers.update(self._window.headers(now))
        response.headers.setdefault("x-request-id", self._request_id())
        return response

    def _charge(self) -> None:
        if self.credits is not None:
            if self.credits <= 0:
                raise _RefusedError(self.error_response(402))
            self.credits -= 1

    async def _document(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise _RefusedError(self.error_response(400, "The body is not valid JSON.")) from None
        found = problems(body, EDIT)
        if found:
            raise _RefusedError(self._validation(found))
        self._refuse_storage(body)
        return dict(body)

    def _refuse_storage(self, document: Mapping[str, Any]) -> None:
        output = document.get("output")
        places = [document.get("input"), output if isinstance(output, str) else None]
        if isinstance(output, Mapping):
            places.append(output.get("destination"))
        for place in places:
            if isinstance(place, str) and place.startswith("storage://"):
                name = place.removeprefix("storage://").split("/")[0]
                missing = f"Storage {name!r} not found."
                raise _RefusedError(self.error_response(400, missing, error_type="storage"))

    # -- endpoints ---------------------------------------------------------------------------

    async def _sync(self, request: Request) -> Response:
        document = await self._document(request)
        self._charge()
        source = document["input"]
        return await self._edit_now(partial(self._input, source), document, "image", request)

    async def _upload(self, request: Request) -> Response:
        async with request.form() as form:
            parts = {name: await _part(form.get(name)) for name in ("file", "data")}
        missing = [Problem(name, "field required") for name, part in parts.items() if part is None]
        if missing:
            return self._validation(missing)
        (name, content), (_, data) = parts["file"], parts["data"]  # type: ignore[misc]  # both set
        try:
            document = json.loads(data)
        except ValueError:
            return self._validation([Problem("data", "must be a JSON object")])
        found = problems(document, UPLOAD)
        if found:
            return self._validation(found)
        self._refuse_storage(document)
        self._charge()
        stem = PurePosixPath(name or "image").stem or "image"

        async def read() -> bytes:
            return content

        self.stats["uploads"] += 1
        return await self._edit_now(read, document, stem, request)

    async def _edit_now(
        self, read: Any, document: Mapping[str, Any], stem: str, request: Request
    ) -> Response:
        task = self.create_task("edit", {"document": document})
        work = partial(self._work, task, read, document, stem, self.base_url(request))
        await self.complete_now(task, work)
        state = task.state
        if state.phase is Phase.FAILED:
            failed = state.error or "processing failed"
            return self.error_response(400, failed, error_type="image")
        self.stats["edits"] += 1
        fields = state.fields
        return JSONResponse(
            {"data": {"input": fields["input_object"], "output": fields["output_object"]}}
        )

    async def _submit(self, request: Request) -> Response:
        document = await self._document(request)
        if (busy := self.busy(request)) is not None:
            return busy
        self._charge()
        prefix = request.url.path.strip("/").split("/")[0]
        number = self.first_id + len(self._numbers)
        created = datetime.fromtimestamp(self.clock.now(), UTC).isoformat(timespec="microseconds")
        task = self.create_task(
            "edit", {"document": document, "created_at": created, "prefix": prefix}
        )
        self._numbers[number] = task
        read = partial(self._input, document["input"])
        self.start(
            task, partial(self._work, task, read, document, str(number), self.base_url(request))
        )
        self.stats["submissions"] += 1
        url = f"{self.base_url(request)}/{prefix}/image/edit/async/{number}"
        return JSONResponse(
            {
                "data": {
                    "id": number,
                    "status": "ACCEPTED",
                    "result_url": url,
                    "created_at": created,
                    "request": document,
                }
            }
        )

    async def _status(self, request: Request) -> Response:
        raw = request.path_params["task_id"]
        if not raw.isdigit():
            return self._validation([Problem("task_id", "value is not a valid integer")])
        task = self._numbers.get(int(raw))
        if task is None:
            return self.error_response(404)
        self.stats["polls"] += 1
        prefix = request.url.path.strip("/").split("/")[0]
        data: dict[str, Any] = {"id": int(raw), "status": _WORDS[task.state.phase]}
        if prefix == "v1":
            data["result_url"] = f"{self.base_url(request)}/v1/image/edit/async/{raw}"
        data |= {"created_at": task.params["created_at"], "request": task.params["document"]}
        data |= self._outcome(task, task.state)
        return Response(self.json_bytes({"data": data}), media_type="application/json")

    def _outcome(self, task: EmulatedTask, state: TaskState) -> dict[str, Any]:
        if state.phase is Phase.SUCCEEDED:
            fields = state.fields
            return {
                "errors": [],
                "result": {
                    "input_object": fields["input_object"],
                    "output_object": fields["output_object"],
                },
            }
        if state.phase is Phase.FAILED:
            when = int(task.finished_at or self.clock.now())
            error = {
                "error": state.error or "processing failed",
                "created_at": when,
                "input_object": None,
            }
            return {"errors": [error], "result": {}}
        return {"errors": [], "result": {}}

    # -- the work ----------------------------------------------------------------------------

    async def _input(self, url: str) -> bytes:
        try:
            return await fetch_input(url)
        except InputFetchError as exc:
            raise WorkError(f"Unable to retrieve the input image: {exc}") from exc

    async def _work(
        self, task: EmulatedTask, read: Any, document: Mapping[str, Any], stem: str, base: str
    ) -> WorkResult:
        data = await read()
        done = await self.run_media(edit, data, document)
        key = f"tmp/{task.task_id}/{stem}.{done.ext}"
        url = self.storage_url(base, key)
        output = {**done.output_object, "tmp_url": url}
        return WorkResult(
            (Produced(key, done.data, done.mime_type),),
            {"input_object": done.input_object, "output_object": output},
        )

"""An emulator of Claid's image-edit API (PROVIDERS.md section 3), quirks included, doing real work.

Served under both ``/v1`` and ``/v1-beta1``: sync edit, multipart upload, async edit and its
result, and the storage connectors (``/v1/storage/storages``: create, list, read, delete;
``storage://`` inputs and destinations, see :mod:`mediatask_claid.storages`). Bearer auth,
checked first; strict validation (422, ``error_code "9000"``, ``error_details`` keyed by dotted
path, from the same schema the plugin uses); ``RateLimit-*`` headers on every image-processing
answer and ``x-request-id`` on all; the nested ``{"detail": {...}}`` 429 when a window of
:attr:`ClaidEmulator.limits` is exceeded (only image-processing requests are counted, as Claid's
rate-limit page says); a credits knob for 402. Results are served at ``/storage/tmp/...`` (the
real ``tmp_url`` is on Google Cloud Storage) and expire 24 h after completion on the emulator
clock. The upload's ``data`` part must carry ``Content-Type: application/json``, as the upload
reference asks (a strict server's reading: whether Claid itself refuses it is UNKNOWN).

Where the vendor's behaviour is UNKNOWN the emulator makes a documented choice (ASSUMPTION):

- Claid publishes only the codes 111 (auth), 2001 (rate limit) and 9000 (validation); for
  other statuses the emulator sends ``emulated-<status>``, marked as its own (see ``ERRORS``).
  A 429 body carries ``error_details: {}`` inside ``detail``.
- Requests refused with 429 do not count against the windows; windows slide (see ``ratelimit``);
  status reads and storage management are not counted and carry no ``RateLimit-*`` headers.
- ``result_url`` uses the submit's own prefix (``/v1-beta1`` in, ``/v1-beta1`` out); a status
  answer on ``/v1-beta1`` omits ``result_url`` (as the vendor's example does), on ``/v1`` has it.
- The accepted answer has the five fields of the vendor's example (no ``errors``/``result``).
- ``errors[].created_at`` is epoch seconds (documented as an integer, format unconfirmed).
- A failing sync edit or upload answers 400 ``error_type "image"``; an async one ends ``ERROR``.
- An unknown storage name is a 400 ``error_type "storage"`` ("Storage 'NAME' not found.");
  a missing object, or a web folder as destination, fails the edit like any unreadable input;
  an unknown storage id is a 404.
- A successful edit costs one API call of ``credits`` (``None``: unlimited).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

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
    parse_rate,
)
from mediatask_claid.contract import EDIT, UPLOAD, Problem, problems
from mediatask_claid.imaging import edit
from mediatask_claid.ratelimit import SlidingWindows
from mediatask_claid.storages import SCHEME, StorageError, Storages

PREFIXES = ("v1", "v1-beta1")
ERRORS = {
    400: ("emulated-400", "general", "Bad Request."),
    401: ("111", "auth", "Authorization is required."),
    402: ("emulated-402", "billing", "No API calls left."),
    403: ("emulated-403", "auth", "Not enough permissions."),
    404: ("emulated-404", "general", "Batch image edit pipeline not found."),  # the spec's text
    422: ("9000", "validation", "Unprocessable Entity."),
    429: ("2001", "general", "Too Many Requests. Rate limit exceeded."),
    500: ("emulated-500", "general", "Internal Server Error."),
}
"""Per status: code, type and message. The messages are the vendor's per-status descriptions;
codes not published by Claid are ``emulated-<status>``, so nothing made up passes for Claid's."""
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


def _new_limits(emulator: ClaidEmulator, _: Any, value: Any) -> tuple[tuple[int, float], ...]:
    """Setting :attr:`ClaidEmulator.limits` starts fresh windows of that size."""
    limits = _limits(value)
    emulator._window = SlidingWindows(limits)
    return limits


def _data_part_type(body: bytes, content_type: str) -> str | None:
    """The ``Content-Type`` of the form part named ``data``: ``""`` when it has none, ``None``
    when there is no such part."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    for part in message.iter_parts() if message.is_multipart() else ():
        if part.get_param("name", header="content-disposition") == "data":
            return str(part.get("content-type") or "")
    return None


@attrs.define
class ClaidEmulator(Emulator):
    """Claid's image-edit API on loopback; its knobs beyond ``Faults`` are the fields below."""

    limits: tuple[tuple[int, float], ...] = attrs.field(
        default=((4, 1.0), (120, 60.0)), converter=_limits, on_setattr=_new_limits
    )
    """Rate-limit windows of the emulated account as (requests, seconds), measured on trio's
    clock (Claid's default plan: 4/s and 120/min; ``mediatask emulate claid --rate 1/s,30/min``
    for an account with less)."""
    storage_root: Path | None = None
    """Where ``s3`` and ``gcs`` buckets are kept as folders (default: in memory)."""
    credits: int | None = None
    """API calls left; a request when none are left answers 402. ``None``: unlimited."""
    first_id: int = 1
    """The id of the first async task; later ones count up."""
    _window: SlidingWindows = attrs.field(init=False)
    _numbers: dict[int, EmulatedTask] = attrs.field(init=False, factory=dict)
    _storages: Storages = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._window = SlidingWindows(self.limits)
        self._storages = Storages(self.storage_root)

    def configure(self, option: str, value: str) -> None:
        """``rate``: the account's windows (``1/s,30/min``; ``none`` for no limit)."""
        if option != "rate":
            super().configure(option, value)
        self.limits = parse_rate(value, where="--rate")

    @property
    def storages(self) -> Storages:
        """The connected storages (tests look at what a destination received)."""
        return self._storages

    def api_routes(self) -> list[BaseRoute]:
        """The image-edit endpoints of PROVIDERS.md 3.3, under ``/v1`` and ``/v1-beta1``."""
        counted = partial(self._api, counted=True)
        other = partial(self._api, counted=False)
        routes: list[BaseRoute] = []
        for prefix in PREFIXES:
            base = f"/{prefix}/image/edit"
            routes += [
                Route(base, partial(counted, self._sync), methods=["POST"]),
                Route(f"{base}/upload", partial(counted, self._upload), methods=["POST"]),
                Route(f"{base}/async", partial(counted, self._submit), methods=["POST"]),
                Route(f"{base}/async/{{task_id}}", partial(other, self._status), methods=["GET"]),
            ]
        storages = "/v1/storage/storages"
        routes += [
            Route(storages, partial(other, self._storage_list), methods=["GET"]),
            Route(storages, partial(other, self._storage_create), methods=["POST"]),
            Route(f"{storages}/{{storage_id}}", partial(other, self._storage_one), methods=["GET"]),
            Route(
                f"{storages}/{{storage_id}}",
                partial(other, self._storage_delete),
                methods=["DELETE"],
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
        code, kind, default = ERRORS.get(status, (f"emulated-{status}", "general", "Error."))
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

    async def _api(self, handler: Any, request: Request, *, counted: bool) -> Response:
        """The key first, then (for an image-processing request, ``counted``) the rate windows,
        then the endpoint; ``RateLimit-*`` headers on counted answers, a request id on all."""
        now = trio.current_time()  # monotonic, as windows need; a test's MockClock scales it
        admitted = False
        try:
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not self.key_accepted(key.strip()):
                self.stats["unauthorized"] += 1
                raise _RefusedError(self.error_response(401))
            if counted:
                admitted = self._window.admit(now)
                if not admitted:
                    raise _RefusedError(self.error_response(429))
            response: Response = await handler(request)
        except _RefusedError as refused:
            response = refused.response
        if admitted:
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
        self._check_storage(body)
        return dict(body)

    def _check_storage(self, document: Mapping[str, Any]) -> None:
        """Refuse a ``storage://`` input or destination naming no connected storage."""
        places = [document.get("input"), _destination(document)]
        for place in places:
            if isinstance(place, str) and place.startswith(SCHEME):
                try:
                    self._storages.place(place)
                except StorageError as exc:
                    raise _RefusedError(self._storage_error(exc)) from None

    def _storage_error(self, exc: StorageError) -> Response:
        return self.error_response(400, str(exc), error_type="storage")

    # -- endpoints ---------------------------------------------------------------------------

    async def _sync(self, request: Request) -> Response:
        document = await self._document(request)
        self._charge()
        source = document["input"]
        return await self._edit_now(partial(self._input, source), document, "image", request)

    async def _upload(self, request: Request) -> Response:
        body = await request.body()  # read whole first: the form is parsed from the same bytes
        kind = _data_part_type(body, request.headers.get("content-type", ""))
        if kind is not None and kind.split(";")[0].strip().lower() != "application/json":
            self.stats["invalid_requests"] += 1
            return self.error_response(
                400,
                "The data part must have a Content-Type: application/json header.",
            )
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
        self._check_storage(document)
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
            return self.error_response(404)  # the spec's (odd) text for this endpoint
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
            if url.startswith(SCHEME):
                place = self._storages.place(url)
                if place.kind != "web_folder":
                    return self._storages.read_local(place)
                base = str(place.storage["parameters"]["base_url"]).rstrip("/")
                url = f"{base}/{place.path}"
            return await fetch_input(url)
        except StorageError as exc:
            raise WorkError(str(exc)) from exc
        except InputFetchError as exc:
            raise WorkError(f"Unable to retrieve the input image: {exc}") from exc

    async def _work(
        self, task: EmulatedTask, read: Any, document: Mapping[str, Any], stem: str, base: str
    ) -> WorkResult:
        data = await read()
        done = await self.run_media(edit, data, document)
        destination = _destination(document)
        if isinstance(destination, str) and destination.startswith(SCHEME):
            # "The name of the output file remains the same as the input file."
            source = document.get("input")
            named = PurePosixPath(urlsplit(source).path).stem if isinstance(source, str) else stem
            try:
                where = self._storages.write(destination, named or stem, done.ext, done.data)
            except StorageError as exc:
                raise WorkError(str(exc)) from exc
            output = {**done.output_object, **where}  # no tmp_url: it is in the user's storage
            return WorkResult((), {"input_object": done.input_object, "output_object": output})
        key = f"tmp/{task.task_id}/{stem}.{done.ext}"
        url = self.storage_url(base, key)
        output = {**done.output_object, "tmp_url": url}
        return WorkResult(
            (Produced(key, done.data, done.mime_type),),
            {"input_object": done.input_object, "output_object": output},
        )

    # -- storage connectors ------------------------------------------------------------------

    async def _storage_list(self, request: Request) -> Response:
        return JSONResponse({"data": self._storages.listing()})

    async def _storage_create(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return self.error_response(400, "The body is not valid JSON.")
        record, found = self._storages.create(body, self.clock.now())
        if record is None:
            return self._validation(found)
        self.stats["storages_created"] += 1
        return JSONResponse({"data": record})

    def _storage_id(self, request: Request) -> int:
        raw = request.path_params["storage_id"]
        if not raw.isdigit():
            raise _RefusedError(
                self._validation([Problem("storage_id", "value is not a valid integer")])
            )
        return int(raw)

    async def _storage_one(self, request: Request) -> Response:
        try:
            record = self._storages.get(self._storage_id(request))
        except _RefusedError as refused:
            return refused.response
        if record is None:
            return self.error_response(404, "Storage not found.")
        return JSONResponse({"data": record})

    async def _storage_delete(self, request: Request) -> Response:
        try:
            deleted = self._storages.delete(self._storage_id(request))
        except _RefusedError as refused:
            return refused.response
        if not deleted:
            return self.error_response(404, "Storage not found.")
        return JSONResponse({"data": None})  # ASSUMPTION: the spec's bare ``Response``


def _destination(document: Mapping[str, Any]) -> str | None:
    """Where the request asks the result to go: ``output`` as a string or its ``destination``."""
    output = document.get("output")
    if isinstance(output, str):
        return output
    if isinstance(output, Mapping) and isinstance(output.get("destination"), str):
        return str(output["destination"])
    return None

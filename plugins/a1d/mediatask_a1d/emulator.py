"""An emulator of A1D's HTTP API (PROVIDERS.md section 2), quirks included, doing real work.

Where the vendor's behaviour is UNKNOWN the emulator makes a documented choice:

- A validation failure answers 400 ``{"error": "Bad Request", "message": ...}`` (ASSUMPTION).
- An unknown task answers 404 ``{"error": "Not Found", "message": "Task not found"}``
  (ASSUMPTION).
- Numbers must be JSON numbers (``"scale": "4"`` is a 400); ``source`` is not checked.
- An input URL is fetched while the task runs, as a queue worker would: if it cannot be
  downloaded or decoded the task ends ``FAILED`` (``ERROR`` for the speedpainter in the
  "clients" vocabulary) with the reason in ``error``, the field A1D's own speedpainter client
  reads (ASSUMPTION for ``FAILED``: the docs show no reason field); the submit itself succeeded.
- Speedpainter: only ``imageUrl`` is required; the other fields get the client's defaults
  (``sketchDuration`` and ``colorFillDuration`` 3 s, ``fps`` 24) and are type-checked when
  present. Its submit always answers just ``{"taskId"}``, even with ``finish_on_submit``.
- The auth scheme must be exactly ``KEY``; anything else is the vendor's 401.
- Result files live at ``/storage/processed/<name>`` without auth and answer 404 once
  ``faults.result_ttl_seconds`` (24 h) have passed since completion; the task itself still
  reports ``FINISHED`` with its now dead URLs.
- ``faults.drop_stream_after`` counts distinct events (a duplicate is not another event).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, Literal

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mediatask.emulator import (
    EmulatedTask,
    Emulator,
    EventStreamResponse,
    InputFetchError,
    MediaFile,
    Phase,
    Produced,
    TaskState,
    WorkError,
    WorkResult,
    fetch_input,
    media,
)

SCALES = frozenset({2, 4, 8, 16})
"""The upscaler's allowed factors (A1D's own MCP validation)."""
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg", "video/mp4": "mp4"}
_UNAUTHORIZED = {"error": "Unauthorized", "message": "Invalid or missing API key"}


class _BadRequestError(Exception):
    """A submit body the emulator refuses; the message goes into the 400 answer."""


def _url(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _BadRequestError(f"{name} is required")
    if not value.startswith(("http://", "https://")):
        raise _BadRequestError(f"{name} must be an http(s) URL")
    return value


def _number(body: Mapping[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _BadRequestError(f"{name} must be a non-negative number")
    return float(value)


def _check_types(body: Mapping[str, Any], kind: type, *names: str) -> None:
    for name in names:
        if name in body and not isinstance(body[name], kind):
            raise _BadRequestError(f"{name} must be a {kind.__name__}")


def _validate(operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Check a submit body; return the parameters the task needs."""
    if operation == "image-generator":
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _BadRequestError("prompt is required")
        return {"prompt": prompt}
    if operation == "video-upscaler":
        return {"videoUrl": _url(body, "videoUrl")}
    params: dict[str, Any] = {"imageUrl": _url(body, "imageUrl")}
    if operation == "image-upscaler":
        scale = body.get("scale", 2)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or scale not in SCALES:
            raise _BadRequestError("scale must be one of 2, 4, 8, 16")
        params["scale"] = int(scale)
    elif operation == "speedpainter":
        _check_types(body, bool, "needCanvas", "needHand", "needFadeout")
        _check_types(body, str, "mimeType", "canvasTitle", "handTitle")
        params["sketchDuration"] = _number(body, "sketchDuration", 3)
        params["colorFillDuration"] = _number(body, "colorFillDuration", 3)
        params["fps"] = _number(body, "fps", 24)
        if params["fps"] <= 0:
            raise _BadRequestError("fps must be a positive number")
    return params


@attrs.define
class A1DEmulator(Emulator):
    """A1D's API on loopback: ``Authorization: KEY <k>``, camelCase JSON, polling and SSE.

    Knobs beyond :class:`~mediatask.emulator.Faults` cover the contract's uncertainties.
    """

    status_words: Literal["docs", "clients"] = attrs.field(
        default="docs", validator=attrs.validators.in_(("docs", "clients"))
    )
    """"docs": PENDING, PROCESSING, FINISHED, FAILED. "clients" (A1D's own code): WAITING
    (INIT for the speedpainter), PROCESSING, FINISHED, FAILED (ERROR + ``error`` for the
    speedpainter)."""
    finish_on_submit: bool = False
    """Do the work before answering the submit, which then answers FINISHED with results."""
    sse_event_line: bool = False
    """Prefix each SSE event with ``event: message`` (as the docs print it)."""
    sse_duplicates: bool = False
    """Send every SSE event twice (A1D's own client de-duplicates events)."""
    speedpaint_max_seconds: float = 3.0
    """Speed paintings are shortened to this many seconds, keeping the sketch/fill ratio."""
    speedpaint_max_fps: int = 12
    """Speed paintings are rendered at no more than this frame rate."""

    def api_routes(self) -> list[BaseRoute]:
        """The A1D endpoints 1-9 of PROVIDERS.md section 2.3."""
        operations = [
            "image-upscaler",
            "remove-bg",
            "video-upscaler",
            "image-vectorization",
            "image-extends",
            "image-generator",
            "speedpainter",
        ]
        return [
            *(
                Route(f"/api/{name}", partial(self._submit, name), methods=["POST"])
                for name in operations
            ),
            Route("/api/task/{task_id}", self._poll, methods=["GET"]),
            Route("/api/task/{task_id}/sse", self._stream, methods=["GET"]),
        ]

    # -- endpoints ---------------------------------------------------------------------------

    async def _submit(self, operation: str, request: Request) -> Response:
        if (refusal := self._refuse(request)) is not None:
            return refusal
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise _BadRequestError("the body must be a JSON object")
            params = _validate(operation, body)
        except (_BadRequestError, ValueError) as exc:  # ValueError: not JSON, not UTF-8
            # ASSUMPTION: A1D's status and body for a bad request are undocumented.
            self.stats["bad_requests"] += 1
            message = str(exc) if isinstance(exc, _BadRequestError) else "the body must be JSON"
            return self.error_response(400, message)
        if (busy := self.busy(request)) is not None:
            return busy
        task = self.create_task(operation, params)
        work = partial(self._work, task, self.base_url(request))
        self.stats["submissions"] += 1
        if self.finish_on_submit:
            await self.complete_now(task, work)
        else:
            self.start(task, work)
        if operation == "speedpainter":
            return JSONResponse({"taskId": task.task_id})
        return JSONResponse(self._payload(task, task.state))

    async def _poll(self, request: Request) -> Response:
        task = self._task_or_refusal(request)
        if isinstance(task, Response):
            return task
        self.stats["polls"] += 1
        payload = self.json_bytes(self._payload(task, task.state))
        return Response(payload, media_type="application/json")

    async def _stream(self, request: Request) -> Response:
        # ?app=iu|sp|vu&source=... are accepted and ignored (their meaning is UNKNOWN).
        task = self._task_or_refusal(request)
        if isinstance(task, Response):
            return task
        self.stats["streams"] += 1
        prefix = b"event: message\n" if self.sse_event_line else b""
        copies = 2 if self.sse_duplicates else 1
        payload = partial(self._payload, task)
        return EventStreamResponse(self.task_events(task, payload, prefix=prefix, copies=copies))

    # -- answers -----------------------------------------------------------------------------

    def _refuse(self, request: Request) -> Response | None:
        """The vendor's 401 unless the request carries ``Authorization: KEY <accepted key>``."""
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme == "KEY" and self.key_accepted(key.strip()):
            return None
        self.stats["unauthorized"] += 1
        return JSONResponse(_UNAUTHORIZED, 401)

    def _task_or_refusal(self, request: Request) -> EmulatedTask | Response:
        if (refusal := self._refuse(request)) is not None:
            return refusal
        task = self.find_task(request.path_params["task_id"])
        if task is None:  # ASSUMPTION: the vendor's answer for an unknown task is undocumented
            return self.error_response(404, "Task not found")
        return task

    def _status_word(self, task: EmulatedTask, phase: Phase) -> str:
        clients, painter = self.status_words == "clients", task.operation == "speedpainter"
        if phase is Phase.QUEUED:
            return ("INIT" if painter else "WAITING") if clients else "PENDING"
        if phase is Phase.RUNNING:
            return "PROCESSING"
        if phase is Phase.SUCCEEDED:
            return "FINISHED"
        return "ERROR" if clients and painter else "FAILED"

    def _payload(self, task: EmulatedTask, state: TaskState) -> dict[str, Any]:
        """What a poll answers and an SSE event carries for ``state``."""
        word = self._status_word(task, state.phase)
        payload: dict[str, Any] = {"taskId": task.task_id, "status": word}
        if state.phase is Phase.RUNNING:
            payload["progress"] = state.progress
        elif state.phase is Phase.SUCCEEDED:
            payload.update(state.fields)
        elif state.phase is Phase.FAILED:
            payload["error"] = state.error or "Task failed to process"
        return payload

    # -- the work ----------------------------------------------------------------------------

    async def _work(self, task: EmulatedTask, base_url: str) -> WorkResult:
        makers: dict[str, Callable[[EmulatedTask, str], Awaitable[WorkResult]]] = {
            "image-upscaler": self._upscale,
            "remove-bg": self._remove_background,
            "video-upscaler": self._upscale_video,
            "image-vectorization": self._vectorize,
            "image-extends": self._extend,
            "image-generator": self._generate,
            "speedpainter": self._speedpaint,
        }
        return await makers[task.operation](task, base_url)

    async def _input(self, url: str) -> bytes:
        try:
            return await fetch_input(url)
        except InputFetchError as exc:
            raise WorkError(str(exc)) from exc

    def _file(self, task: EmulatedTask, suffix: str, made: MediaFile) -> Produced:
        name = f"{task.task_id}{suffix}.{_EXTENSIONS[made.mime_type]}"
        return Produced(f"processed/{name}", made.data, made.mime_type)

    async def _image_result(
        self, task: EmulatedTask, base_url: str, made: MediaFile, preview_of: bytes
    ) -> WorkResult:
        thumb = await self.run_media(media.thumbnail, preview_of)
        files = (self._file(task, "", made), self._file(task, "_thumb", thumb))
        urls = [self.storage_url(base_url, produced.key) for produced in files]
        return WorkResult(files, {"imageUrl": urls[0], "thumbUrl": urls[1]})

    async def _upscale(self, task: EmulatedTask, base_url: str) -> WorkResult:
        data = await self._input(task.params["imageUrl"])
        made = await self.run_media(media.upscale_image, data, task.params["scale"])
        return await self._image_result(task, base_url, made, data)

    async def _remove_background(self, task: EmulatedTask, base_url: str) -> WorkResult:
        made = await self.run_media(
            media.remove_background, await self._input(task.params["imageUrl"])
        )
        return await self._image_result(task, base_url, made, made.data)

    async def _vectorize(self, task: EmulatedTask, base_url: str) -> WorkResult:
        data = await self._input(task.params["imageUrl"])
        made = await self.run_media(media.vectorize, data)
        return await self._image_result(task, base_url, made, data)

    async def _extend(self, task: EmulatedTask, base_url: str) -> WorkResult:
        made = await self.run_media(media.extend_image, await self._input(task.params["imageUrl"]))
        return await self._image_result(task, base_url, made, made.data)

    async def _generate(self, task: EmulatedTask, base_url: str) -> WorkResult:
        made = await self.run_media(media.generate_image, task.params["prompt"])
        return await self._image_result(task, base_url, made, made.data)

    async def _upscale_video(self, task: EmulatedTask, base_url: str) -> WorkResult:
        made = await self.run_media(media.upscale_video, await self._input(task.params["videoUrl"]))
        video = self._file(task, "", made)
        # The MCP server reads every tool's result from imageUrl (+ mimeType, duration).
        fields = {
            "imageUrl": self.storage_url(base_url, video.key),
            "mimeType": made.mime_type,
            "duration": made.duration,
        }
        return WorkResult((video,), fields)

    async def _speedpaint(self, task: EmulatedTask, base_url: str) -> WorkResult:
        data = await self._input(task.params["imageUrl"])
        sketch_seconds, fill_seconds = (
            task.params["sketchDuration"],
            task.params["colorFillDuration"],
        )
        total = sketch_seconds + fill_seconds
        shorten = min(1.0, self.speedpaint_max_seconds / total) if total else 1.0
        fps = max(1, min(self.speedpaint_max_fps, round(task.params["fps"])))
        painted = await self.run_media(
            media.speedpaint_video, data, sketch_seconds * shorten, fill_seconds * shorten, fps
        )
        files = (self._file(task, "", painted.video), self._file(task, "_sketch", painted.sketch))
        fields = {
            "videoUrl": self.storage_url(base_url, files[0].key),
            "sketchImageUrl": self.storage_url(base_url, files[1].key),
        }
        return WorkResult(files, fields)

"""Echo's API on loopback, for the sandbox and tests: mirrored inputs, drawn squares, captions."""

from __future__ import annotations

import hashlib
import io
from functools import partial
from typing import Any

import attrs
from PIL import Image, ImageOps
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mediatask.emulator import (
    EmulatedTask,
    Emulator,
    EventStreamResponse,
    InputFetchError,
    Phase,
    Produced,
    TaskState,
    WorkError,
    WorkResult,
    fetch_input,
    open_image,
)

WORDS = {Phase.QUEUED: "queued", Phase.RUNNING: "running", Phase.SUCCEEDED: "done"}
AXES = ("horizontal", "vertical")
SIZES = (16, 32, 64)


def mirror(data: bytes, axis: str) -> bytes:
    """The image in ``data`` mirrored along ``axis``, as PNG; ``MediaError`` if unreadable."""
    flip = ImageOps.mirror if axis == "horizontal" else ImageOps.flip
    return _png(flip(open_image(data).convert("RGB")))


def draw(prompt: str, size: int) -> bytes:
    """A ``size`` square PNG in a colour taken from the prompt's digest."""
    red, green, blue = hashlib.sha256(prompt.encode()).digest()[:3]
    return _png(Image.new("RGB", (size, size), (red, green, blue)))


def caption(data: bytes) -> str:
    """One line describing the image in ``data``: its size and its average colour."""
    image = open_image(data).convert("RGB")
    red, green, blue = image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]  # RGB: three bands
    return f"a {image.width}x{image.height} image, mostly #{red:02x}{green:02x}{blue:02x}"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


class _BadRequestError(Exception):
    """A submit body Echo refuses with 400; the message says why."""


def _params(body: Any) -> dict[str, Any]:
    """The task's parameters from a submit body, or ``_BadRequestError``."""
    if not isinstance(body, dict):
        raise _BadRequestError("the body must be a JSON object")
    operation = body.get("operation")
    if operation == "caption":
        url = body.get("image_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _BadRequestError("image_url must be an http(s) URL")
        return {"operation": operation, "image_url": url}
    if operation == "mirror":
        url, axis = body.get("image_url"), body.get("axis", "horizontal")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _BadRequestError("image_url must be an http(s) URL")
        if axis not in AXES:
            raise _BadRequestError(f"axis must be one of {', '.join(AXES)}")
        return {"operation": operation, "image_url": url, "axis": axis}
    if operation == "draw":
        prompt, size = body.get("prompt"), body.get("size", 32)
        if not isinstance(prompt, str) or not prompt:
            raise _BadRequestError("prompt must be a non-empty string")
        if size not in SIZES or isinstance(size, bool):
            raise _BadRequestError(f"size must be one of {', '.join(map(str, SIZES))}")
        return {"operation": operation, "prompt": prompt, "size": size}
    raise _BadRequestError("operation must be mirror, draw or caption")


@attrs.define
class EchoEmulator(Emulator):
    """Echo's endpoints, with its error envelope and Bearer keys."""

    _canceled: set[str] = attrs.field(init=False, factory=set)

    def api_routes(self) -> list[BaseRoute]:
        """Submit, poll, stream and cancel."""
        return [
            Route("/v1/echoes", self._submit, methods=["POST"]),
            Route("/v1/echoes/{task_id}", self._poll, methods=["GET"]),
            Route("/v1/echoes/{task_id}", self._cancel, methods=["DELETE"]),
            Route("/v1/echoes/{task_id}/events", self._stream, methods=["GET"]),
        ]

    def error_response(self, status: int, message: str) -> Response:
        """Echo's error envelope: ``{"error": {"message": ...}}``."""
        return JSONResponse({"error": {"message": message}}, status)

    def _refuse(self, request: Request) -> Response | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme == "Bearer" and self.key_accepted(key.strip()):
            return None
        self.stats["unauthorized"] += 1
        return self.error_response(401, "invalid API key")

    def _task_or_refusal(self, request: Request) -> EmulatedTask | Response:
        if (refusal := self._refuse(request)) is not None:
            return refusal
        task = self.find_task(request.path_params["task_id"])
        return self.error_response(404, "no such task") if task is None else task

    async def _submit(self, request: Request) -> Response:
        if (refusal := self._refuse(request)) is not None:
            return refusal
        try:
            params = _params(await request.json())
        except (_BadRequestError, ValueError) as exc:  # ValueError: not JSON
            self.stats["bad_requests"] += 1
            message = str(exc) if isinstance(exc, _BadRequestError) else "the body must be JSON"
            return self.error_response(400, message)
        if (busy := self.busy(request)) is not None:
            return busy
        task = self.create_task(params["operation"], params)
        self.start(task, partial(self._work, task, self.base_url(request)))
        self.stats["submissions"] += 1
        return JSONResponse(self._payload(task, task.state), 201)

    async def _poll(self, request: Request) -> Response:
        task = self._task_or_refusal(request)
        if isinstance(task, Response):
            return task
        self.stats["polls"] += 1
        payload = self.json_bytes(self._payload(task, task.state))
        return Response(payload, media_type="application/json")

    async def _stream(self, request: Request) -> Response:
        task = self._task_or_refusal(request)
        if isinstance(task, Response):
            return task
        self.stats["streams"] += 1
        return EventStreamResponse(self.task_events(task, partial(self._payload, task)))

    async def _cancel(self, request: Request) -> Response:
        task = self._task_or_refusal(request)
        if isinstance(task, Response):
            return task
        if task.state.is_final:
            return self.error_response(409, "the task has already finished")
        self._canceled.add(task.task_id)
        self.stats["cancels"] += 1
        return JSONResponse({"id": task.task_id, "state": "canceled"})

    async def _work(self, task: EmulatedTask, base_url: str) -> WorkResult:
        if task.operation == "caption":  # a value, not a file: nothing to publish
            try:
                data = await fetch_input(task.params["image_url"])
            except InputFetchError as exc:
                raise WorkError(str(exc)) from exc
            return WorkResult(fields={"caption": await self.run_media(caption, data)})
        if task.operation == "mirror":
            try:
                data = await fetch_input(task.params["image_url"])
            except InputFetchError as exc:
                raise WorkError(str(exc)) from exc
            made = await self.run_media(mirror, data, task.params["axis"])
        else:
            made = await self.run_media(draw, task.params["prompt"], task.params["size"])
        key = f"echoes/{task.task_id}.png"
        result_url = self.storage_url(base_url, key)
        return WorkResult(files=(Produced(key, made, "image/png"),), fields={"url": result_url})

    def _payload(self, task: EmulatedTask, state: TaskState) -> dict[str, Any]:
        """What a poll answers and an event carries for ``state``."""
        if task.task_id in self._canceled:
            return {"id": task.task_id, "state": "canceled"}
        payload: dict[str, Any] = {"id": task.task_id, "state": WORDS.get(state.phase, "failed")}
        if state.phase is Phase.RUNNING and state.progress is not None:
            payload["progress"] = state.progress
        if state.phase is Phase.SUCCEEDED and "caption" in state.fields:
            payload["caption"] = state.fields["caption"]
        elif state.phase is Phase.SUCCEEDED:
            payload["result_url"] = state.fields["url"]
        if state.phase is Phase.FAILED:
            payload["error"] = state.error
        return payload

"""The queue's API on loopback, for the sandbox and tests: one model, ``draw``.

What it shows the core: a status that ends at ``COMPLETED`` whatever happened, a status stream
that ends by design after it, and the outputs or the model's error from the result endpoint
only. ``faults.failure_rate`` makes the model fail (its error comes back as HTTP 422).
"""

from __future__ import annotations

import hashlib
import io
from contextlib import aclosing
from functools import partial
from typing import Any

import attrs
import trio
from PIL import Image
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mediatask.emulator import (
    EmulatedTask,
    Emulator,
    EventStreamResponse,
    Phase,
    Produced,
    TaskState,
    WorkResult,
)

MODELS = ("draw",)
SIZES = (16, 32, 64)
WORDS = {Phase.QUEUED: "IN_QUEUE", Phase.RUNNING: "IN_PROGRESS"}
"""Status words by phase; a finished request, whatever its end, is ``COMPLETED``."""
MODEL_ERROR_STATUS = 422
"""The HTTP status the result endpoint answers a model's error with."""


def draw(prompt: str, size: int) -> bytes:
    """A ``size`` square PNG in a colour taken from the prompt's digest."""
    red, green, blue = hashlib.sha256(prompt.encode()).digest()[:3]
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (red, green, blue)).save(buffer, "PNG")
    return buffer.getvalue()


def _prefer_wait(prefer: str) -> float:
    """The seconds a ``Prefer: wait=N`` header asks to hold the answer (at most 60), else 0."""
    for preference in prefer.split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "wait" and value.strip().isdigit():
            return min(float(value), 60.0)
    return 0.0


def _input(body: Any) -> dict[str, Any]:
    """The draw model's input from a submit body; ``ValueError`` says what is wrong."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    prompt, size = body.get("prompt"), body.get("size", 32)
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt must be a non-empty string")
    if size not in SIZES or isinstance(size, bool):
        raise ValueError(f"size must be one of {', '.join(map(str, SIZES))}")
    return {"prompt": prompt, "size": size}


@attrs.define
class QueueEmulator(Emulator):
    """The queue's endpoints, with its ``{"detail"}`` errors and ``Key`` keys."""

    _canceled: set[str] = attrs.field(init=False, factory=set)

    def api_routes(self) -> list[BaseRoute]:
        """Submit, status, status stream, result and cancel."""
        base = "/{model}/requests/{task_id}"
        return [
            Route("/{model}", self._submit, methods=["POST"]),
            Route(f"{base}/status", self._status, methods=["GET"]),
            Route(f"{base}/status/stream", self._stream, methods=["GET"]),
            Route(base, self._result, methods=["GET"]),
            Route(f"{base}/cancel", self._cancel, methods=["PUT"]),
        ]

    def error_response(self, status: int, message: str) -> Response:
        """The queue's error envelope: ``{"detail": ...}``."""
        return JSONResponse({"detail": message}, status)

    def _refuse(self, request: Request) -> Response | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme == "Key" and self.key_accepted(key.strip()):
            return None
        self.stats["unauthorized"] += 1
        return self.error_response(401, "invalid key")

    def _task_or_refusal(self, request: Request) -> EmulatedTask | Response:
        if (refusal := self._refuse(request)) is not None:
            return refusal
        task = self.find_task(request.path_params["task_id"])
        if task is None or task.operation != request.path_params["model"]:
            return self.error_response(404, "no such request")
        return task

    async def _submit(self, request: Request) -> Response:
        if (refusal := self._refuse(request)) is not None:
            return refusal
        model = request.path_params["model"]
        if model not in MODELS:
            return self.error_response(404, f"no model {model}")
        try:
            params = _input(await request.json())
        except ValueError as exc:  # also a body that is not JSON
            self.stats["bad_requests"] += 1
            return self.error_response(422, str(exc) if str(exc) else "the body must be JSON")
        if (busy := self.busy(request)) is not None:
            return busy
        task = self.create_task(model, params)
        self.start(task, partial(self._work, task, self.base_url(request)))
        self.stats["submissions"] += 1
        wait = _prefer_wait(request.headers.get("prefer", ""))
        if wait:  # held until the request ends or the wait is over, then answered as usual
            self.stats["held_submits"] += 1
            with trio.move_on_after(wait):
                async with aclosing(task.states()) as states:
                    async for state in states:
                        if state.is_final:
                            break
            self.stats["held_submits_answered"] += 1
        word = WORDS.get(task.state.phase, "COMPLETED")
        return JSONResponse({"request_id": task.task_id, "status": word})

    async def _status(self, request: Request) -> Response:
        task = self._task_or_refusal(request)
        if isinstance(task, Response):
            return task
        self.stats["polls"] += 1
        payload = self.json_bytes(self._status_payload(task, task.state))
        return Response(payload, media_type="application/json")

    async def _stream(self, request: Request) -> Response:
        task = self._task_or_refusal(request)
        if isinstance(task, Response):
            return task
        self.stats["streams"] += 1
        return EventStreamResponse(self.task_events(task, partial(self._status_payload, task)))

    async def _result(self, request: Request) -> Response:
        task = self._task_or_refusal(request)
        if isinstance(task, Response):
            return task
        self.stats["results"] += 1
        if task.task_id in self._canceled:
            return JSONResponse(
                {"detail": "the request was canceled", "error_type": "canceled"}, 400
            )
        state = task.state
        if not state.is_final:
            return self.error_response(400, "the request is still in progress")
        if state.phase is Phase.FAILED:
            detail = f"the model failed: {state.error}"
            return JSONResponse({"detail": detail, "error_type": "model"}, MODEL_ERROR_STATUS)
        image = {"url": state.fields["url"], "content_type": "image/png"}
        return JSONResponse({"images": [image]})

    async def _cancel(self, request: Request) -> Response:
        task = self._task_or_refusal(request)
        if isinstance(task, Response):
            return task
        if task.state.is_final or task.task_id in self._canceled:
            return self.error_response(400, "the request has already completed")
        self._canceled.add(task.task_id)
        self.stats["cancels"] += 1
        return JSONResponse({"status": "CANCELLATION_REQUESTED"}, 202)

    async def _work(self, task: EmulatedTask, base_url: str) -> WorkResult:
        made = await self.run_media(draw, task.params["prompt"], task.params["size"])
        key = f"queue/{task.task_id}.png"
        fields = {"url": self.storage_url(base_url, key)}
        return WorkResult(files=(Produced(key, made, "image/png"),), fields=fields)

    def _status_payload(self, task: EmulatedTask, state: TaskState) -> dict[str, Any]:
        """What a status poll answers and a stream event carries for ``state``."""
        word = WORDS.get(state.phase, "COMPLETED")
        if task.task_id in self._canceled:
            word = "COMPLETED"
        payload: dict[str, Any] = {"request_id": task.task_id, "status": word}
        if word == "IN_PROGRESS" and state.progress is not None:
            payload["progress"] = state.progress
        return payload

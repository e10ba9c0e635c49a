"""Echo's API on loopback, for the sandbox and tests: each task mirrors its input image."""

from __future__ import annotations

import io
from functools import partial
from typing import Any

import attrs
from PIL import ImageOps
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from mediatask.emulator import (
    EmulatedTask,
    Emulator,
    InputFetchError,
    Phase,
    Produced,
    WorkError,
    WorkResult,
    fetch_input,
    open_image,
)

WORDS = {Phase.QUEUED: "queued", Phase.RUNNING: "running", Phase.SUCCEEDED: "done"}


def mirror(data: bytes) -> bytes:
    """The image in ``data`` mirrored left to right, as PNG; ``MediaError`` if unreadable."""
    buffer = io.BytesIO()
    ImageOps.mirror(open_image(data).convert("RGB")).save(buffer, "PNG")
    return buffer.getvalue()


@attrs.define
class EchoEmulator(Emulator):
    """Echo's two endpoints, with its error envelope and Bearer keys."""

    def api_routes(self) -> list[BaseRoute]:
        """``POST /v1/echoes`` and ``GET /v1/echoes/{task_id}``."""
        return [
            Route("/v1/echoes", self._submit, methods=["POST"]),
            Route("/v1/echoes/{task_id}", self._poll, methods=["GET"]),
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

    async def _submit(self, request: Request) -> Response:
        if (refusal := self._refuse(request)) is not None:
            return refusal
        try:
            body = await request.json()
        except ValueError:
            body = None
        url = body.get("image_url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return self.error_response(400, "image_url must be an http(s) URL")
        if (busy := self.busy(request)) is not None:
            return busy
        task = self.create_task("mirror", {"image_url": url})
        self.start(task, partial(self._work, task, url, self.base_url(request)))
        self.stats["submissions"] += 1
        return JSONResponse(self._payload(task), 201)

    async def _poll(self, request: Request) -> Response:
        if (refusal := self._refuse(request)) is not None:
            return refusal
        task = self.find_task(request.path_params["task_id"])
        if task is None:
            return self.error_response(404, "no such echo")
        self.stats["polls"] += 1
        return Response(self.json_bytes(self._payload(task)), media_type="application/json")

    async def _work(self, task: EmulatedTask, url: str, base_url: str) -> WorkResult:
        try:
            data = await fetch_input(url)
        except InputFetchError as exc:
            raise WorkError(str(exc)) from exc
        key = f"echoes/{task.task_id}.png"
        mirrored = await self.run_media(mirror, data)
        result_url = self.storage_url(base_url, key)
        return WorkResult(files=(Produced(key, mirrored, "image/png"),), fields={"url": result_url})

    def _payload(self, task: EmulatedTask) -> dict[str, Any]:
        state = task.state
        payload: dict[str, Any] = {"id": task.task_id, "state": WORDS.get(state.phase, "failed")}
        if state.phase is Phase.SUCCEEDED:
            payload["result_url"] = state.fields["url"]
        if state.phase is Phase.FAILED:
            payload["error"] = state.error
        return payload

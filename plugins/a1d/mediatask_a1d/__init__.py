"""A1D (a1d.ai) for mediatask: translation between our model and A1D's HTTP API. No I/O here.

A1D takes public URLs only, answers with bare camelCase JSON, authenticates with
``Authorization: KEY <key>`` (added by the core from ``auth_scheme``) and reports task state by
polling ``/api/task/{id}`` or over Server-Sent Events at ``/api/task/{id}/sse``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

from mediatask.plugin import (
    Capabilities,
    Job,
    Operation,
    Output,
    Param,
    PluginError,
    ProviderEmulator,
    ProviderInfo,
    Request,
    Response,
    Status,
    Submitted,
    TaskRef,
    Update,
    hookimpl,
)

_IMAGE = ("image",)
_SPEEDPAINTER_PARAMS = (
    Param("mimeType", description="MIME type of the input image; guessed from its URL if unset"),
    Param("sketchDuration", "float", default=3.0, minimum=0.1, description="seconds of sketching"),
    Param(
        "colorFillDuration", "float", default=3.0, minimum=0.0, description="seconds of colouring"
    ),
    Param("needCanvas", "bool", default=False, description="draw on a canvas background"),
    Param("canvasTitle", default="white board", description="which canvas"),
    Param("needHand", "bool", default=False, description="show a drawing hand"),
    Param("handTitle", default="no hand", description="which hand"),
    Param("needFadeout", "bool", default=False, description="fade out at the end"),
    Param("fps", "int", default=24, minimum=1, maximum=60, description="frames per second"),
)

OPERATIONS = (
    Operation(
        "image-upscaler",
        "Upscale an image 2x, 4x, 8x or 16x",
        _IMAGE,
        (
            Param(
                "scale", "int", default=2, choices=(2, 4, 8, 16), description="enlargement factor"
            ),
        ),
        input_kinds=_IMAGE,
    ),
    Operation(
        "remove-bg", "Remove the background (PNG with transparency)", _IMAGE, input_kinds=_IMAGE
    ),
    Operation(
        "video-upscaler", "Upscale a video", ("video",), output_kind="video", input_kinds="video"
    ),
    Operation(
        "image-vectorization",
        "Turn an image into SVG",
        _IMAGE,
        output_kind="vector",
        input_kinds=_IMAGE,
    ),
    Operation("image-extends", "Extend an image beyond its borders", _IMAGE, input_kinds=_IMAGE),
    Operation(
        "image-generator",
        "Generate an image from a text prompt",
        (),
        (Param("prompt", required=True, description="what to draw"),),
    ),
    Operation(
        "speedpainter",
        "Speed-painting video of an image",
        _IMAGE,
        _SPEEDPAINTER_PARAMS,
        output_kind="video",
        input_kinds=_IMAGE,
    ),
)

INFO = ProviderInfo(
    name="a1d",
    title="A1D",
    base_url="https://api.a1d.ai",
    auth_scheme="KEY",
    operations=OPERATIONS,
    capabilities=Capabilities(stream=True),
    docs_url="https://a1d.ai/api/task-status",
    # "Task results are available for 24 hours after completion." Its answers carry no
    # timestamp, so the core counts from when it saw the task finished.
    result_lifetime=24 * 3600.0,
)

# The docs' words and those of A1D's own clients; any other word means "still in progress".
_STATUS = {
    "PENDING": Status.QUEUED,
    "WAITING": Status.QUEUED,
    "INIT": Status.QUEUED,
    "PROCESSING": Status.RUNNING,
    "FINISHED": Status.SUCCEEDED,
    "FAILED": Status.FAILED,
    "ERROR": Status.FAILED,
}
_VIDEO_OPERATIONS = {"video-upscaler", "speedpainter"}
_MIME_BY_SUFFIX = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
}


@hookimpl
def mediatask_providers() -> list[ProviderInfo]:
    return [INFO]


def _speedpainter_body(job: Job) -> dict[str, Any]:
    params = dict(job.params)
    if not params.get("mimeType"):
        suffix = PurePosixPath(urlsplit(job.inputs[0]).path).suffix.lower()
        params["mimeType"] = _MIME_BY_SUFFIX.get(suffix, "image/png")
    return {"imageUrl": job.inputs[0], **params, "source": "api"}


@hookimpl
def mediatask_submit(job: Job) -> Request:
    if job.operation == "speedpainter":
        body = _speedpainter_body(job)
    elif job.operation == "image-generator":
        body = {**job.params, "source": "api"}
    else:
        field = "videoUrl" if job.operation == "video-upscaler" else "imageUrl"
        body = {field: job.inputs[0], **job.params, "source": "api"}
    return Request(
        "POST", f"/api/{job.operation}", headers={"Accept": "application/json"}, json=body
    )


def _task_id(payload: Mapping[str, Any]) -> str | None:
    task_id = payload.get("taskId")
    if task_id is None and isinstance(payload.get("taskDetails"), Mapping):
        task_id = payload["taskDetails"].get("id")  # the legacy shape
    return str(task_id) if task_id not in (None, "") else None


@hookimpl
def mediatask_read_submission(job: Job, response: Response) -> Submitted:
    payload = response.json_object()
    task_id = _task_id(payload)
    if task_id is None:
        raise PluginError(f"A1D accepted the job but sent no taskId: {response.text[:200]!r}")
    update = (
        _read(job.operation, payload) if "status" in payload or "taskDetails" in payload else None
    )
    # Only a finished answer saves polling; an accepted one is followed like any task.
    return Submitted(task_id, update=update if update and update.status.is_final else None)


@hookimpl
def mediatask_poll(task: TaskRef) -> Request:
    return Request("GET", f"/api/task/{quote(task.task_id, safe='')}")


@hookimpl
def mediatask_stream(task: TaskRef) -> Request:
    return Request(
        "GET",
        f"/api/task/{quote(task.task_id, safe='')}/sse",
        headers={"Accept": "text/event-stream"},
    )


def _outputs(operation: str, payload: Mapping[str, Any]) -> list[Output]:
    mime = payload.get("mimeType")
    video = operation in _VIDEO_OPERATIONS
    main_kind = "video" if video else "vector" if operation == "image-vectorization" else "image"
    found = [
        ("imageUrl", "video" if operation == "video-upscaler" else "image", main_kind, mime),
        ("videoUrl", "video", "video", mime if video else None),
        ("sketchImageUrl", "sketch", "image", None),
        ("thumbUrl", "thumbnail", "image", None),
    ]
    outputs = [
        Output(url=str(payload[field]), role=role, kind=kind, mime_type=mime_type)
        for field, role, kind, mime_type in found
        if payload.get(field)
    ]
    legacy = payload.get("taskDetails")
    if not outputs and isinstance(legacy, Mapping):
        url = legacy.get("result", {}).get("data", {}).get("result_url")
        if url:
            outputs.append(Output(url=str(url), role="image", kind=main_kind))
    return outputs


def _read(operation: str, payload: Mapping[str, Any]) -> Update:
    """Read a submit answer, poll answer or stream event; ``operation`` picks the result fields."""
    raw = payload.get("status")
    if raw is None and isinstance(payload.get("taskDetails"), Mapping):
        raw = payload["taskDetails"].get("status")
    if not isinstance(raw, str) or not raw:
        raise PluginError(f"A1D sent a task state without a status: {dict(payload)!r}"[:300])
    status = _STATUS.get(raw.upper(), Status.RUNNING)
    progress = payload.get("progress")
    fraction = (
        min(max(float(progress) / 100, 0.0), 1.0) if isinstance(progress, int | float) else None
    )
    if status is Status.SUCCEEDED:
        fraction = 1.0
    message = payload.get("error") or payload.get("message")
    return Update(
        status=status,
        raw_status=raw,
        progress=fraction,
        message=str(message) if message else None,
        outputs=_outputs(operation, payload) if status is Status.SUCCEEDED else (),
        payload=payload,
        extra={"duration": payload["duration"]} if "duration" in payload else {},
    )


@hookimpl
def mediatask_parse_result(task: TaskRef, payload: Mapping[str, Any]) -> Update:
    return _read(task.operation, payload)


@hookimpl
def mediatask_emulator() -> ProviderEmulator:
    from mediatask_a1d.emulator import A1DEmulator  # the sandbox extra, on demand

    return A1DEmulator()

"""Echo (reference plugin): a mediatask provider plugin, with an emulator of its API.

Echo's API as the template writes it (the reference plugin's, to be changed into the real
one): it mirrors an image, draws one from a prompt or captions one, asynchronously, as the real
providers work:

- ``POST /v1/echoes`` with ``{"operation": "mirror", "image_url": URL, "axis": ...}``,
  ``{"operation": "draw", "prompt": TEXT, "size": N}`` or ``{"operation": "caption",
  "image_url": URL}`` answers ``201 {"id", "state": "queued"}``;
- ``GET /v1/echoes/{id}`` answers ``{"id", "state"}``, the state one of ``queued``, ``running``
  (with ``progress``), ``done`` (with ``result_url``, or a caption's ``caption``), ``failed``
  (with ``error``) or ``canceled``; ``GET /v1/echoes/{id}/events`` sends the same as
  Server-Sent Events;
- ``DELETE /v1/echoes/{id}`` cancels a task that has not finished;
- an error is ``{"error": {"message": ...}}`` with its HTTP status;
- the key goes in ``Authorization: Bearer <key>``; inputs are URLs only (``--sandbox`` serves
  local files).

The layout of the reference plugin, as ``mediatask new-provider`` writes it:
``docs/writing-a-provider.md`` explains each part. Change what your API spells differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from mediatask.plugin import (
    Cancellation,
    Capabilities,
    Job,
    MediataskError,
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
    error_for_status,
    hookimpl,
    parse_retry_after,
)

INFO = ProviderInfo(
    name="echo",
    title="Echo (reference plugin)",
    base_url="https://echo.invalid",
    auth_scheme="Bearer",
    operations=[
        Operation(
            "mirror",
            "Mirror an image",
            inputs=["image"],
            params=[Param("axis", default="horizontal", choices=("horizontal", "vertical"))],
            input_kinds=["image"],
        ),
        Operation(
            "draw",
            "Draw a square in a colour chosen by the prompt",
            params=[
                Param("prompt", required=True, description="what to draw"),
                Param("size", "int", default=32, choices=(16, 32, 64), description="pixels"),
            ],
        ),
        Operation(
            "caption",
            "Describe an image in one line (an output that is text, not a file)",
            inputs=["image"],
            output_kind="text",
            input_kinds=["image"],
        ),
    ],
    capabilities=Capabilities(stream=True, cancel=True),
)

STATES = {
    "queued": Status.QUEUED,
    "running": Status.RUNNING,
    "done": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "canceled": Status.CANCELED,
}
"""Echo's status words; a word not listed here means the task is still going."""


@hookimpl
def mediatask_providers() -> list[ProviderInfo]:
    return [INFO]


@hookimpl
def mediatask_submit(job: Job) -> Request:
    if job.inputs:  # mirror, caption: the image by its URL
        body = {"operation": job.operation, "image_url": job.inputs[0], **job.params}
    else:
        body = {"operation": job.operation, **job.params}
    return Request("POST", "/v1/echoes", json=body)


@hookimpl
def mediatask_read_submission(response: Response) -> Submitted:
    payload = response.json_object()
    task_id = payload.get("id")
    if not isinstance(task_id, str) or not task_id:
        raise PluginError(f"Echo answered a submit without an id: {dict(payload)!r}"[:300])
    return Submitted(task_id)


@hookimpl
def mediatask_poll(task: TaskRef) -> Request:
    return Request("GET", f"/v1/echoes/{quote(task.task_id, safe='')}")


@hookimpl
def mediatask_stream(task: TaskRef) -> Request:
    return Request(
        "GET",
        f"/v1/echoes/{quote(task.task_id, safe='')}/events",
        headers={"Accept": "text/event-stream"},
    )


@hookimpl
def mediatask_cancel(task: TaskRef) -> Request:
    return Request("DELETE", f"/v1/echoes/{quote(task.task_id, safe='')}")


@hookimpl
def mediatask_read_cancel(task: TaskRef) -> Cancellation:
    # Echo answers a cancel only when it stopped the task; a finished one is refused (409),
    # and the core then finds it final: "nothing to cancel (already final: succeeded)".
    return Cancellation.canceled(f"canceled {task.handle}")


@hookimpl
def mediatask_parse_result(payload: Mapping[str, Any]) -> Update:
    word = payload.get("state")
    if not isinstance(word, str) or not word:
        raise PluginError(f"Echo sent a task without a state: {dict(payload)!r}"[:300])
    status = STATES.get(word, Status.RUNNING)
    outputs = []
    if status is Status.SUCCEEDED:
        outputs = [_output(payload)]
    error = payload.get("error") if status is Status.FAILED else None
    percent = payload.get("progress") if status is Status.RUNNING else None
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        percent = None  # no progress rather than a wrong one
    return Update(
        status,
        word,
        progress=None if percent is None else percent / 100,
        message=str(error) if error else None,
        outputs=outputs,
        payload=payload,
    )


def _output(payload: Mapping[str, Any]) -> Output:
    """A finished task's output: its caption (a value), or its image (a file to download)."""
    caption = payload.get("caption")
    if isinstance(caption, str):
        return Output.text(caption, role="caption")
    url = payload.get("result_url")
    if not isinstance(url, str) or not url:
        raise PluginError("Echo sent a finished task without its result_url")
    return Output(url=url, role="image", kind="image", mime_type="image/png")


@hookimpl
def mediatask_read_error(response: Response) -> MediataskError | None:
    if response.ok:
        return None
    try:
        error = response.json_object().get("error")
    except MediataskError:  # not JSON: the status alone says it
        error = None
    message = error.get("message") if isinstance(error, Mapping) else None
    return error_for_status(
        INFO,
        response.status,
        str(message) if message else "",
        retry_after=parse_retry_after(response.headers),
        url=response.url,
    )


@hookimpl
def mediatask_emulator() -> ProviderEmulator:
    from mediatask_echo.emulator import EchoEmulator  # the sandbox extra, on demand

    return EchoEmulator()

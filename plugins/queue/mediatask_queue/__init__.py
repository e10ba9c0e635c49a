"""Queue (reference plugin): a model-hosting queue whose final status carries no result.

The shape of many model-hosting APIs, where the status says only *that* a request ended and
the outputs (or the model's error) come from another endpoint:

- ``POST /{model}`` with the model's input as JSON answers ``{"request_id", "status"}``;
- ``GET /{model}/requests/{id}/status`` answers ``{"request_id", "status"}``, the status one of
  ``IN_QUEUE``, ``IN_PROGRESS`` (with ``progress``) or ``COMPLETED``;
  ``GET /{model}/requests/{id}/status/stream`` sends the same as Server-Sent Events and ends
  after ``COMPLETED``;
- ``GET /{model}/requests/{id}`` answers the outputs, ``{"images": [{"url", "content_type"}]}``,
  or the model's error with its HTTP status and ``{"detail", "error_type": "model"}``
  (``"error_type": "canceled"`` for a canceled request);
- ``PUT /{model}/requests/{id}/cancel`` cancels a request that has not finished;
- any other error is ``{"detail": ...}`` with its HTTP status; the key goes in
  ``Authorization: Key <key>``;
- a submit with ``Prefer: wait=N`` (N up to 60) is held until the request ends or N seconds
  pass, then answered as usual (``Capabilities.submit_blocks``: Ctrl-C does not wait for it).

So ``COMPLETED`` reads as a success without outputs, the result step (``mediatask_result``)
names the result request, and an error answer to it is the task's failure (``FailedTask``).
``docs/writing-a-provider.md`` walks through this shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from mediatask.plugin import (
    Capabilities,
    FailedTask,
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

MAX_WAIT = 60
"""The longest ``Prefer: wait`` the queue honours, in seconds."""

INFO = ProviderInfo(
    name="queue",
    title="Queue (reference plugin)",
    base_url="https://queue.invalid",
    auth_scheme="Key",
    operations=[
        Operation(
            "draw",
            "Draw a square in a colour chosen by the prompt (the model draw)",
            params=[
                Param("prompt", required=True, description="what to draw"),
                Param("size", "int", default=32, choices=(16, 32, 64), description="pixels"),
                Param(
                    "wait",
                    "int",
                    minimum=1,
                    maximum=MAX_WAIT,
                    description="seconds the submit may wait for the request to end",
                ),
            ],
        ),
    ],
    capabilities=Capabilities(stream=True, cancel=True, stream_ends=True, submit_blocks=MAX_WAIT),
)

STATES = {
    "IN_QUEUE": Status.QUEUED,
    "IN_PROGRESS": Status.RUNNING,
    "COMPLETED": Status.SUCCEEDED,
}
"""The queue's status words; ``COMPLETED`` says only that the request ended (the result step
tells how). A word not listed here means the request is still going."""

TASK_ENDS = {"model": False, "canceled": True}
"""``error_type`` values of a result answer that are the request's own end: canceled or not."""


def _request_path(task: TaskRef) -> str:
    return f"/{quote(task.operation, safe='')}/requests/{quote(task.task_id, safe='')}"


@hookimpl
def mediatask_providers() -> list[ProviderInfo]:
    return [INFO]


@hookimpl
def mediatask_submit(job: Job) -> Request:
    body = {name: value for name, value in job.params.items() if name != "wait"}
    wait = job.params.get("wait")
    headers = {"Prefer": f"wait={wait}"} if wait is not None else {}
    return Request("POST", f"/{quote(job.operation, safe='')}", json=body, headers=headers)


@hookimpl
def mediatask_read_submission(response: Response) -> Submitted:
    request_id = response.json_object().get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise PluginError("the queue answered a submit without a request_id")
    return Submitted(request_id)


@hookimpl
def mediatask_poll(task: TaskRef) -> Request:
    return Request("GET", f"{_request_path(task)}/status")


@hookimpl
def mediatask_stream(task: TaskRef) -> Request:
    return Request(
        "GET", f"{_request_path(task)}/status/stream", headers={"Accept": "text/event-stream"}
    )


@hookimpl
def mediatask_parse_result(payload: Mapping[str, Any]) -> Update:
    word = payload.get("status")
    if not isinstance(word, str) or not word:
        raise PluginError(f"the queue sent a status without its word: {dict(payload)!r}"[:300])
    status = STATES.get(word, Status.RUNNING)
    percent = payload.get("progress") if status is Status.RUNNING else None
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        percent = None
    return Update(
        status, word, progress=None if percent is None else percent / 100, payload=payload
    )


@hookimpl
def mediatask_result(task: TaskRef, update: Update) -> Request:
    return Request("GET", _request_path(task))


@hookimpl
def mediatask_read_result(update: Update, response: Response) -> Update:
    payload = response.json_object()
    images = payload.get("images")
    if not isinstance(images, list) or not images:
        raise PluginError(f"the queue sent a result without images: {dict(payload)!r}"[:300])
    outputs = []
    for image in images:
        url = image.get("url") if isinstance(image, Mapping) else None
        if not isinstance(url, str) or not url:
            raise PluginError("the queue sent an image without its url")
        mime_type = image.get("content_type")
        outputs.append(
            Output(
                url=url,
                role="image",
                kind="image",
                mime_type=mime_type if isinstance(mime_type, str) else None,
            )
        )
    return Update(Status.SUCCEEDED, update.raw_status, outputs=outputs, payload=payload)


@hookimpl
def mediatask_cancel(task: TaskRef) -> Request:
    return Request("PUT", f"{_request_path(task)}/cancel")


@hookimpl
def mediatask_read_cancel(task: TaskRef) -> str:
    return f"cancel requested for {task.handle}"


@hookimpl
def mediatask_read_error(request: Request, response: Response) -> MediataskError | None:
    if response.ok:
        return None
    try:
        body = response.json_object()
    except MediataskError:  # not JSON: the status alone says it
        body = {}
    detail = str(body.get("detail") or "")
    end = TASK_ENDS.get(str(body.get("error_type") or ""))
    if end is not None:  # the model's own error, or a canceled request: the task's end
        said = detail or f"HTTP {response.status}"
        return FailedTask(said, canceled=end, status=response.status)
    return error_for_status(
        INFO,
        response.status,
        detail,
        retry_after=parse_retry_after(response.headers),
        url=response.url,
    )


@hookimpl
def mediatask_emulator() -> ProviderEmulator:
    from mediatask_queue.emulator import QueueEmulator  # the sandbox extra, on demand

    return QueueEmulator()

"""A2E (a2e.ai) for mediatask: translation between our model and A2E's HTTP API. No I/O here.

One bearer token opens every A2E family (image-to-video, talking photo and video, face swap,
dubbing, caption removal, avatar videos, TTS, text-to-image). Each family has its own
endpoints, so a task is found again through its operation (``TaskRef.operation``, or
``extra["operation"]``). Answers are wrapped in ``{code, data, trace_id}``; errors come either
as HTTP 200 with a non-zero ``code`` or as HTTP 4xx ``{success: false, error, code}``. A2E takes
URLs only: local files are uploaded through its presigned-upload endpoint first.
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mediatask.plugin import (
    Credits,
    Job,
    MediataskError,
    Output,
    PluginError,
    ProviderEmulator,
    ProviderInfo,
    Request,
    Response,
    Status,
    Submitted,
    TaskRef,
    Update,
    UsageError,
    hookimpl,
)
from mediatask_a2e.families import FAMILIES, INFO, OPERATIONS, Family, family_of
from mediatask_a2e.reading import (
    created_at,
    data_of,
    read_error,
    read_record,
    read_records,
    record_of,
)

__all__ = ["FAMILIES", "INFO", "OPERATIONS"]

OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")
PRESIGN_PATH = "/api/v1/r2/upload-presigned-url"
"""The spec's preferred name (third-party clients use ``/api/v1/r2/get_upload_presigned_url``)."""
TTS_MAX_CHARACTERS = 1000
"""``send_tts`` takes at most this many characters from API users."""
PAGE_SIZE = 100
MARKER = re.compile(r"mediatask-[0-9a-f]{16}")
"""A submit's marker (hook ``mediatask_submit``), as it is found in a task's name or title."""
_DEFAULT_NAME = "mediatask"


@hookimpl
def mediatask_providers() -> list[ProviderInfo]:
    return [INFO]


def _kind(operation: str) -> str:
    found = INFO.operation(operation)
    return found.output_kind if found is not None else "file"


@hookimpl
def mediatask_validate(job: Job) -> Job | None:
    params, where = job.params, f"a2e {job.operation}"
    flf2v = job.operation == "image-to-video" and params.get("model_type") == "FLF2V"
    if flf2v and not params.get("end_image_url"):
        raise UsageError(f"{where}: model_type FLF2V needs -p end_image_url=URL")
    if job.operation == "tts":
        if len(params["msg"]) > TTS_MAX_CHARACTERS:
            raise UsageError(f"{where}: msg is at most {TTS_MAX_CHARACTERS} characters")
        if bool(params.get("tts_id")) == bool(params.get("user_voice_id")):
            raise UsageError(f"{where}: pass exactly one of -p tts_id=... or -p user_voice_id=...")
        voice = params.get("user_voice_id")
        if voice and not OBJECT_ID.fullmatch(voice):
            raise UsageError(f"{where}: user_voice_id must be a 24-hex id, got {voice!r}")
    if job.operation == "avatar-video":
        if not OBJECT_ID.fullmatch(params["anchor_id"]):
            raise UsageError(f"{where}: anchor_id must be a 24-hex id, got {params['anchor_id']!r}")
        if params.get("back_id") and params.get("custom_back_id"):
            raise UsageError(f"{where}: pass back_id or custom_back_id, not both (A2E error 30005)")
        if len(params.get("title") or "") > 40:
            raise UsageError(f"{where}: title is at most 40 characters")
    return None


def _marked(operation: str, params: Mapping[str, Any], marker: str) -> dict[str, Any]:
    """The parameters with ``marker`` in the task's name (avatar videos: title).

    The default name becomes the marker; a name of the user's own keeps it, with the marker
    after it in brackets. A title of the user's own (at most 40 characters) is left alone.
    """
    marked = dict(params)
    if not marker or operation == "tts":
        return marked
    if operation == "avatar-video":
        if not marked.get("title"):
            marked["title"] = marker
        return marked
    name = marked.get("name")
    marked["name"] = marker if name in (None, "", _DEFAULT_NAME) else f"{name} ({marker})"
    return marked


@hookimpl
def mediatask_submit(job: Job, marker: str) -> Request:
    family = FAMILIES[job.operation]
    body: dict[str, Any] = dict(zip(family.input_fields, job.inputs, strict=True))
    body.update(_marked(job.operation, job.params, marker))
    if job.operation == "caption-removal":
        body["video_url"] = body["source_url"]  # third-party clients' name for the same field
    if job.operation == "image-to-video" and "negative_prompt" in body:
        body["negative_prmpt"] = body["negative_prompt"]  # the vendor schema's spelling (sic)
    return Request("POST", family.start_url, json=body)


def _tts_id(url: str) -> str:
    return "tts-" + sha256(url.encode()).hexdigest()[:16]


@hookimpl
def mediatask_read_submission(job: Job, response: Response) -> Submitted:
    data = data_of(response.json_object())
    operation = job.operation
    if operation == "tts":  # synchronous: data is the audio URL itself
        if not isinstance(data, str) or not data:
            raise PluginError(f"A2E's send_tts answered no audio URL: {data!r}"[:300])
        audio = Output(url=data, role="audio", kind="audio", mime_type="audio/mpeg")
        update = Update(Status.SUCCEEDED, "completed", 1.0, outputs=[audio], payload={"data": data})
        return Submitted(_tts_id(data), {"operation": operation, "audio_url": data}, update)
    records = data if isinstance(data, list) else [data]
    if not records or not all(isinstance(r, Mapping) and r.get("_id") for r in records):
        raise PluginError(f"A2E accepted the job but sent no task _id: {data!r}"[:300])
    extra = {"operation": operation}
    coins = [r["coins"] for r in records if isinstance(r.get("coins"), int | float)]
    if coins:
        extra["coins"] = str(sum(coins))
    if len(records) > 1:  # text-to-image with max_images: one task per image
        extra["task_ids"] = ",".join(str(r["_id"]) for r in records)
    return Submitted(str(records[0]["_id"]), extra)


def _ids(task: TaskRef) -> list[str]:
    return task.extra.get("task_ids", task.task_id).split(",")


@hookimpl
def mediatask_poll(task: TaskRef) -> Request:
    family = family_of(task)
    task_id = quote(task.task_id, safe="")
    if family.operation == "tts":
        raise UsageError(
            f"{task.handle}: A2E text-to-speech answers at once; there is no task to follow"
        )
    if family.operation == "avatar-video":
        return Request("POST", "/api/v1/video/awsResult", json={"_id": task.task_id})
    if len(_ids(task)) > 1:
        return Request("POST", f"/api/v1/{family.prefix}/batchDetail", json={"ids": _ids(task)})
    return Request("GET", f"/api/v1/{family.prefix}/{task_id}")


@hookimpl
def mediatask_stream() -> None:
    return None  # A2E has no status stream: the engine polls


@hookimpl
def mediatask_parse_result(task: TaskRef, payload: Mapping[str, Any]) -> Update:
    family = family_of(task)
    kind = _kind(family.operation)
    data = data_of(payload)
    ids = _ids(task)
    if len(ids) > 1 and isinstance(data, list):
        wanted = set(ids)
        return read_records([r for r in data if str(r.get("_id")) in wanted], kind)
    return read_record(record_of(task.task_id, data), kind)


@hookimpl
def mediatask_read_error(request: Request, response: Response) -> MediataskError | None:
    return read_error(request, response)


@hookimpl
def mediatask_upload(path: Path, history: Sequence[Response]) -> Request | str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if not history:
        safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", path.name)
        key = f"mediatask/{uuid.uuid4().hex}/{safe_name}"
        return Request("POST", PRESIGN_PATH, json={"key": key, "contentType": mime})
    grant = data_of(history[0].json_object())
    if not isinstance(grant, Mapping) or not grant.get("uploadUrl") or not grant.get("cdnUrl"):
        raise PluginError(f"A2E's presigned-upload answer lacks uploadUrl/cdnUrl: {grant!r}"[:300])
    if len(history) == 1:
        headers = {"Content-Type": mime}
        # The storage is another origin (and checks its own signature): never send the key.
        return Request(
            "PUT", str(grant["uploadUrl"]), headers=headers, upload=path, authenticated=False
        )
    return str(grant["cdnUrl"])


@hookimpl
def mediatask_cancel(task: TaskRef) -> Request | None:
    family = family_of(task)
    if family.operation == "tts":
        return None  # nothing runs: the audio exists already
    # Avatar videos: the vendor's delete path is NOT FOUND; DELETE /video/{_id} is a
    # third-party claim (UNCONFIRMED).
    return Request("DELETE", f"/api/v1/{family.prefix}/{quote(task.task_id, safe='')}")


@hookimpl
def mediatask_read_cancel(task: TaskRef, response: Response) -> str:
    data = data_of(response.json_object()) if response.body else None
    refunded = data.get("refunded_coins") if isinstance(data, Mapping) else None
    if isinstance(refunded, int | float) and refunded > 0:
        return f"deleted {task.handle}; {refunded:g} coins refunded (it had not started)"
    if isinstance(refunded, int | float):
        return f"deleted {task.handle}; no coins refunded (it had already run)"
    return (
        f"deleted {task.handle}; A2E refunds a task's coins only when it is deleted before "
        "it starts (initialized)"
    )


def _list_family(operation: str | None) -> Family:
    family = FAMILIES.get(operation or "image-to-video")
    if family is None:
        choices = ", ".join(FAMILIES)
        raise UsageError(f"a2e has no operation {operation!r}; choose one of: {choices}")
    return family


def _page_name(family: Family) -> str:
    """The query parameter that numbers a family's list pages."""
    return "current" if family.operation == "avatar-video" else "pageNum"


def _list_page(family: Family, number: int) -> Request:
    params = {_page_name(family): str(number), "pageSize": str(PAGE_SIZE)}
    return Request("GET", f"/api/v1/{family.prefix}/{family.list_path}", params=params)


@hookimpl
def mediatask_list(operation: str | None) -> Request | None:
    family = _list_family(operation)
    return None if family.list_path is None else _list_page(family, 1)


def _rows(response: Response) -> tuple[list[Any], Any]:
    """A list answer's rows and its total (``count``, or ``total`` for avatar videos)."""
    data = data_of(response.json_object())
    rows = data.get("rows", data.get("data")) if isinstance(data, Mapping) else data
    if not isinstance(rows, list):
        raise PluginError(f"A2E sent a list without rows: {data!r}"[:300])
    total = data.get("count", data.get("total")) if isinstance(data, Mapping) else None
    return rows, total


@hookimpl
def mediatask_read_list(operation: str | None, response: Response) -> list[Submitted]:
    family = _list_family(operation)
    rows, _ = _rows(response)
    kind = _kind(family.operation)
    return [
        Submitted(
            str(row["_id"]),
            _listed_extra(family.operation, row),
            read_record(row, kind),
            created_at=_aware(created_at(row)),
        )
        for row in rows
        if isinstance(row, Mapping) and row.get("_id")
    ]


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is not None and moment.tzinfo is not None else None


@hookimpl
def mediatask_next_page(
    operation: str | None, request: Request, response: Response
) -> Request | None:
    """The next page while the pages so far hold fewer rows than the answer's total."""
    family = _list_family(operation)
    rows, total = _rows(response)
    try:
        number = int(request.params.get(_page_name(family), "1"))
    except ValueError:
        return None
    if not rows or not isinstance(total, int) or number * PAGE_SIZE >= total:
        return None
    return _list_page(family, number + 1)


def _listed_extra(operation: str, row: Mapping[str, Any]) -> dict[str, str]:
    """What a list row tells besides its state: the operation, and the marker it was named with."""
    extra = {"operation": operation}
    found = MARKER.search(str(row.get("title" if operation == "avatar-video" else "name") or ""))
    if found is not None:
        extra["marker"] = found.group()
    return extra


@hookimpl
def mediatask_credits() -> Request:
    return Request("GET", "/api/v1/user/remainingCoins")


@hookimpl
def mediatask_read_credits(response: Response) -> Credits:
    data = data_of(response.json_object())
    if not isinstance(data, Mapping) or not isinstance(data.get("coins"), int | float):
        raise PluginError(f"A2E sent no coins in its balance: {data!r}"[:300])
    extra = {"diamonds": data["diamonds"]} if "diamonds" in data else {}
    return Credits(float(data["coins"]), unit="coins", extra=extra)


@hookimpl
def mediatask_emulator() -> ProviderEmulator:
    from mediatask_a2e.emulator import A2EEmulator  # the sandbox extra, on demand

    return A2EEmulator()

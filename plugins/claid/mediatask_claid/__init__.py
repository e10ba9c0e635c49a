"""Claid.ai for mediatask: translation between our model and Claid's image-edit API. No I/O here.

One operation, ``edit``, takes Claid's whole edit document (``operations`` and ``output``),
checked before any network call against the schema in :mod:`mediatask_claid.contract`. A URL input
goes through the async endpoint (``POST /v1/image/edit/async``, then its ``result_url``); a local
file goes through the multipart upload endpoint, whose answer is already the result (the task id
is then synthetic: ``upload-<12 hex digits of the answer's hash>``). Ids are integers on the wire
and strings in our ``TaskRef``; both ``/v1`` and ``/v1-beta1`` paths are understood.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

import attrs

from mediatask.plugin import (
    Capabilities,
    Job,
    LocalFiles,
    MalformedPayloadError,
    MediataskError,
    Operation,
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
    error_for_status,
    hookimpl,
    is_url,
    parse_rate_limit_reset,
    parse_retry_after,
)
from mediatask_claid.contract import OPERATIONS, OUTPUT, UPLOAD, assemble, plain, problems
from mediatask_claid.schema import as_param

LIFETIME = timedelta(days=1)
"""How long Claid keeps a result in its temporary bucket: "Images are stored for one day"."""
DOCUMENTED_CODES = frozenset({"111", "2001", "9000"})
"""The ``error_code`` values Claid publishes (auth, rate limit, validation); others are shown
as undocumented, not as Claid's word."""
STORAGE = "storage://"

INFO = ProviderInfo(
    name="claid",
    title="Claid.ai",
    base_url="https://api.claid.ai",
    auth_scheme="Bearer",
    operations=(
        Operation(
            "edit",
            "Edit an image: restore, resize, adjust, cut out or recolour the background, convert",
            ("image",),
            (
                attrs.evolve(
                    as_param("operations", OPERATIONS),
                    description="the edit operations, e.g. -p operations.resizing.width=1000",
                ),
                attrs.evolve(
                    as_param("output", OUTPUT),
                    description="output options, e.g. -p output.format=png",
                ),
            ),
            open_params=True,
            input_kinds=("image",),  # BMP, GIF, JPEG, PNG, TIFF, WEBP, AVIF, HEIC (image-i-o)
        ),
    ),
    capabilities=Capabilities(local_files=LocalFiles.INLINE, input_schemes=("storage",)),
    docs_url="https://docs.claid.ai/image-editing-api/api-reference",
    rate_limits=((4, 1.0), (120, 60.0)),  # the documented default plan; answers list the account's
    result_lifetime=LIFETIME.total_seconds(),
)

STATUS = {
    "ACCEPTED": Status.QUEUED,
    "WAITING": Status.QUEUED,
    "PAUSED": Status.QUEUED,
    "PROCESSING": Status.RUNNING,
    "DONE": Status.SUCCEEDED,
    "ERROR": Status.FAILED,
    "CANCELLED": Status.CANCELED,
}
"""Claid's status words (spec enum ``APIV1Status``). PAUSED and WAITING are undocumented: they
are read as not started yet; an unknown word is read as still running."""
ASYNC_PATH = "v1/image/edit/async"
UPLOAD_PATH = "v1/image/edit/upload"
_RESULT_PATH = re.compile(r"/?(v1(?:-beta1)?/image/edit/async)/(\d+)/?")


@hookimpl
def mediatask_providers() -> list[ProviderInfo]:
    return [INFO]


@hookimpl
def mediatask_validate(job: Job) -> Job:
    if "input" in job.params:
        raise UsageError("claid edit: input: give the image with --input, not as a parameter")
    document, found = assemble(job.params)
    document.setdefault("operations", {})  # Claid requires it; an empty one converts only
    found = found or problems(document, UPLOAD)
    if found:
        shown = "; ".join(str(problem) for problem in found[:3])
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        raise UsageError(f"claid edit: {shown}{more}")
    return attrs.evolve(job, params=document)


@hookimpl
def mediatask_submit(job: Job) -> Request:
    source = job.inputs[0]
    if is_url(source) or source.startswith(STORAGE):  # Claid reads both itself
        return Request("POST", ASYNC_PATH, json={"input": source, **plain(job.params)})
    # LocalFiles.INLINE: the core hands us the file's absolute path. The upload reference: the
    # ``data`` part carries ``Content-Type: application/json``; the ``file`` part's filename
    # names the output, "better not to include the extension".
    data = json.dumps(plain(job.params), separators=(",", ":"))
    return Request(
        "POST",
        UPLOAD_PATH,
        fields={"data": data},
        field_types={"data": "application/json"},
        files={"file": source},
        file_names={"file": PurePath(source).stem or "image"},
    )


def _data(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise PluginError(f"Claid sent an answer without a data object: {dict(payload)!r}"[:300])
    return data


def task_number(value: Any) -> int:
    """Claid's integer task id from an answer's ``id`` (or a string of digits)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise PluginError(f"Claid sent a task id that is not an integer: {value!r}")


def result_path(url: str) -> str | None:
    """The ``v1[-beta1]/image/edit/async/<id>`` path of a result URL, or ``None``."""
    match = _RESULT_PATH.fullmatch(urlsplit(url).path)
    return f"{match[1]}/{match[2]}" if match else None


@hookimpl
def mediatask_read_submission(response: Response) -> Submitted:
    payload = response.json_object()
    data = _data(payload)
    if "output" in data:  # the upload endpoint: the result itself
        digest = hashlib.sha256(response.body).hexdigest()[:12]
        return Submitted(f"upload-{digest}", {"endpoint": "upload"}, _read(payload))
    number = task_number(data.get("id"))
    url = data.get("result_url")
    path = result_path(url) if isinstance(url, str) else None
    return Submitted(str(number), {"result_path": path or f"{ASYNC_PATH}/{number}"})


@hookimpl
def mediatask_poll(task: TaskRef) -> Request:
    if task.extra.get("endpoint") == "upload":
        raise UsageError(f"{task.handle} came from an upload: it was final at once")
    number = task_number(task.task_id)
    # A relative path: joined to the configured base URL, so the key goes with it.
    path = task.extra.get("result_path") or f"{ASYNC_PATH}/{number}"
    # Claid's limits count image-processing requests; reading a result is not one.
    return Request("GET", path, rate_limited=False)


def _created(data: Mapping[str, Any]) -> datetime | None:
    """The task's ``created_at`` (ISO 8601, ``Z`` or an offset); ``None`` if absent or odd."""
    value = data.get("created_at")
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _image_output(item: Mapping[str, Any], created: datetime | None = None) -> Output | None:
    """The output object as an Output: its ``tmp_url`` (kept a day from ``created``, the
    earliest the task can have completed), or the storage location it was written to."""
    width, height = item.get("width"), item.get("height")
    common: dict[str, Any] = {
        "role": "image",
        "kind": "image",
        "mime_type": str(item["mime"]) if item.get("mime") else None,
        "width": width if isinstance(width, int) else None,
        "height": height if isinstance(height, int) else None,
    }
    url = item.get("tmp_url")
    if isinstance(url, str) and url:
        expires = created + LIFETIME if created is not None else None
        return Output(url=url, expires_at=expires, **common)
    place = item.get("claid_storage_uri") or item.get("object_uri")
    if isinstance(place, str) and place:  # written to the job's destination: nothing to fetch
        return Output(url=place, downloadable=False, **common)
    return None


def _read(payload: Mapping[str, Any]) -> Update:
    data = _data(payload)
    if "output" in data:  # a sync or upload answer
        output = data["output"] if isinstance(data["output"], Mapping) else {}
        found = _image_output(output)
        extra = {"input_object": data.get("input"), "output_object": output}
        return Update(
            Status.SUCCEEDED,
            "DONE",
            1.0,
            outputs=[found] if found else [],
            payload=payload,
            extra=extra,
        )
    raw = data.get("status")
    if not isinstance(raw, str) or not raw:
        raise PluginError(f"Claid sent a task state without a status: {dict(data)!r}"[:300])
    status = STATUS.get(raw.upper(), Status.RUNNING)
    message = "; ".join(
        str(error.get("error")) for error in data.get("errors") or () if isinstance(error, Mapping)
    )
    given = data.get("result")
    result: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    outputs: list[Output] = []
    kept: dict[str, Any] = {}
    if status is Status.SUCCEEDED:
        output = result.get("output_object") or {}
        found = _image_output(output, _created(data)) if isinstance(output, Mapping) else None
        outputs = [found] if found else []
        kept = {"input_object": result.get("input_object"), "output_object": output}
    return Update(
        status=status,
        raw_status=raw,
        progress=1.0 if status is Status.SUCCEEDED else None,
        message=message or None,
        outputs=outputs,
        payload=payload,
        extra=kept,
    )


@hookimpl
def mediatask_parse_result(payload: Mapping[str, Any]) -> Update:
    return _read(payload)


def _envelope(response: Response) -> Mapping[str, Any]:
    """Claid's error object: top-level, or nested under ``detail`` (the 429 variant)."""
    try:
        body = response.json_object()
    except MalformedPayloadError:
        return {}
    detail = body.get("detail")
    return detail if isinstance(detail, Mapping) else body


def reset_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds until the rate-limit window resets, from ``RateLimit-Reset`` (or ``Retry-After``)."""
    reset = parse_rate_limit_reset(headers)
    if reset is None:
        reset = parse_retry_after(headers)
    return reset


def describe(envelope: Mapping[str, Any]) -> str:
    """A one-line account of an error envelope, naming each field of ``error_details``.

    Also reads the FastAPI-style 422 some endpoints send: ``{"detail": [{"loc", "msg"}]}``.
    """
    details = envelope.get("error_details")
    if isinstance(details, Mapping) and details:
        return "; ".join(
            f"{path}: {', '.join(map(str, reasons)) if isinstance(reasons, list) else reasons}"
            for path, reasons in details.items()
        )
    items = envelope.get("detail")
    if isinstance(items, list) and items:
        return "; ".join(
            f"{'.'.join(map(str, item.get('loc') or ()))}: {item.get('msg', '')}".lstrip(": ")
            if isinstance(item, Mapping)
            else str(item)
            for item in items
        )
    message = envelope.get("error_message") or envelope.get("message") or ""
    return str(message).strip()


@hookimpl
def mediatask_read_error(request: Request, response: Response) -> MediataskError | None:
    if response.ok:
        return None
    envelope = _envelope(response)
    code = envelope.get("error_code")
    shown = ""
    if code:
        known = str(code) in DOCUMENTED_CODES
        shown = f"[error {code}]" if known else f"[code {code}, not one Claid documents]"
    detail = " ".join(part for part in (describe(envelope), shown) if part)
    if response.status in (401, 403):
        detail = "; ".join(
            part for part in (detail, "the key needs the image_editing scope") if part
        )
    return error_for_status(
        INFO, response.status, detail, retry_after=reset_seconds(response.headers), url=response.url
    )


@hookimpl
def mediatask_emulator() -> ProviderEmulator:
    from mediatask_claid.emulator import ClaidEmulator  # the sandbox extra, on demand

    return ClaidEmulator()

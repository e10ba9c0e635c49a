"""Reading A2E's answers: the ``{code, data, trace_id}`` envelope, task records, and errors.

Pure functions of payloads; the hooks in ``mediatask_a2e`` call them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from mediatask.plugin import (
    InsufficientCreditsError,
    MediataskError,
    Output,
    PluginError,
    RejectedError,
    Request,
    Response,
    Status,
    Update,
    error_for_status,
)
from mediatask_a2e.families import INFO

RETENTION = timedelta(days=3)
"""How long A2E keeps result files (and records) after a task."""

# Most families: ``current_status`` (voice clone spells one ``pendding``).
CURRENT_STATUS = {
    "initialized": Status.QUEUED,
    "sent": Status.QUEUED,
    "pending": Status.QUEUED,
    "pendding": Status.QUEUED,
    "processing": Status.RUNNING,
    "completed": Status.SUCCEEDED,
    "failed": Status.FAILED,
}
# Avatar videos: ``status``, with a progress number in ``process``.
AVATAR_STATUS = {
    "init": Status.QUEUED,
    "start": Status.QUEUED,
    "pending": Status.QUEUED,
    "process": Status.RUNNING,
    "copy": Status.RUNNING,
    "success": Status.SUCCEEDED,
    "fail": Status.FAILED,
}
_KINDS = {"video": "video/mp4", "image": None, "audio": "audio/mpeg"}


def data_of(payload: Mapping[str, Any]) -> Any:
    """The ``data`` of a success envelope (``{code: 0, data}`` or ``{success: true, data}``)."""
    if "data" not in payload:
        raise PluginError(f"A2E sent an answer without data: {dict(payload)!r}"[:300])
    return payload["data"]


def record_of(task_id: str, data: Any) -> Mapping[str, Any]:
    """The task's record in ``data``: the object itself, or the element of an array with its id.

    ``video/awsResult`` answers an array for one id: the element with the id, else the first.
    """
    if isinstance(data, Mapping):
        return data
    if isinstance(data, Sequence) and not isinstance(data, str) and data:
        records = [item for item in data if isinstance(item, Mapping)]
        return next((r for r in records if str(r.get("_id")) == task_id), records[0])
    raise PluginError(f"A2E sent no record for task {task_id}: {data!r}"[:300])


def created_at(record: Mapping[str, Any]) -> datetime | None:
    """When A2E created the task of ``record`` (its ``createdAt``), if it says."""
    try:
        return datetime.fromisoformat(str(record["createdAt"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None


def _outputs(record: Mapping[str, Any], kind: str) -> list[Output]:
    created = created_at(record)
    expires = created + RETENTION if created is not None and created.tzinfo else None
    urls = [record.get("result_url") or record.get("result")]
    images = record.get("image_urls")
    if isinstance(images, list):
        urls, kind = list(images), "image"
    return [
        Output(url=str(url), role=kind, kind=kind, mime_type=_KINDS.get(kind), expires_at=expires)
        for url in urls
        if isinstance(url, str) and url
    ]


def _message(record: Mapping[str, Any]) -> str | None:
    for field in ("failed_message", "faild_message", "msg"):  # faild_message: face swap, sic
        if record.get(field):
            return str(record[field])
    return None


def read_record(record: Mapping[str, Any], kind: str) -> Update:
    """One task record (any family) as an Update; ``kind`` is the operation's output kind."""
    avatar = "current_status" not in record and "status" in record
    raw = record.get("status" if avatar else "current_status")
    if not isinstance(raw, str) or not raw:
        raise PluginError(f"A2E sent a task record without a status: {dict(record)!r}"[:300])
    status = (AVATAR_STATUS if avatar else CURRENT_STATUS).get(raw, Status.RUNNING)
    progress = None
    if avatar and isinstance(record.get("process"), int | float):
        progress = min(max(float(record["process"]) / 100, 0.0), 1.0)
    if status is Status.SUCCEEDED:
        progress = 1.0
    extra = {"coins": record["coins"]} if isinstance(record.get("coins"), int | float) else {}
    code = record.get("failed_code") or record.get("error_code")
    if status is Status.FAILED and code not in (None, "", "0"):
        extra["failed_code"] = str(code)
    return Update(
        status=status,
        raw_status=raw,
        progress=progress,
        message=_message(record) if status is Status.FAILED else None,
        outputs=_outputs(record, kind) if status is Status.SUCCEEDED else (),
        payload=record,
        extra=extra,
    )


def read_records(records: Sequence[Mapping[str, Any]], kind: str) -> Update:
    """Several tasks of one job (text-to-image with ``max_images``) as one Update.

    Final when all are; succeeded with every image when all succeeded; else the least
    advanced state. Coins add up.
    """
    updates = [read_record(record, kind) for record in records]
    if not updates:
        raise PluginError("A2E sent no records for the job's tasks")
    coins = sum(u.extra.get("coins", 0) for u in updates)
    failed = next((u for u in updates if u.status is Status.FAILED), None)
    if all(u.status.is_final for u in updates) and failed is not None:
        chosen = failed
    elif all(u.status is Status.SUCCEEDED for u in updates):
        outputs = [output for u in updates for output in u.outputs]
        chosen = Update(Status.SUCCEEDED, updates[0].raw_status, 1.0, outputs=outputs)
    else:
        chosen = next(u for u in updates if not u.status.is_final)
    return Update(
        chosen.status,
        chosen.raw_status,
        chosen.progress,
        chosen.message,
        chosen.outputs,
        payload={"data": list(records)},
        extra={**chosen.extra, "coins": coins},
    )


# -- errors ---------------------------------------------------------------------------------

_MINOR = {
    "1003": "A2E detected a minor in the input (code 1003); it will not process this input",
    "1004": (
        "A2E suspects a minor in the input (code 1004); if everyone shown is an adult, submit "
        "again with -p minor_suspected_skip=true (image-to-video takes it)"
    ),
}


def _body(response: Response) -> Mapping[str, Any] | None:
    try:
        data = response.json()
    except MediataskError:
        return None
    return data if isinstance(data, Mapping) else None


def _text(body: Mapping[str, Any]) -> str:
    for field in ("msg", "message", "error"):
        value = body.get(field)
        if isinstance(value, Mapping):
            value = value.get("message")
        if value:
            return " ".join(str(value).split())[:200]
    return ""


def read_error(request: Request, response: Response) -> MediataskError | None:
    """Either error envelope as our exception; ``None`` for a success or a plain HTTP error.

    HTTP 200 with ``{code: <non-zero>, msg}`` and HTTP 4xx with ``{success: false, error,
    code: "<string>"}`` are both read. 429 and 5xx answers are left to the core's retry rules.
    """
    if not request.authenticated and 400 <= response.status < 500:  # the upload storage
        said = " ".join(response.text.split())[:120]
        return RejectedError(
            f"A2E's storage refused the upload (HTTP {response.status}: {said}); the presigned "
            "URL may have expired: run the job again",
            status=response.status,
        )
    body = _body(response)
    if body is None:
        return None
    code = body.get("code")
    if response.ok and (code in (None, 0, "0") or body.get("success") is True):
        return None
    if not response.ok and (response.status == 429 or response.status >= 500):
        return None
    return _classify(request, response.status, str(code) if code is not None else "", _text(body))


def _classify(request: Request, http: int, code: str, text: str) -> MediataskError:
    said = f": {text}" if text else ""
    status = http if http >= 400 else int(code) if code.isdigit() and len(code) == 3 else http
    lowered = text.lower()
    if code in _MINOR:
        return RejectedError(_MINOR[code], status=http)
    if code == "30005":
        return RejectedError(
            "A2E error 30005: back_id and custom_back_id cannot both be given; pass only one",
            status=http,
        )
    if "coin" in lowered and any(w in lowered for w in ("insufficient", "not enough", "balance")):
        return InsufficientCreditsError(
            f"A2E: not enough coins for this task{said}; see `mediatask credits a2e`", status=http
        )
    if request.method == "DELETE" and status == 400:
        return RejectedError(
            f"A2E refused to delete the task{said}: A2E deletes a task only before it is sent "
            "to its model (initialized, refunded) or once it has ended (completed, failed); "
            "a task that is sent, pending or processing runs to its end: delete it then",
            status=http,
        )
    notes = [text, f"code {code}" if code and code != str(status) else ""]
    if status == 404:
        notes.append("deleted, or expired after 3 days")
    detail = "; ".join(note for note in notes if note)
    ruled = error_for_status(INFO, status, detail, url="this task")
    return ruled or RejectedError(
        f"A2E rejected the request (code {code or http}){said}", status=http
    )

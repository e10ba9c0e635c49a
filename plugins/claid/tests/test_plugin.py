"""The Claid plugin is pure translation: plain calls with plain dicts and Response values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import mediatask_claid as claid
from mediatask import Job, PluginError, Response, Status, TaskRef
from mediatask.http.messages import Request
from mediatask.model.errors import (
    AuthError,
    InsufficientCreditsError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
    UsageError,
)

OUTPUT_OBJECT = {
    "ext": "jpeg",
    "mps": 1.0,
    "mime": "image/jpeg",
    "format": "JPEG",
    "width": 1000,
    "height": 1000,
    "tmp_url": "https://storage.googleapis.com/production-leapi-tmp-public/000/200.jpeg",
}
INPUT_OBJECT = {
    "ext": "pnj",
    "mps": 0.016384,
    "mime": "image/jpeg",
    "format": "JPEG",
    "width": 128,
    "height": 128,
}
SAMPLE = {
    "input": "https://picsum.photos/200.jpg",
    "operations": {"resizing": {"width": 1000}, "background": {"remove": False}},
}


def answer(
    payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        status,
        {"content-type": "application/json", **(headers or {})},
        json.dumps(payload).encode(),
    )


def task(task_id: str = "1", **extra: str) -> TaskRef:
    return TaskRef("claid", task_id, datetime.now(UTC), operation="edit", extra=extra)


def status(word: str, **more: Any) -> dict[str, Any]:
    data = {
        "id": 1,
        "status": word,
        "created_at": "2023-03-13T11:37:09.160554+00:00",
        "request": SAMPLE,
    }
    return {"data": {**data, "errors": [], "result": {}, **more}}


def test_provider_declares_the_documented_limits_and_inline_files() -> None:
    assert claid.INFO.rate_limits == ((4, 1.0), (120, 60.0))
    assert claid.INFO.auth_scheme == "Bearer"
    assert claid.INFO.capabilities.local_files.value == "inline"
    assert claid.INFO.operation("edit") is not None
    assert claid.INFO.operation("edit").open_params  # type: ignore[union-attr]  # just checked


def test_a_url_goes_to_the_async_endpoint_as_json() -> None:
    params = {"operations": {"resizing": {"width": 1000}, "background": {"remove": False}}}
    request = claid.mediatask_submit(
        Job("claid", "edit", ["https://picsum.photos/200.jpg"], params)
    )
    assert (request.method, request.url) == ("POST", "v1/image/edit/async")
    assert request.json == SAMPLE


def test_a_local_file_goes_to_the_upload_endpoint_as_multipart(tmp_path: Path) -> None:
    image = tmp_path / "shoe.png"
    image.write_bytes(b"png")
    params = {"operations": {"resizing": {"width": 1000}}}
    request = claid.mediatask_submit(Job("claid", "edit", [str(image)], params))
    assert (request.method, request.url) == ("POST", "v1/image/edit/upload")
    assert request.files == {"file": image}
    assert json.loads(request.fields["data"]) == params  # the document without input


@pytest.mark.parametrize("prefix", ["v1", "v1-beta1"])
def test_an_accepted_answer_gives_a_string_id_and_the_result_path(prefix: str) -> None:
    accepted = {
        "data": {
            "id": 17,
            "status": "ACCEPTED",
            "result_url": f"https://api.claid.ai/{prefix}/image/edit/async/17",
            "created_at": "2023-03-13T11:37:09.160554+00:00",
            "request": SAMPLE,
        }
    }
    submitted = claid.mediatask_read_submission(answer(accepted))
    assert submitted.task_id == "17"
    assert dict(submitted.extra) == {"result_path": f"{prefix}/image/edit/async/17"}
    assert submitted.update is None  # followed by polling
    poll = claid.mediatask_poll(task("17", **submitted.extra))
    assert (poll.method, poll.url) == ("GET", f"{prefix}/image/edit/async/17")
    assert (
        poll.joined("http://127.0.0.1:9").url == f"http://127.0.0.1:9/{prefix}/image/edit/async/17"
    )


def test_an_id_must_be_an_integer() -> None:
    with pytest.raises(PluginError, match="not an integer"):
        claid.mediatask_read_submission(answer({"data": {"id": "abc", "status": "ACCEPTED"}}))
    with pytest.raises(PluginError, match="not an integer"):
        claid.mediatask_read_submission(answer({"data": {"id": True, "status": "ACCEPTED"}}))
    assert claid.mediatask_read_submission(answer({"data": {"id": "5"}})).extra["result_path"] == (
        "v1/image/edit/async/5"
    )
    with pytest.raises(PluginError, match="not an integer"):
        claid.mediatask_poll(task("upload-zzz"))


def test_a_poll_without_a_result_path_uses_the_id() -> None:
    assert claid.mediatask_poll(task("42")).url == "v1/image/edit/async/42"


def test_an_upload_answer_is_the_final_update_at_once() -> None:
    body = {"data": {"input": INPUT_OBJECT, "output": OUTPUT_OBJECT}}
    submitted = claid.mediatask_read_submission(answer(body))
    assert submitted.task_id.startswith("upload-")
    assert len(submitted.task_id) == len("upload-") + 12
    assert submitted.extra["endpoint"] == "upload"
    assert submitted.update is not None
    assert submitted.update.status is Status.SUCCEEDED
    (output,) = submitted.update.outputs
    assert (output.url, output.width, output.height) == (OUTPUT_OBJECT["tmp_url"], 1000, 1000)
    assert output.expires_at is None  # Claid gives no time: we do not guess
    with pytest.raises(UsageError, match="final at once"):
        claid.mediatask_poll(task(submitted.task_id, **submitted.extra))


def test_done_carries_the_output_with_its_size() -> None:
    done = status("DONE", result={"input_object": INPUT_OBJECT, "output_object": OUTPUT_OBJECT})
    update = claid.mediatask_parse_result(done)
    (output,) = update.outputs
    assert output.url == OUTPUT_OBJECT["tmp_url"]
    assert (output.mime_type, output.width, output.height, output.kind) == (
        "image/jpeg",
        1000,
        1000,
        "image",
    )
    assert update.progress == 1.0
    assert update.extra["input_object"] == INPUT_OBJECT


def test_done_to_a_storage_destination_is_an_output_that_names_its_location() -> None:
    """No ``tmp_url``: the result is in the user's storage. The output says where, and that
    there is nothing to download (never a success with no output at all)."""
    written = {k: v for k, v in OUTPUT_OBJECT.items() if k != "tmp_url"} | {
        "object_key": "out/o.jpg",
        "object_bucket": "b",
        "object_uri": "s3://b/out/o.jpg",
        "claid_storage_uri": "storage://s/out/o.jpg",
    }
    update = claid.mediatask_parse_result(status("DONE", result={"output_object": written}))
    (output,) = update.outputs
    assert (output.url, output.downloadable, output.expires_at) == (
        "storage://s/out/o.jpg",
        False,
        None,
    )
    assert update.extra["output_object"]["object_uri"] == "s3://b/out/o.jpg"
    only_uri = {k: v for k, v in written.items() if k != "claid_storage_uri"}
    update = claid.mediatask_parse_result(status("DONE", result={"output_object": only_uri}))
    assert update.outputs[0].url == "s3://b/out/o.jpg"


def test_a_temporary_result_expires_a_day_after_the_task_was_created() -> None:
    update = claid.mediatask_parse_result(status("DONE", result={"output_object": OUTPUT_OBJECT}))
    assert update.outputs[0].expires_at == datetime(2023, 3, 14, 11, 37, 9, 160554, tzinfo=UTC)


def test_errors_become_the_failure_message() -> None:
    failed = status(
        "ERROR",
        errors=[
            {
                "error": "Unable to retrieve the input image",
                "created_at": 1678707429,
                "input_object": None,
            },
            {"error": "second reason", "created_at": 1678707430, "input_object": INPUT_OBJECT},
        ],
    )
    update = claid.mediatask_parse_result(failed)
    assert update.status is Status.FAILED
    assert update.message == "Unable to retrieve the input image; second reason"


REQUEST = Request("POST", "v1/image/edit/async")


def error(status: int, body: dict[str, Any], **headers: str) -> Exception | None:
    return claid.mediatask_read_error(REQUEST, answer(body, status, headers))


def envelope(
    code: str, kind: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "error_code": code,
        "error_type": kind,
        "error_message": message,
        "error_details": details or {},
    }


def test_validation_errors_name_each_field() -> None:
    found = error(
        422,
        envelope(
            "9000",
            "validation",
            "operations.adjustments.exposure: must be an integer from -100 to 100.",
            {"operations.adjustments.exposure": ["must be an integer from -100 to 100"]},
        ),
    )
    assert isinstance(found, RejectedError)
    assert not found.retryable
    assert "operations.adjustments.exposure: must be an integer from -100 to 100" in str(found)
    assert "[error 9000]" in str(found)


def test_only_the_codes_claid_publishes_are_shown_as_claids() -> None:
    """111, 2001 and 9000 are published; any other code (the emulator's ``emulated-402``, or a
    code Claid sends but never documented) is not passed off as Claid's word."""
    assert "[error 111]" in str(error(401, envelope("111", "auth", "Authorization is required.")))
    for code in ("emulated-402", "3000"):
        shown = str(error(402, envelope(code, "billing", "No API calls left.")))
        assert f"[code {code}, not one Claid documents]" in shown
        assert f"[error {code}]" not in shown


def test_a_fastapi_style_422_names_each_location() -> None:
    body = {
        "detail": [
            {"loc": ["path", "ai_edit_id"], "msg": "value is not a valid integer", "type": "x"},
            {"loc": [], "msg": "something else", "type": "y"},
        ]
    }
    found = error(422, body)
    assert isinstance(found, RejectedError)
    assert "path.ai_edit_id: value is not a valid integer; something else" in str(found)


def test_the_nested_429_is_retryable_after_the_reset_header() -> None:
    body = {"detail": envelope("2001", "general", "Too Many Requests. Rate limit exceeded.")}
    found = error(
        429,
        body,
        **{
            "RateLimit-Limit": "4, 120;w=60, 4;w=1",
            "RateLimit-Remaining": "-1",
            "RateLimit-Reset": "3",
        },
    )
    assert isinstance(found, RateLimitedError)
    assert found.retryable
    assert found.retry_after == 3.0
    assert "Too Many Requests. Rate limit exceeded." in str(found)


def test_402_and_401_are_not_retryable() -> None:
    no_calls = error(402, envelope("3000", "billing", "No API calls left."))
    assert isinstance(no_calls, InsufficientCreditsError)
    assert not no_calls.retryable
    assert "No API calls left." in str(no_calls)
    unauthorized = error(401, envelope("111", "auth", "Authorization is required."))
    assert isinstance(unauthorized, AuthError)
    assert not unauthorized.retryable
    assert "MEDIATASK_CLAID_KEY" in str(unauthorized)
    assert isinstance(error(403, envelope("112", "auth", "Not enough permissions.")), AuthError)


def test_other_statuses() -> None:
    assert isinstance(error(404, envelope("1004", "general", "not found")), NotFoundError)
    server = error(500, envelope("1500", "general", "Internal Server Error."))
    assert isinstance(server, UnavailableError)
    assert server.maybe_sent  # a submit that got a 500 may have created the task
    assert isinstance(
        error(400, envelope("1000", "general", "The body is not valid JSON.")), RejectedError
    )
    unreadable = claid.mediatask_read_error(REQUEST, Response(502, {}, b"<html>bad gateway</html>"))
    assert isinstance(unreadable, UnavailableError)

"""The A2E plugin is pure translation: plain calls with plain dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import mediatask_a2e as a2e
from mediatask import Job, Request, Response, Status, TaskRef
from mediatask.model.errors import (
    AuthError,
    InsufficientCreditsError,
    NotFoundError,
    PluginError,
    RejectedError,
    UnavailableError,
    UsageError,
)
from mediatask.providers.validate import check_job

# The vendor's "Check Status of One Task" example (PROVIDERS.md 4.4.2), verbatim.
VENDOR_I2V = {
    "code": 0,
    "data": {
        "_id": "67d29023dd27a536fdf6e809",
        "name": "Test name",
        "image_url": "https://example.com/524f2258-c5a0-4bb2-9003-5e4740a2d376.png",
        "prompt": "the person is speaking. Looking at the camera. detailed eyes, clear teeth,"
        "static camera view point, still background",
        "negative_prompt": "six fingers, bad hands, lowres, low quality, worst quality, moving "
        "camera view point, still image",
        "current_status": "completed",
        "coins": 100,
        "createdAt": "2025-03-13T07:58:27.863Z",
        "failed_message": "",
        "failed_code": "",
        "result_url": "https://example.com/adam2eve/beta/users/665da3d7bcf6ab778bad0f6a/"
        "f9362ad5-1186-4bf5-a1d8-7314ea9ba47f.mp4",
    },
    "trace_id": "f53cfb3c-1a42-4f07-b8e3-5020244b1e04",
}
ID = "67d29023dd27a536fdf6e809"


def task(operation: str = "image-to-video", **extra: str) -> TaskRef:
    return TaskRef("a2e", ID, datetime.now(UTC), operation=operation, extra=extra)


def answer(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload).encode()
    return Response(status, {"content-type": "application/json"}, body, url="https://x/api")


GET = Request("GET", "/api/v1/userImage2Video/x")


# -- reading task states -------------------------------------------------------------------------


def test_the_vendor_status_example_is_a_success_with_its_video_and_coins() -> None:
    update = a2e.mediatask_parse_result(task(), VENDOR_I2V)
    assert (update.status, update.raw_status, update.progress) == (Status.SUCCEEDED, "completed", 1)
    [output] = update.outputs
    assert output.url == VENDOR_I2V["data"]["result_url"]  # type: ignore[index]  # a dict literal
    assert (output.kind, output.mime_type) == ("video", "video/mp4")
    created = datetime(2025, 3, 13, 7, 58, 27, 863000, tzinfo=UTC)
    assert output.expires_at == created + timedelta(days=3)
    assert update.extra == {"coins": 100}


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("init", Status.QUEUED),
        ("start", Status.QUEUED),
        ("pending", Status.QUEUED),
        ("process", Status.RUNNING),
        ("copy", Status.RUNNING),
        ("success", Status.SUCCEEDED),
        ("fail", Status.FAILED),
    ],
)
def test_avatar_status_words_from_the_aws_result_array(word: str, status: Status) -> None:
    other = {"_id": "f" * 24, "status": "fail", "process": 0, "result": ""}
    mine = {"_id": ID, "status": word, "process": 40, "result": "https://x/r.mp4", "msg": "m"}
    update = a2e.mediatask_parse_result(task("avatar-video"), {"code": 0, "data": [other, mine]})
    assert (update.status, update.raw_status) == (status, word)
    if status is Status.RUNNING:
        assert update.progress == 0.4
    if status is Status.SUCCEEDED:
        assert [o.url for o in update.outputs] == ["https://x/r.mp4"]


@pytest.mark.parametrize(
    ("operation", "record", "message"),
    [
        ("image-to-video", {"failed_message": "bad face", "failed_code": "7"}, "bad face"),
        ("face-swap", {"faild_message": "no face found", "error_code": "12"}, "no face found"),
    ],
)
def test_failure_messages_in_both_spellings(
    operation: str, record: dict[str, str], message: str
) -> None:
    payload = {"code": 0, "data": {"_id": ID, "current_status": "failed", **record}}
    update = a2e.mediatask_parse_result(task(operation), payload)
    assert (update.status, update.message) == (Status.FAILED, message)
    assert update.extra["failed_code"] in ("7", "12")


def test_a_record_without_status_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match="without a status"):
        a2e.mediatask_parse_result(task(), {"code": 0, "data": {"_id": ID}})


def test_a_task_without_operation_needs_one_unless_extra_says_it() -> None:
    bare = TaskRef("a2e", ID, datetime.now(UTC))
    with pytest.raises(UsageError, match="operation is needed"):
        a2e.mediatask_poll(bare)
    listed = TaskRef("a2e", ID, datetime.now(UTC), extra={"operation": "dubbing"})
    assert a2e.mediatask_poll(listed).url == f"/api/v1/userDubbing/{ID}"


# -- requests --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "url"),
    [
        ("image-to-video", f"/api/v1/userImage2Video/{ID}"),
        ("talking-photo", f"/api/v1/talkingPhoto/{ID}"),
        ("talking-video", f"/api/v1/talkingVideo/{ID}"),
        ("face-swap", f"/api/v1/userFaceSwapTask/{ID}"),
        ("dubbing", f"/api/v1/userDubbing/{ID}"),
        ("caption-removal", f"/api/v1/userCaptionRemoval/{ID}"),
        ("text-to-image", f"/api/v1/userText2Image/{ID}"),
    ],
)
def test_each_family_polls_and_deletes_at_its_own_path(operation: str, url: str) -> None:
    assert (
        a2e.mediatask_poll(task(operation)).method,
        a2e.mediatask_poll(task(operation)).url,
    ) == (
        "GET",
        url,
    )
    cancel = a2e.mediatask_cancel(task(operation))
    assert cancel is not None
    assert (cancel.method, cancel.url) == ("DELETE", url)


def test_avatar_videos_poll_aws_result_with_a_post() -> None:
    request = a2e.mediatask_poll(task("avatar-video"))
    assert (request.method, request.url, request.json) == (
        "POST",
        "/api/v1/video/awsResult",
        {"_id": ID},
    )


def test_submit_bodies_use_a2e_field_names_and_both_spellings() -> None:
    params = {"prompt": "p", "negative_prompt": "n"}
    i2v = a2e.mediatask_submit(Job("a2e", "image-to-video", ["https://x/p.jpg"], params), "")
    assert (i2v.method, i2v.url) == ("POST", "/api/v1/userImage2Video/start")
    assert i2v.json == {
        "image_url": "https://x/p.jpg",
        "prompt": "p",
        "negative_prompt": "n",
        "negative_prmpt": "n",  # the vendor schema's spelling
    }
    captions = a2e.mediatask_submit(Job("a2e", "caption-removal", ["https://x/v.mp4"]), "")
    assert captions.json == {"source_url": "https://x/v.mp4", "video_url": "https://x/v.mp4"}
    swap = a2e.mediatask_submit(Job("a2e", "face-swap", ["https://x/f.jpg", "https://x/v.mp4"]), "")
    assert (swap.url, swap.json) == (
        "/api/v1/userFaceSwapTask/add",
        {"face_url": "https://x/f.jpg", "video_url": "https://x/v.mp4"},
    )
    dub = a2e.mediatask_submit(
        Job("a2e", "dubbing", ["https://x/v.mp4"], {"target_lang": "en"}), ""
    )
    assert dub.url == "/api/v1/userDubbing/startDubbing"


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        ("image-to-video", {"prompt": "p", "model_type": "FLF2V"}, "end_image_url"),
        ("tts", {"msg": "hi"}, "exactly one of"),
        ("tts", {"msg": "hi", "tts_id": "a", "user_voice_id": "b" * 24}, "exactly one of"),
        ("tts", {"msg": "x" * 1001, "tts_id": "a"}, "at most 1000"),
        ("tts", {"msg": "hi", "user_voice_id": "nothex"}, "24-hex"),
        ("avatar-video", {"anchor_id": "abc"}, "24-hex"),
        ("avatar-video", {"anchor_id": "a" * 24, "back_id": "1", "custom_back_id": "2"}, "30005"),
        ("avatar-video", {"anchor_id": "a" * 24, "title": "t" * 41}, "40 characters"),
    ],
)
def test_validation_before_the_network(
    operation: str, params: dict[str, Any], message: str
) -> None:
    inputs = ["https://x/a.mp3"] if operation == "avatar-video" else []
    inputs = ["https://x/p.jpg"] if operation == "image-to-video" else inputs
    job = check_job(a2e.INFO, Job("a2e", operation, inputs, params))
    with pytest.raises(UsageError, match=message):
        a2e.mediatask_validate(job)


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("image-to-video", {"prompt": "p", "video_time": 7}),
        ("image-to-video", {}),
        ("talking-photo", {"prompt": "p", "duration": 21}),
        ("tts", {"msg": "hi", "speechRate": 3}),
        ("text-to-image", {"prompt": "p", "max_images": 9}),
    ],
)
def test_declared_parameters_are_checked_by_the_core(
    operation: str, params: dict[str, Any]
) -> None:
    inputs = [] if operation in ("tts", "text-to-image") else ["https://x/p.jpg"]
    with pytest.raises(UsageError):
        check_job(a2e.INFO, Job("a2e", operation, inputs, params))


# -- submissions -----------------------------------------------------------------------------------


def test_a_start_answer_gives_the_id_and_the_coins() -> None:
    job = Job("a2e", "image-to-video", ["https://x/p.jpg"], {"prompt": "p"})
    submitted = a2e.mediatask_read_submission(job, answer(VENDOR_I2V))
    assert submitted.task_id == ID
    assert submitted.extra == {"operation": "image-to-video", "coins": "100"}
    assert submitted.update is None  # followed by polling


def test_tts_is_answered_at_once_with_the_audio_url() -> None:
    job = Job("a2e", "tts", [], {"msg": "hi", "tts_id": "v"})
    submitted = a2e.mediatask_read_submission(job, answer({"code": 0, "data": "https://x/a.mp3"}))
    assert submitted.update is not None
    assert submitted.update.status is Status.SUCCEEDED
    assert [o.url for o in submitted.update.outputs] == ["https://x/a.mp3"]
    tts = task("tts")
    assert a2e.mediatask_cancel(tts) is None
    with pytest.raises(UsageError, match="answers at once"):
        a2e.mediatask_poll(tts)


def test_text_to_image_follows_all_the_tasks_its_start_created() -> None:
    records = [
        {"_id": f"{n}" * 24, "current_status": "initialized", "image_urls": [], "coins": 5}
        for n in (1, 2)
    ]
    job = Job("a2e", "text-to-image", [], {"prompt": "p"})
    submitted = a2e.mediatask_read_submission(job, answer({"code": 0, "data": records}))
    assert submitted.task_id == "1" * 24
    assert submitted.extra["task_ids"] == f"{'1' * 24},{'2' * 24}"
    assert submitted.extra["coins"] == "10"
    ref = TaskRef("a2e", submitted.task_id, datetime.now(UTC), "text-to-image", submitted.extra)
    request = a2e.mediatask_poll(ref)
    assert (request.url, request.json) == (
        "/api/v1/userText2Image/batchDetail",
        {"ids": ["1" * 24, "2" * 24]},
    )
    done = [
        dict(r, current_status="completed", image_urls=[f"https://x/{n}.png"])
        for n, r in enumerate(records)
    ]
    half = [done[0], records[1]]
    assert a2e.mediatask_parse_result(ref, {"code": 0, "data": half}).status is Status.QUEUED
    update = a2e.mediatask_parse_result(ref, {"code": 0, "data": done})
    assert update.status is Status.SUCCEEDED
    assert [o.url for o in update.outputs] == ["https://x/0.png", "https://x/1.png"]
    assert update.extra["coins"] == 10


def test_a_start_answer_without_an_id_is_a_plugin_error() -> None:
    job = Job("a2e", "dubbing", ["https://x/v.mp4"], {"target_lang": "en"})
    with pytest.raises(PluginError, match="no task _id"):
        a2e.mediatask_read_submission(job, answer({"code": 0, "data": {}}))


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (200, {"code": 401, "msg": "token invalid"}, AuthError, "MEDIATASK_A2E_KEY"),
        (200, {"code": 404, "msg": "Task not found"}, NotFoundError, "Task not found"),
        (200, {"code": 1003, "msg": "minor"}, RejectedError, "detected a minor"),
        (200, {"code": 1004, "msg": "minor?"}, RejectedError, "minor_suspected_skip=true"),
        (200, {"code": 400, "message": "Insufficient coins"}, InsufficientCreditsError, "coins"),
        (200, {"code": 500, "msg": "boom"}, UnavailableError, "boom"),
        (200, {"code": 7, "msg": "odd"}, RejectedError, "code 7"),
        (400, {"success": False, "error": "x", "code": "30005"}, RejectedError, "30005"),
        (403, {"success": False, "error": "minor", "code": "1003"}, RejectedError, "a minor"),
        (401, {"success": False, "error": "Unauthorized"}, AuthError, "Unauthorized"),
        (404, {"success": False, "error": "Record not found"}, NotFoundError, "deleted"),
        (
            400,
            {"success": False, "error": "Invalid request parameters or insufficient coins"},
            InsufficientCreditsError,
            "not enough coins",
        ),
    ],
)
def test_both_error_envelopes(
    status: int, body: dict[str, Any], kind: type[Exception], message: str
) -> None:
    error = a2e.mediatask_read_error(GET, answer(body, status))
    assert isinstance(error, kind)
    assert message in str(error)


def test_a_refused_delete_says_when_deleting_is_allowed() -> None:
    delete = Request("DELETE", f"/api/v1/userImage2Video/{ID}")
    body = {"success": False, "error": "Task in processing or invalid parameters", "code": "400"}
    error = a2e.mediatask_read_error(delete, answer(body, 400))
    assert isinstance(error, RejectedError)
    assert "only before it is sent to its model (initialized, refunded)" in str(error)
    assert "once it has ended (completed, failed)" in str(error)


@pytest.mark.parametrize(
    "response",
    [
        answer(VENDOR_I2V),
        answer({"success": True, "data": {}, "timestamp": "t"}),
        answer({"success": False, "error": "busy"}, 503),
        answer({"success": False, "error": "slow down"}, 429),
        Response(200, body=b""),
        Response(502, body=b"<html>bad gateway</html>"),
    ],
)
def test_successes_and_plain_http_errors_are_left_to_the_core(response: Response) -> None:
    assert a2e.mediatask_read_error(GET, response) is None


# -- uploads, lists, credits -----------------------------------------------------------------------


def test_upload_asks_for_a_presigned_url_puts_without_the_key_then_uses_the_cdn() -> None:
    path = Path("/tmp/my photo.jpg")  # noqa: S108  # never opened: the hook is sans-I/O
    first = a2e.mediatask_upload(path, [])
    assert isinstance(first, Request)
    assert (first.method, first.url) == ("POST", "/api/v1/r2/upload-presigned-url")
    assert first.json["key"].endswith("/my_photo.jpg")  # URL-safe, as storage keys should be
    assert first.json["contentType"] == "image/jpeg"
    grant = answer(
        {"code": 0, "data": {"uploadUrl": "https://s3/put?sig=1", "cdnUrl": "https://cdn/p"}}
    )
    second = a2e.mediatask_upload(path, [grant])
    assert isinstance(second, Request)
    assert (second.method, second.url, second.upload) == ("PUT", "https://s3/put?sig=1", path)
    assert second.authenticated is False
    assert dict(second.headers) == {"Content-Type": "image/jpeg"}
    assert a2e.mediatask_upload(path, [grant, Response(200)]) == "https://cdn/p"


def test_a_refused_upload_is_not_blamed_on_the_key() -> None:
    put = Request("PUT", "https://s3/put?sig=1", authenticated=False)
    error = a2e.mediatask_read_error(put, Response(403, body=b"SignatureDoesNotMatch"))
    assert isinstance(error, RejectedError)
    assert not isinstance(error, AuthError)
    assert "presigned URL may have expired" in str(error)


def test_list_requests_and_rows() -> None:
    request = a2e.mediatask_list("face-swap")
    assert request is not None
    assert request.url == "/api/v1/userFaceSwapTask/records"
    assert dict(request.params) == {"pageNum": "1", "pageSize": "100"}
    default = a2e.mediatask_list(None)
    assert default is not None
    assert default.url == "/api/v1/userImage2Video/allRecords"
    avatar = a2e.mediatask_list("avatar-video")
    assert avatar is not None
    assert (avatar.url, avatar.params["current"]) == ("/api/v1/video/awsList", "1")
    assert a2e.mediatask_list("tts") is None
    rows = {"code": 0, "data": {"rows": [VENDOR_I2V["data"]], "count": 1}}
    [record] = a2e.mediatask_read_list("image-to-video", answer(rows))
    assert (record.task_id, record.extra["operation"]) == (ID, "image-to-video")
    assert record.update is not None
    assert record.update.status is Status.SUCCEEDED
    aws = {"code": 0, "data": {"data": [{"_id": ID, "status": "process", "process": 50}]}}
    [video] = a2e.mediatask_read_list("avatar-video", answer(aws))
    assert video.update is not None
    assert video.update.progress == 0.5


def test_credits_read_the_remaining_coins() -> None:
    assert a2e.mediatask_credits().url == "/api/v1/user/remainingCoins"
    body = {"code": 0, "data": {"coins": 1293, "diamonds": 3}, "trace_id": "t"}
    credits = a2e.mediatask_read_credits(answer(body))
    assert (credits.amount, credits.unit, dict(credits.extra)) == (1293, "coins", {"diamonds": 3})


MARK = "mediatask-0123456789abcdef"


def test_the_submit_marker_names_the_task_and_comes_back_in_the_list() -> None:
    default = {"name": "mediatask", "prompt": "p"}
    i2v = a2e.mediatask_submit(Job("a2e", "image-to-video", ["https://x/p.jpg"], default), MARK)
    assert i2v.json is not None
    assert i2v.json["name"] == MARK
    own = {"name": "holiday", "prompt": "p"}
    named = a2e.mediatask_submit(Job("a2e", "image-to-video", ["https://x/p.jpg"], own), MARK)
    assert named.json is not None
    assert named.json["name"] == f"holiday ({MARK})"
    avatar = a2e.mediatask_submit(
        Job("a2e", "avatar-video", ["https://x/a.mp3"], {"anchor_id": ID}), MARK
    )
    assert avatar.json is not None
    assert avatar.json["title"] == MARK
    unmarked = a2e.mediatask_submit(Job("a2e", "image-to-video", ["https://x/p.jpg"], own), "")
    assert unmarked.json is not None
    assert unmarked.json["name"] == "holiday"

    row = {"_id": ID, "name": f"holiday ({MARK})", "current_status": "sent"}
    rows = {"code": 0, "data": {"rows": [row], "count": 1}}
    [record] = a2e.mediatask_read_list("image-to-video", answer(rows))
    assert record.extra["marker"] == MARK
    rows = {"code": 0, "data": {"rows": [{**row, "name": "mediatask"}], "count": 1}}
    [record] = a2e.mediatask_read_list("image-to-video", answer(rows))
    assert "marker" not in record.extra

"""The A1D plugin is pure translation: plain calls with plain dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import mediatask_a1d as a1d
from mediatask import Job, PluginError, Response, Status, TaskRef


def task(operation: str = "image-upscaler") -> TaskRef:
    return TaskRef("a1d", "task_abc123", datetime.now(UTC), operation=operation)


def answer(payload: dict[str, object]) -> Response:
    return Response(200, {"content-type": "application/json"}, json.dumps(payload).encode())


def test_submit_sends_camel_case_json_with_source() -> None:
    request = a1d.mediatask_submit(Job("a1d", "image-upscaler", ["https://x/a.png"], {"scale": 4}))
    assert (request.method, request.url) == ("POST", "/api/image-upscaler")
    assert request.json == {"imageUrl": "https://x/a.png", "scale": 4, "source": "api"}


def test_video_and_prompt_operations_use_their_fields() -> None:
    video = a1d.mediatask_submit(Job("a1d", "video-upscaler", ["https://x/v.mp4"]))
    assert video.json == {"videoUrl": "https://x/v.mp4", "source": "api"}
    prompt = a1d.mediatask_submit(Job("a1d", "image-generator", [], {"prompt": "a cat"}))
    assert prompt.json == {"prompt": "a cat", "source": "api"}


def test_speedpainter_guesses_the_mime_type() -> None:
    request = a1d.mediatask_submit(Job("a1d", "speedpainter", ["https://x/p.JPG"], {"fps": 12}))
    assert request.json["mimeType"] == "image/jpeg"
    assert request.json["fps"] == 12


def test_the_vendor_status_example() -> None:
    update = a1d.mediatask_parse_result(
        task(),
        {
            "taskId": "task_abc123",
            "status": "FINISHED",
            "imageUrl": "https://storage.a1d.ai/processed/image.jpg",
            "thumbUrl": "https://storage.a1d.ai/processed/thumb.jpg",
        },
    )
    assert [(o.role, o.url) for o in update.outputs] == [
        ("image", "https://storage.a1d.ai/processed/image.jpg"),
        ("thumbnail", "https://storage.a1d.ai/processed/thumb.jpg"),
    ]
    assert update.progress == 1.0


def test_progress_is_a_fraction() -> None:
    update = a1d.mediatask_parse_result(
        task(), {"taskId": "t", "status": "PROCESSING", "progress": 50}
    )
    assert update.progress == 0.5


def test_speedpainter_results_and_errors() -> None:
    done = a1d.mediatask_parse_result(
        task("speedpainter"),
        {"status": "FINISHED", "videoUrl": "https://s/v.mp4", "sketchImageUrl": "https://s/k.png"},
    )
    assert [(o.role, o.kind) for o in done.outputs] == [("video", "video"), ("sketch", "image")]
    failed = a1d.mediatask_parse_result(task("speedpainter"), {"status": "ERROR", "error": "bad"})
    assert (failed.status, failed.message) == (Status.FAILED, "bad")


def test_video_upscaler_result_comes_in_image_url() -> None:
    update = a1d.mediatask_parse_result(
        task("video-upscaler"),
        {
            "status": "FINISHED",
            "imageUrl": "https://s/v.mp4",
            "mimeType": "video/mp4",
            "duration": 3,
        },
    )
    assert (update.outputs[0].role, update.outputs[0].mime_type) == ("video", "video/mp4")
    assert update.extra == {"duration": 3}


def test_legacy_shape_is_read() -> None:
    payload = {
        "taskId": "t",
        "taskDetails": {
            "id": "t",
            "status": "FINISHED",
            "result": {"data": {"result_url": "https://r"}},
        },
    }
    update = a1d.mediatask_parse_result(task(), payload)
    assert update.outputs[0].url == "https://r"


def test_a_finished_submission_needs_no_polling() -> None:
    job = Job("a1d", "image-upscaler", ["https://x/a.png"])
    finished = a1d.mediatask_read_submission(
        job, answer({"taskId": "t1", "status": "FINISHED", "imageUrl": "https://r"})
    )
    assert finished.update is not None
    assert finished.update.status is Status.SUCCEEDED
    waiting = a1d.mediatask_read_submission(job, answer({"taskId": "t2", "status": "WAITING"}))
    assert (waiting.task_id, waiting.update) == ("t2", None)
    painter = a1d.mediatask_read_submission(job, answer({"taskId": "t3"}))
    assert painter.task_id == "t3"


def test_a_submission_without_task_id_is_a_plugin_error() -> None:
    with pytest.raises(PluginError, match="no taskId"):
        a1d.mediatask_read_submission(Job("a1d", "remove-bg", ["u"]), answer({"status": "WAITING"}))


def test_stream_and_poll_paths() -> None:
    assert a1d.mediatask_poll(task()).url == "/api/task/task_abc123"
    stream = a1d.mediatask_stream(task())
    assert stream.url == "/api/task/task_abc123/sse"
    assert stream.headers["Accept"] == "text/event-stream"

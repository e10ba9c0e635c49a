"""The A1D emulator over real loopback HTTP, driven with plain urllib3 (not mediatask's client).

Inputs are served by a second tiny server, so the emulator fetches them as the real API would.
Waits are polls of the emulator or reads of its SSE stream, never sleeps.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Mapping
from functools import partial
from typing import Any
from xml.etree import ElementTree

import attrs
import av
import pytest
import trio
import urllib3
from PIL import Image

from mediatask.emulator import Faults, serving
from mediatask.testing import RawApi, raw_api
from mediatask_a1d.emulator import A1DEmulator

KEY = "test-key"
UNAUTHORIZED = {"error": "Unauthorized", "message": "Invalid or missing API key"}
FINAL = ("FINISHED", "FAILED", "ERROR")


class Api(RawApi):
    """The emulator's calls over :class:`RawApi`; every call runs in a trio worker thread."""

    async def submit(self, operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
        response = await self.request("POST", f"/api/{operation}", body=dict(body))
        assert response.status == 200, response.data
        return dict(response.json())

    async def poll(self, task_id: str) -> dict[str, Any]:
        response = await self.request("GET", f"/api/task/{task_id}")
        assert response.status == 200, response.data
        return dict(response.json())

    async def wait(self, task_id: str) -> tuple[dict[str, Any], list[str]]:
        """Poll until the task is final, as clients do; return it and the statuses seen."""
        seen: list[str] = []
        while True:
            payload = await self.poll(task_id)
            if not seen or seen[-1] != payload["status"]:
                seen.append(payload["status"])
            if payload["status"] in FINAL:
                return payload, seen
            await trio.sleep(0.02)  # the polling interval, not a synchronisation

    async def fetch(self, url: str) -> bytes:
        response = await self.request("GET", url, auth=None)
        assert response.status == 200, response.status
        return response.data

    async def stream(self, task_id: str, query: str = "") -> str:
        """Read a task's SSE stream until the server closes it; return the raw text."""
        response = await self.request("GET", f"/api/task/{task_id}/sse{query}")
        assert response.status == 200, response.data
        assert response.headers["content-type"].startswith("text/event-stream")
        return str(response.data.decode())

    async def run(self, operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = await self.submit(operation, body)
        final, _ = await self.wait(answer["taskId"])
        return final


def events(stream: str) -> list[dict[str, Any]]:
    """The JSON payloads of a ``data:``-only event stream; asserts the framing on the way."""
    blocks = stream.split("\n\n")
    assert blocks[-1] == ""  # every event ends with a blank line
    assert all(block.startswith("data: {") and "\n" not in block for block in blocks[:-1])
    return [json.loads(block[len("data: ") :]) for block in blocks[:-1]]


@pytest.fixture
def emulator() -> A1DEmulator:
    return A1DEmulator(faults=Faults(processing_seconds=0.15, progress_steps=2, seed=7))


@pytest.fixture
async def api(emulator: A1DEmulator, inputs_url: str) -> AsyncIterator[Api]:
    async with raw_api(Api, emulator, inputs_url, auth=f"KEY {KEY}") as opened:
        yield opened


def image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


# -- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, f"Bearer {KEY}", "KEY ", "KEY wrong-key", f"key {KEY}"])
async def test_requests_without_the_accepted_key_get_the_vendor_401(
    api: Api, emulator: A1DEmulator, auth: str | None
) -> None:
    emulator.accepted_key = KEY
    with trio.fail_after(20):
        accepted = await api.submit("image-upscaler", {"imageUrl": api.input("photo.png")})
        for method, path in [
            ("POST", "/api/image-upscaler"),
            ("GET", f"/api/task/{accepted['taskId']}"),
            ("GET", f"/api/task/{accepted['taskId']}/sse"),
        ]:
            body = {"imageUrl": api.input("photo.png")} if method == "POST" else None
            response = await api.request(method, path, body=body, auth=auth)
            assert (response.status, response.json()) == (401, UNAUTHORIZED)
    assert emulator.stats["submissions"] == 1
    assert emulator.stats["unauthorized"] == 3


# -- each operation, end to end ----------------------------------------------------------------


@pytest.mark.parametrize(("sample", "mime_type"), [("photo.png", "PNG"), ("photo.jpg", "JPEG")])
async def test_upscaler_enlarges_exactly_and_keeps_the_format(
    api: Api, sample: str, mime_type: str
) -> None:
    with trio.fail_after(20):
        answer = await api.submit("image-upscaler", {"imageUrl": api.input(sample), "scale": 4})
        assert answer == {"taskId": answer["taskId"], "status": "PENDING"}
        assert answer["taskId"].startswith("task_")
        final, seen = await api.wait(answer["taskId"])
        assert seen[-1] == "FINISHED"
        assert set(seen) <= {"PENDING", "PROCESSING", "FINISHED"}
        assert set(final) == {"taskId", "status", "imageUrl", "thumbUrl"}
        result = image(await api.fetch(final["imageUrl"]))
        thumb = image(await api.fetch(final["thumbUrl"]))
    assert (result.format, result.size) == (mime_type, (256, 192))
    assert max(thumb.size) <= 256


async def test_remove_bg_gives_a_png_with_transparent_and_opaque_pixels(api: Api) -> None:
    with trio.fail_after(20):
        final = await api.run("remove-bg", {"imageUrl": api.input("photo.jpg")})
        result = image(await api.fetch(final["imageUrl"]))
    assert (result.format, result.mode, result.size) == ("PNG", "RGBA", (64, 48))
    alpha = result.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0  # the background corner
    assert alpha.getpixel((32, 24)) == 255  # the middle of the disc


async def test_vectorization_gives_an_svg_with_the_input_size(api: Api) -> None:
    with trio.fail_after(20):
        final = await api.run("image-vectorization", {"imageUrl": api.input("photo.png")})
        response = await api.request("GET", final["imageUrl"], auth=None)
    assert response.headers["content-type"].startswith("image/svg+xml")
    svg = ElementTree.fromstring(response.data)  # noqa: S314  # the emulator's own output
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.attrib["viewBox"] == "0 0 64 48"
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}path")) >= 2


async def test_extends_gives_a_bigger_image(api: Api) -> None:
    with trio.fail_after(20):
        final = await api.run("image-extends", {"imageUrl": api.input("photo.png")})
        result = image(await api.fetch(final["imageUrl"]))
    assert result.size == (96, 72)


async def test_generator_draws_the_same_image_for_the_same_prompt(api: Api) -> None:
    with trio.fail_after(20):
        first = await api.run("image-generator", {"prompt": "a lighthouse at dusk"})
        second = await api.run("image-generator", {"prompt": "a lighthouse at dusk"})
        pictures = [await api.fetch(final["imageUrl"]) for final in (first, second)]
    assert first["imageUrl"] != second["imageUrl"]
    assert pictures[0] == pictures[1]
    assert image(pictures[0]).size == (512, 512)


def decoded_frames(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data), mode="r") as container:
        return list(container.decode(video=0))


async def test_video_upscaler_returns_an_mp4_in_image_url(api: Api) -> None:
    with trio.fail_after(20):
        final = await api.run("video-upscaler", {"videoUrl": api.input("clip.mp4")})
        frames = decoded_frames(await api.fetch(final["imageUrl"]))
    assert final["mimeType"] == "video/mp4"
    assert final["duration"] == pytest.approx(1.0)
    assert (frames[0].width, frames[0].height, len(frames)) == (64, 48, 8)


async def test_speedpainter_answers_only_the_task_id_then_a_video_and_a_sketch(api: Api) -> None:
    body = {
        "imageUrl": api.input("photo.jpg"),
        "mimeType": "image/jpeg",
        "sketchDuration": 1,
        "colorFillDuration": 1,
        "needCanvas": False,
        "needHand": False,
        "needFadeout": False,
    }
    with trio.fail_after(20):
        answer = await api.submit("speedpainter", body)
        assert list(answer) == ["taskId"]
        final, _ = await api.wait(answer["taskId"])
        assert set(final) == {"taskId", "status", "videoUrl", "sketchImageUrl"}
        frames = decoded_frames(await api.fetch(final["videoUrl"]))
        sketch = image(await api.fetch(final["sketchImageUrl"]))
    assert len(frames) == 24  # 2 s at the emulator's 12 fps cap
    assert (sketch.format, sketch.mode, sketch.size) == ("PNG", "L", (64, 48))


# -- status words, failures, finish on submit -----------------------------------------------


async def test_an_unreadable_input_fails_the_task_not_the_submit(api: Api) -> None:
    with trio.fail_after(20):
        missing = await api.run("remove-bg", {"imageUrl": api.input("missing.png")})
        not_an_image = await api.run("remove-bg", {"imageUrl": api.input("notes.txt")})
    assert missing == {
        "taskId": missing["taskId"],
        "status": "FAILED",
        "error": f"input URL {api.input('missing.png')} answered HTTP 404",
    }
    assert not_an_image["status"] == "FAILED"
    assert not_an_image["error"]  # the reason, as A1D's own client reads it


async def test_clients_words_wait_init_and_report_speedpainter_errors(
    api: Api, emulator: A1DEmulator
) -> None:
    emulator.status_words = "clients"
    emulator.hold_queue = True  # both stay queued until released: no race with the clock
    with trio.fail_after(20):
        upscale = await api.submit("image-upscaler", {"imageUrl": api.input("photo.png")})
        paint = await api.submit("speedpainter", {"imageUrl": api.input("notes.txt")})
        assert (await api.poll(paint["taskId"]))["status"] == "INIT"
        assert (await api.poll(upscale["taskId"]))["status"] == "WAITING"
        emulator.release()
        upscaled, _seen = await api.wait(upscale["taskId"])
        painted, _ = await api.wait(paint["taskId"])
    assert upscale["status"] == "WAITING"
    assert upscaled["status"] == "FINISHED"
    assert painted["status"] == "ERROR"
    assert "the input is not an image" in painted["error"]


async def test_failure_rate_one_fails_every_task(api: Api, emulator: A1DEmulator) -> None:
    emulator.faults.failure_rate = 1.0
    with trio.fail_after(20):
        final = await api.run("image-generator", {"prompt": "doomed"})
    assert final["status"] == "FAILED"
    assert emulator.stats["tasks_failed"] == 1


async def test_finish_on_submit_answers_the_result_at_once(api: Api, emulator: A1DEmulator) -> None:
    emulator.finish_on_submit = True
    with trio.fail_after(20):
        answer = await api.submit("image-upscaler", {"imageUrl": api.input("photo.png")})
        assert answer["status"] == "FINISHED"
        assert image(await api.fetch(answer["imageUrl"])).size == (128, 96)


# -- SSE -----------------------------------------------------------------------------------


async def test_sse_sends_data_only_events_with_progress_and_closes_after_the_final(
    api: Api, emulator: A1DEmulator
) -> None:
    emulator.faults.processing_seconds = 0.9  # 0.3 s between updates: the stream sees each one
    with trio.fail_after(20):
        answer = await api.submit("image-upscaler", {"imageUrl": api.input("photo.png")})
        received = events(await api.stream(answer["taskId"], "?app=iu&source=api"))
    assert [e["status"] for e in received] == ["PENDING", "PROCESSING", "PROCESSING", "FINISHED"]
    assert [e.get("progress") for e in received] == [None, 33, 67, None]
    assert received[-1] == await api.poll(answer["taskId"])


async def test_sse_can_name_events_and_send_each_twice(api: Api, emulator: A1DEmulator) -> None:
    emulator.finish_on_submit = emulator.sse_event_line = emulator.sse_duplicates = True
    with trio.fail_after(20):
        answer = await api.submit("image-upscaler", {"imageUrl": api.input("photo.png")})
        stream = await api.stream(answer["taskId"])
    event = f"event: message\ndata: {json.dumps(answer, separators=(',', ':'))}\n\n"
    assert stream == event * 2


async def test_a_dropped_stream_never_sends_the_final_event(
    api: Api, emulator: A1DEmulator
) -> None:
    emulator.faults.drop_stream_after = 1
    with trio.fail_after(20):
        answer = await api.submit("image-upscaler", {"imageUrl": api.input("photo.png")})
        received = events(await api.stream(answer["taskId"]))
        final, _ = await api.wait(answer["taskId"])
        assert events(await api.stream(answer["taskId"])) == []
    assert [e["status"] for e in received] == ["PENDING"]
    assert final["status"] == "FINISHED"


async def test_malformed_payloads_are_not_json(api: Api, emulator: A1DEmulator) -> None:
    emulator.finish_on_submit = emulator.faults.malformed_payloads = True
    with trio.fail_after(20):
        answer = await api.submit("image-upscaler", {"imageUrl": api.input("photo.png")})
        polled = await api.request("GET", f"/api/task/{answer['taskId']}")
        stream = await api.stream(answer["taskId"])
    assert polled.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(polled.data)
    assert stream.startswith("data: {")
    assert stream.endswith("\n\n")
    assert stream.count("\n") == 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(stream[len("data: ") :])


# -- errors: validation, unknown tasks, injected faults, expiry -----------------------------


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("image-upscaler", {"source": "api"}),
        ("image-upscaler", {"imageUrl": "https://x.test/a.png", "scale": 3}),
        ("image-upscaler", {"imageUrl": "https://x.test/a.png", "scale": "4"}),
        ("remove-bg", {"imageUrl": "file:///etc/passwd"}),
        ("video-upscaler", {"imageUrl": "https://x.test/a.mp4"}),
        ("image-generator", {"prompt": "  "}),
        ("speedpainter", {"imageUrl": "https://x.test/a.png", "sketchDuration": "2"}),
        ("image-extends", b"not json"),
    ],
)
async def test_invalid_submits_get_400_an_assumption(
    api: Api, emulator: A1DEmulator, operation: str, body: Any
) -> None:
    """ASSUMPTION: A1D's validation status and body are undocumented; we answer 400 like this."""
    with trio.fail_after(20):
        response = await api.request("POST", f"/api/{operation}", body=body)
    assert response.status == 400
    assert response.json()["error"] == "Bad Request"
    assert emulator.stats["submissions"] == 0


async def test_unknown_task_gets_404_an_assumption(api: Api) -> None:
    """ASSUMPTION: the answer for an unknown task is undocumented; we answer 404 like this."""
    with trio.fail_after(20):
        for path in ("/api/task/task_nope", "/api/task/task_nope/sse"):
            response = await api.request("GET", path)
            assert (response.status, response.json()) == (
                404,
                {"error": "Not Found", "message": "Task not found"},
            )


async def test_injected_429s_carry_retry_after_and_spare_storage(
    api: Api, emulator: A1DEmulator
) -> None:
    emulator.finish_on_submit = True
    with trio.fail_after(20):
        answer = await api.submit("image-upscaler", {"imageUrl": api.input("photo.png")})
        emulator.faults = attrs.evolve(
            emulator.faults, error_status=429, error_count=2, retry_after=3
        )
        await api.fetch(answer["imageUrl"])  # storage is not the API: no fault injected
        refused = [await api.request("GET", f"/api/task/{answer['taskId']}") for _ in range(2)]
        assert (await api.poll(answer["taskId"]))["status"] == "FINISHED"
    assert [r.status for r in refused] == [429, 429]
    assert [r.headers["Retry-After"] for r in refused] == ["3", "3"]
    assert emulator.stats["injected_errors"] == 2


async def test_results_expire_24_hours_after_completion(api: Api, emulator: A1DEmulator) -> None:
    emulator.finish_on_submit = True
    with trio.fail_after(20):
        answer = await api.submit("remove-bg", {"imageUrl": api.input("photo.png")})
        emulator.clock.advance(24 * 3600 - 60)
        await api.fetch(answer["imageUrl"])
        emulator.clock.advance(61)
        expired = await api.request("GET", answer["imageUrl"], auth=None)
        assert (await api.poll(answer["taskId"]))["status"] == "FINISHED"
    assert expired.status == 404


async def test_stats_count_what_happened(api: Api, emulator: A1DEmulator) -> None:
    with trio.fail_after(20):
        answer = await api.submit("image-generator", {"prompt": "counted"})
        await api.stream(answer["taskId"])
        final = await api.poll(answer["taskId"])
        await api.fetch(final["imageUrl"])
        await api.request("POST", "/_emulator/advance?seconds=5", auth=None)
        admin = await api.request("GET", "/_emulator/stats", auth=None)
    expected = {"requests": 3, "submissions": 1, "streams": 1, "polls": 1, "downloads": 1}
    assert {name: emulator.stats[name] for name in expected} == expected
    assert admin.json()["stats"]["submissions"] == 1
    assert emulator.clock.offset == 5


# -- serving -----------------------------------------------------------------------------------


async def test_leaving_serving_with_a_stream_open_and_a_task_running_is_prompt() -> None:
    emulator = A1DEmulator(faults=Faults(processing_seconds=60))
    with urllib3.PoolManager(retries=False, timeout=5) as pool, trio.fail_after(10):
        async with serving(emulator.app) as base_url:
            api = Api(emulator, base_url, "", f"KEY {KEY}", pool)
            answer = await api.submit("image-generator", {"prompt": "never finishes here"})
            open_stream = partial(
                pool.request,
                "GET",
                f"{base_url}/api/task/{answer['taskId']}/sse",
                headers={"Authorization": f"KEY {KEY}"},
                preload_content=False,
            )
            stream = await trio.to_thread.run_sync(open_stream)
            first = await trio.to_thread.run_sync(stream.read1, 65536)
            assert first.startswith(b'data: {"taskId"')
        stream.release_conn()
    assert emulator.stats["tasks_succeeded"] == 0


async def test_cancelling_the_caller_stops_serving() -> None:
    with trio.fail_after(10), trio.move_on_after(0.2) as scope:
        async with serving(A1DEmulator().app):
            await trio.sleep_forever()
    assert scope.cancelled_caught

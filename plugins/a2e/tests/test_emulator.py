"""The A2E emulator over real loopback HTTP, driven with plain urllib3 (not mediatask's client).

Tests whose names end ``_an_assumption`` pin a default the emulator chose where PROVIDERS.md
says UNKNOWN / NOT FOUND / UNCONFIRMED. Waits are polls of the emulator, never sleeps.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from mediatask.emulator import Faults
from mediatask.plugin import UsageError
from mediatask.testing import RawApi, mediatask_command, raw_api, standalone_emulator
from mediatask_a2e.emulator import A2EEmulator

KEY = "sk_test_0123456789abcdefghij"
OBJECT_ID = re.compile(r"[0-9a-f]{24}")
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
VENDOR_FIELDS = [
    "_id",
    "name",
    "image_url",
    "prompt",
    "negative_prompt",
    "current_status",
    "coins",
    "createdAt",
    "failed_message",
    "failed_code",
    "result_url",
]
DAYS_3 = 3 * 24 * 3600


class Api(RawApi):
    """A2E's envelope and polling over :class:`RawApi`; every call runs in a worker thread."""

    async def ok(self, method: str, url: str, body: Any = None) -> Any:
        response = await self.request(method, url, body=body)
        assert response.status == 200, response.data
        payload = response.json()
        assert payload["code"] == 0, payload
        assert UUID.fullmatch(payload["trace_id"])
        return payload["data"]

    async def wait(self, url: str, final: tuple[str, ...] = ("completed", "failed")) -> list[Any]:
        """Poll ``url`` until the record is final; return the records seen (one per change)."""
        seen: list[Any] = []
        while True:
            data = await self.ok("GET", url)
            if not seen or seen[-1] != data:
                seen.append(data)
            if data["current_status"] in final:
                return seen
            await trio.sleep(0.02)  # the polling interval, not a synchronisation

    async def coins(self) -> int:
        return int((await self.ok("GET", "/api/v1/user/remainingCoins"))["coins"])


@pytest.fixture
def emulator() -> A2EEmulator:
    return A2EEmulator(faults=Faults(processing_seconds=0.15, progress_steps=4, seed=3))


@pytest.fixture
async def api(emulator: A2EEmulator, inputs_url: str) -> AsyncIterator[Api]:
    emulator.accepted_key = KEY
    async with raw_api(Api, emulator, inputs_url, auth=f"Bearer {KEY}") as opened:
        yield opened


async def start_i2v(api: Api, **extra: Any) -> dict[str, Any]:
    body = {"name": "Test name", "image_url": api.input("photo.jpg"), "prompt": "p", **extra}
    data: dict[str, Any] = await api.ok("POST", "/api/v1/userImage2Video/start", body)
    return data


async def test_the_vendor_status_example_field_for_field(api: Api) -> None:
    with trio.fail_after(20):
        started = await start_i2v(api, negative_prompt="n")
        records = await api.wait(f"/api/v1/userImage2Video/{started['_id']}")
        response = await api.request("GET", f"/api/v1/userImage2Video/{started['_id']}")
    payload = response.json()
    assert list(payload) == ["code", "data", "trace_id"]
    data = payload["data"]
    assert list(data) == VENDOR_FIELDS
    assert list(started) == VENDOR_FIELDS
    assert OBJECT_ID.fullmatch(data["_id"])
    assert ISO_MS.fullmatch(data["createdAt"])
    assert (data["name"], data["image_url"]) == ("Test name", api.input("photo.jpg"))
    assert (data["prompt"], data["negative_prompt"]) == ("p", "n")
    assert (data["current_status"], data["coins"]) == ("completed", 100)
    assert (data["failed_message"], data["failed_code"]) == ("", "")
    path = r"/storage/adam2eve/beta/users/[0-9a-f]{24}/[0-9a-f-]{36}\.mp4"
    assert re.fullmatch(re.escape(api.base_url) + path, data["result_url"])
    words = [record["current_status"] for record in records]
    order = ["initialized", "sent", "pending", "processing", "completed"]
    assert words == sorted(words, key=order.index)  # never goes back
    assert words[-1] == "completed"
    assert all(record["result_url"] == "" for record in records[:-1])


async def test_start_charges_coins_and_the_balance_shows_it(api: Api) -> None:
    with trio.fail_after(20):
        before = await api.coins()
        await start_i2v(api, video_time=10)
        assert before - await api.coins() == 200


async def test_avatar_video_answers_an_array_with_status_and_process(
    api: Api, emulator: A2EEmulator
) -> None:
    body = {"anchor_id": "a" * 24, "anchor_type": 0, "audioSrc": api.input("speech.mp3")}
    with trio.fail_after(20):
        started = await api.ok("POST", "/api/v1/video/generate", body)
        seen: list[tuple[str, int]] = []
        while not seen or seen[-1][0] not in ("success", "fail"):
            [record] = await api.ok("POST", "/api/v1/video/awsResult", {"_id": started["_id"]})
            if not seen or seen[-1] != (record["status"], record["process"]):
                seen.append((record["status"], record["process"]))
            await trio.sleep(0.02)  # the polling interval
    words = [word for word, _ in seen]
    order = ["init", "start", "pending", "process", "copy", "success"]
    assert words == sorted(words, key=order.index)
    assert seen[-1] == ("success", 100)
    assert record["result"].endswith(".mp4")


async def test_back_id_with_custom_back_id_is_error_30005(api: Api) -> None:
    body = {
        "anchor_id": "a" * 24,
        "audioSrc": "https://x/a.mp3",
        "back_id": "1",
        "custom_back_id": "2",
    }
    with trio.fail_after(10):
        response = await api.request("POST", "/api/v1/video/generate", body=body)
    assert response.status == 400
    assert response.json()["code"] == "30005"


@pytest.mark.parametrize(
    ("mode", "status", "body_keys"),
    [
        ("http4xx_spec", 401, ["success", "error", "code", "timestamp"]),
        ("http200_code", 200, ["code", "msg", "data", "trace_id"]),
    ],
)
async def test_both_error_envelopes_for_a_missing_key(
    api: Api, emulator: A2EEmulator, mode: Any, status: int, body_keys: list[str]
) -> None:
    emulator.error_mode = mode
    with trio.fail_after(10):
        response = await api.request("GET", "/api/v1/user/remainingCoins", auth="Bearer nope")
    assert response.status == status
    payload = response.json()
    assert list(payload) == body_keys
    assert payload["code"] in ("401", 401)
    assert "Unauthorized" in (payload.get("error") or payload["msg"])


async def test_presigned_upload_then_put_without_auth_then_the_cdn(
    api: Api, emulator: A2EEmulator
) -> None:
    with trio.fail_after(20):
        grant = await api.ok("POST", "/api/v1/r2/get_upload_presigned_url", {"key": "me/a.txt"})
        assert set(grant) == {"uploadUrl", "cdnUrl", "key", "bucket", "expiresIn"}
        assert grant["bucket"] == "3days-apac"
        with_key = await api.request("PUT", grant["uploadUrl"], body=b"hello")
        assert with_key.status == 400  # a presigned URL is its own auth
        forged = grant["uploadUrl"].replace("Signature=", "Signature=x")
        assert (await api.request("PUT", forged, body=b"hello", auth=None)).status == 403
        put = await api.request("PUT", grant["uploadUrl"], body=b"hello", auth=None)
        assert put.status == 200
        fetched = await api.request("GET", grant["cdnUrl"], auth=None)
        assert (fetched.status, fetched.data) == (200, b"hello")
        emulator.clock.advance(DAYS_3 + 1)
        assert (await api.request("GET", grant["cdnUrl"], auth=None)).status == 404
    assert emulator.stats["uploads"] == 1


async def test_results_and_records_expire_after_three_days(api: Api, emulator: A2EEmulator) -> None:
    with trio.fail_after(20):
        started = await start_i2v(api)
        [*_, done] = await api.wait(f"/api/v1/userImage2Video/{started['_id']}")
        assert (await api.request("GET", done["result_url"], auth=None)).status == 200
        listed = await api.ok("GET", "/api/v1/userImage2Video/allRecords?pageNum=1&pageSize=10")
        assert (listed["count"], listed["rows"][0]["_id"]) == (1, started["_id"])
        emulator.clock.advance(DAYS_3 + 1)
        assert (await api.request("GET", done["result_url"], auth=None)).status == 404
        listed = await api.ok("GET", "/api/v1/userImage2Video/allRecords")
    assert listed == {"rows": [], "count": 0}


async def test_list_pages_newest_first_and_checks_page_size(api: Api) -> None:
    with trio.fail_after(20):
        first, second = await start_i2v(api), await start_i2v(api)
        listed = await api.ok("GET", "/api/v1/userImage2Video/allRecords?pageSize=1&pageNum=1")
        assert (listed["count"], [r["_id"] for r in listed["rows"]]) == (2, [second["_id"]])
        page2 = await api.ok("GET", "/api/v1/userImage2Video/allRecords?pageSize=1&pageNum=2")
        assert [r["_id"] for r in page2["rows"]] == [first["_id"]]
        bad = await api.request("GET", "/api/v1/userImage2Video/allRecords?pageSize=101")
        assert bad.status == 400
        batch = await api.ok(
            "POST", "/api/v1/userImage2Video/batchDetail", {"ids": [first["_id"], second["_id"]]}
        )
    assert {r["_id"] for r in batch} == {first["_id"], second["_id"]}


async def test_delete_rules_and_refund(api: Api, emulator: A2EEmulator) -> None:
    emulator.hold_work = True
    with trio.fail_after(20):
        before = await api.coins()
        busy = await start_i2v(api)
        url = f"/api/v1/userImage2Video/{busy['_id']}"
        await api.wait(url, final=("processing",))
        refused = await api.request("DELETE", url)
        assert refused.status == 400
        assert refused.json()["error"] == "Task in processing or invalid parameters"
        emulator.hold_queue, emulator.hold_work = True, False
        queued = await start_i2v(api)
        assert queued["current_status"] == "sent"  # "The initial status will be sent"
        assert before - await api.coins() == 200
        not_yet = await api.request("DELETE", f"/api/v1/userImage2Video/{queued['_id']}")
        assert not_yet.status == 400  # only initialized, completed or failed tasks
        assert before - await api.coins() == 200
        emulator.release()
        await api.wait(url)
        assert (await api.request("DELETE", url)).status == 200
        assert before - await api.coins() == 200  # no refund for a completed task


async def test_text_to_image_start_answers_a_list_of_tasks(api: Api) -> None:
    body = {"prompt": "a cat", "width": 128, "height": 96, "max_images": 2}
    with trio.fail_after(20):
        tasks = await api.ok("POST", "/api/v1/userText2image/start", body)  # either casing
        assert isinstance(tasks, list)
        assert len(tasks) == 2
        assert set(tasks[0]) >= {"_id", "name", "prompt", "current_status", "image_urls", "coins"}
        [*_, done] = await api.wait(f"/api/v1/userText2Image/{tasks[1]['_id']}")
    assert (done["width"], done["height"], len(done["image_urls"])) == (128, 96, 1)


async def test_tts_answers_a_bare_audio_url_at_once(api: Api) -> None:
    with trio.fail_after(20):
        url = await api.ok("POST", "/api/v1/video/send_tts", {"msg": "hello", "tts_id": "x"})
        assert isinstance(url, str)
        assert url.endswith(".mp3")
        audio = await api.request("GET", url, auth=None)
    assert audio.status == 200
    assert audio.headers["content-type"] == "audio/mpeg"


async def test_face_swap_records_spell_faild_message(api: Api, emulator: A2EEmulator) -> None:
    emulator.faults.failure_rate = 1.0
    body = {"name": "s", "face_url": api.input("photo.jpg"), "video_url": api.input("clip.mp4")}
    with trio.fail_after(20):
        started = await api.ok("POST", "/api/v1/userFaceSwapTask/add", body)
        [*_, failed] = await api.wait(f"/api/v1/userFaceSwapTask/{started['_id']}")
        records = await api.ok("GET", "/api/v1/userFaceSwapTask/records")
    assert failed["current_status"] == "failed"
    assert failed["faild_message"] == "processing failed"
    assert "failed_message" not in failed
    assert records["rows"][0]["_id"] == started["_id"]


async def test_an_unreadable_input_fails_the_task_not_the_start(api: Api) -> None:
    with trio.fail_after(20):
        started = await api.ok(
            "POST",
            "/api/v1/userCaptionRemoval/start",
            {"name": "c", "source_url": api.input("notes.txt")},
        )
        [*_, failed] = await api.wait(f"/api/v1/userCaptionRemoval/{started['_id']}")
    assert failed["current_status"] == "failed"
    assert "not a readable video" in failed["failed_message"]


async def test_unknown_and_malformed_ids_an_assumption(api: Api) -> None:
    with trio.fail_after(10):
        unknown = await api.request("GET", "/api/v1/userImage2Video/" + "0" * 24)
        malformed = await api.request("GET", "/api/v1/userImage2Video/123")
    assert (unknown.status, unknown.json()["error"]) == (404, "Not Found - Task not found")
    assert (malformed.status, malformed.json()["error"]) == (400, "Invalid task ID format")


async def test_insufficient_coins_is_a_400_an_assumption(api: Api, emulator: A2EEmulator) -> None:
    emulator.coins = 99
    with trio.fail_after(10):
        body = {"image_url": api.input("photo.jpg"), "prompt": "p"}
        response = await api.request("POST", "/api/v1/userImage2Video/start", body=body)
    assert response.status == 400
    assert response.json()["error"].startswith("Insufficient coins")
    assert emulator.coins == 99


@pytest.mark.parametrize(("knob", "accepted"), [("source_url", False), ("video_url", True)])
async def test_caption_removal_video_field_knob_an_assumption(
    api: Api, emulator: A2EEmulator, knob: Any, accepted: bool
) -> None:
    emulator.caption_field = knob
    body = {"name": "c", "video_url": api.input("clip.mp4")}
    with trio.fail_after(10):
        response = await api.request("POST", "/api/v1/userCaptionRemoval/start", body=body)
    assert (response.status == 200) is accepted


TALKING_VIDEO_FIELDS = [
    "_id",
    "name",
    "video_url",
    "audio_url",
    "duration",
    "current_status",
    "coins",
    "createdAt",
    "failed_message",
    "failed_code",
    "result_url",
    "prompt",
    "negative_prompt",
    "cover_url",
]


async def test_the_vendor_talking_video_start_answer_field_for_field(api: Api) -> None:
    body = {
        "name": "My Talking Video",
        "video_url": api.input("clip.mp4"),
        "audio_url": api.input("speech.mp3"),
        "duration": 5,
        "prompt": "p",
        "negative_prompt": "n",
    }
    with trio.fail_after(20):
        started = await api.ok("POST", "/api/v1/talkingVideo/start", body)
        busy = await api.ok("GET", "/api/v1/talkingVideo/allProcessing")
    assert list(started) == TALKING_VIDEO_FIELDS
    assert (started["current_status"], started["coins"], started["duration"]) == (
        "initialized",
        13,
        5,
    )
    assert [record["_id"] for record in busy] == [started["_id"]]


async def test_avatar_list_and_detail(api: Api) -> None:
    with trio.fail_after(20):
        anchors = await api.ok("GET", "/api/v1/anchor/character_list?type=default")
        anchor = anchors[0]["_id"]
        body = {"anchor_id": anchor, "audioSrc": api.input("speech.mp3")}
        started = await api.ok("POST", "/api/v1/video/generate", body)
        detail = await api.ok("GET", f"/api/v1/video/detail?video_id={started['_id']}")
        listed = await api.ok("GET", "/api/v1/video/awsList?current=1&pageSize=10")
    assert OBJECT_ID.fullmatch(anchor)
    assert detail["anchor_id"] == anchor
    assert [row["_id"] for row in listed["data"]] == [started["_id"]]


def test_the_error_style_option_switches_the_error_form() -> None:
    modes = []
    for style in ("http200", "http4xx"):
        emulator = A2EEmulator(error_mode="http200_code" if style == "http4xx" else "http4xx_spec")
        emulator.configure("error-style", style)
        modes.append(emulator.error_mode)
    assert modes == ["http200_code", "http4xx_spec"]
    with pytest.raises(UsageError, match="not one of http4xx, http200"):
        emulator.configure("error-style", "html")


@pytest.mark.subprocess
def test_mediatask_emulate_takes_the_error_style() -> None:
    """``mediatask emulate a2e --error-style http200`` answers errors with HTTP 200, code ≠ 0."""
    import json
    import urllib.request

    with standalone_emulator("a2e", "k", 0.1, options=("--error-style", "http200")) as running:
        url = f"{running.base_url}/api/v1/userImage2Video/allRecords"  # no key: refused
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310  # loopback
            status, body = answer.status, json.load(answer)
    assert status == 200
    assert (body["code"], body["data"]) == (401, None)
    assert body["msg"]
    wrong = mediatask_command("emulate", "a2e", "--error-style", "html", env={})
    assert wrong.returncode != 0
    assert "a2e emulator: error-style: 'html' is not one of http4xx, http200" in wrong.stderr


async def test_the_sandbox_takes_emulator_options_from_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mediatask.providers.manager import PluginManager
    from mediatask.providers.sandbox import open_sandbox

    monkeypatch.setenv("MEDIATASK_SANDBOX_A2E", "error-style=http200")
    async with open_sandbox(PluginManager.from_entry_points(), ["a2e"]) as box:
        assert box.emulators["a2e"].error_mode == "http200_code"
    monkeypatch.setenv("MEDIATASK_SANDBOX_A2E", "error-style")
    with pytest.raises(UsageError, match="MEDIATASK_SANDBOX_A2E: 'error-style' is not"):
        async with open_sandbox(PluginManager.from_entry_points(), ["a2e"]):
            pass

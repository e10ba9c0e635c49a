"""The Claid emulator over real loopback HTTP, driven with plain urllib3 (not mediatask's client).

Inputs are served by a second tiny server, so the emulator fetches them as the real API does.
Waits are polls of the emulator, never sleeps.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from mediatask.plugin import UsageError
from mediatask.testing import sample_photo
from mediatask_claid.emulator import ClaidEmulator

if TYPE_CHECKING:
    from conftest import Api

JSON = "application/json"
KEY = "claid-test-key"  # the conftest's

VENDOR_OPERATIONS = {"resizing": {"width": 1000}, "background": {"remove": False}}
CREATED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")
IMAGE_OBJECT_KEYS = ["ext", "mps", "mime", "format", "width", "height"]


async def test_the_vendors_async_sample_answers_as_documented(api: Api) -> None:
    sample = {"input": api.input("photo.png"), "operations": VENDOR_OPERATIONS}
    answer = await api.request("POST", "/v1-beta1/image/edit/async", body=sample)
    assert answer.status == 200  # not 202
    data = answer.json()["data"]
    assert list(answer.json()) == ["data"]
    assert list(data) == ["id", "status", "result_url", "created_at", "request"]
    assert data["id"] == 1
    assert data["status"] == "ACCEPTED"
    assert data["result_url"] == f"{api.base_url}/v1-beta1/image/edit/async/1"
    assert CREATED_AT.fullmatch(data["created_at"])
    assert data["request"] == sample

    done = await api.wait(data["result_url"])
    # The vendor's /v1-beta1 example: no result_url; errors empty; result with both objects.
    assert list(done) == ["id", "status", "created_at", "request", "errors", "result"]
    assert (done["id"], done["status"], done["errors"]) == (1, "DONE", [])
    assert done["created_at"] == data["created_at"]
    assert done["request"] == sample
    result = done["result"]
    assert list(result["input_object"]) == IMAGE_OBJECT_KEYS
    assert list(result["output_object"]) == [*IMAGE_OBJECT_KEYS, "tmp_url"]
    assert result["input_object"] == {
        "ext": "png",
        "mps": 0.003072,
        "mime": "image/png",
        "format": "PNG",
        "width": 64,
        "height": 48,
    }
    output = result["output_object"]
    assert {k: output[k] for k in IMAGE_OBJECT_KEYS} == {
        "ext": "jpeg",
        "mps": 0.75,
        "mime": "image/jpeg",
        "format": "JPEG",
        "width": 1000,
        "height": 750,
    }
    downloaded = await api.request("GET", output["tmp_url"], auth=None)  # public, no key
    with Image.open(io.BytesIO(downloaded.data)) as image:
        assert (image.format, image.size) == ("JPEG", (1000, 750))


async def test_ids_count_up_and_v1_status_answers_carry_the_result_url(api: Api) -> None:
    body = {"input": api.input("photo.jpg"), "operations": {}}
    first = (await api.request("POST", "/v1/image/edit/async", body=body)).json()["data"]
    second = (await api.request("POST", "/v1/image/edit/async", body=body)).json()["data"]
    assert (first["id"], second["id"]) == (1, 2)
    assert second["result_url"] == f"{api.base_url}/v1/image/edit/async/2"
    done = await api.wait(second["result_url"])
    assert done["result_url"] == second["result_url"]
    beta = await api.request("GET", "/v1-beta1/image/edit/async/2")  # either prefix finds it
    assert beta.json()["data"]["id"] == 2


async def test_a_task_whose_input_cannot_be_fetched_ends_in_error(api: Api) -> None:
    body = {"input": f"{api.inputs_url}/samples/missing.png", "operations": {}}
    accepted = (await api.request("POST", "/v1/image/edit/async", body=body)).json()["data"]
    failed = await api.wait(accepted["result_url"])
    assert failed["status"] == "ERROR"
    assert failed["result"] == {}
    (error,) = failed["errors"]
    assert "404" in error["error"]
    assert isinstance(error["created_at"], int)
    assert error["input_object"] is None


async def test_sync_edit_answers_the_result(api: Api) -> None:
    body = {
        "input": api.input("photo.png"),
        "operations": {"resizing": {"width": 32, "height": 32, "fit": "canvas"}},
        "output": {"format": "webp"},
    }
    answer = await api.request("POST", "/v1/image/edit", body=body)
    assert answer.status == 200
    data = answer.json()["data"]
    assert list(data) == ["input", "output"]
    assert data["output"]["format"] == "WEBP"
    assert (data["output"]["width"], data["output"]["height"]) == (32, 32)
    fetched = await api.request("GET", data["output"]["tmp_url"], auth=None)
    assert fetched.headers["content-type"] == "image/webp"


async def test_a_sync_edit_that_fails_is_a_400_image_error(api: Api) -> None:
    body = {"input": api.input("missing.png"), "operations": {}}
    answer = await api.request("POST", "/v1/image/edit", body=body)
    assert answer.status == 400
    error = answer.json()
    assert (error["error_code"], error["error_type"]) == ("emulated-400", "image")
    assert error["error_message"].startswith("Unable to retrieve the input image")
    assert "x-request-id" in answer.headers


async def test_upload_takes_the_file_and_the_document(api: Api) -> None:
    data = json.dumps({"operations": {"background": {"remove": True}}, "output": {"format": "png"}})
    fields = {"file": ("shoe", sample_photo(), "image/png"), "data": (None, data, JSON)}
    answer = await api.request("POST", "/v1-beta1/image/edit/upload", fields=fields)
    assert answer.status == 200, answer.data
    output = answer.json()["data"]["output"]
    assert output["tmp_url"].endswith("/shoe.png")  # the file's name names the result
    image = Image.open(io.BytesIO((await api.request("GET", output["tmp_url"], auth=None)).data))
    assert image.mode == "RGBA"
    assert api.emulator.stats["uploads"] == 1


async def test_upload_refuses_a_data_part_without_its_content_type(api: Api) -> None:
    """The upload reference: the JSON part has a Content-Type header, application/json."""
    data = json.dumps({"operations": {}})
    for form in ({"data": data}, {"data": (None, data, "text/plain")}):
        fields = {"file": ("shoe", sample_photo(), "image/png"), **form}
        answer = await api.request("POST", "/v1/image/edit/upload", fields=fields)
        assert answer.status == 400, answer.data
        assert "Content-Type: application/json" in answer.json()["error_message"]
    assert api.emulator.stats["uploads"] == 0


async def test_upload_refuses_a_missing_part_and_an_input_field(api: Api) -> None:
    missing = await api.request(
        "POST", "/v1/image/edit/upload", fields={"data": (None, '{"operations": {}}', JSON)}
    )
    assert missing.status == 422
    assert missing.json()["error_details"] == {"file": ["field required"]}
    with_input = {
        "file": ("a.png", sample_photo(), "image/png"),
        "data": (None, json.dumps({"input": api.input("photo.png"), "operations": {}}), JSON),
    }
    refused = await api.request("POST", "/v1/image/edit/upload", fields=with_input)
    assert refused.status == 422
    assert refused.json()["error_details"] == {"input": ["extra fields not permitted"]}


async def test_auth_is_bearer_and_the_401_is_claids(api: Api) -> None:
    for auth in (None, f"KEY {KEY}", "Bearer wrong"):
        answer = await api.request("POST", "/v1/image/edit/async", body={}, auth=auth)
        assert answer.status == 401
        assert answer.json() == {
            "error_code": "111",
            "error_type": "auth",
            "error_message": "Authorization is required.",
            "error_details": {},
        }


async def test_no_api_calls_left_is_402(api: Api) -> None:
    api.emulator.credits = 1
    body = {"input": api.input("photo.png"), "operations": {}}
    assert (await api.request("POST", "/v1/image/edit/async", body=body)).status == 200
    refused = await api.request("POST", "/v1/image/edit/async", body=body)
    assert refused.status == 402
    assert refused.json()["error_message"] == "No API calls left."
    assert refused.json()["error_type"] == "billing"


async def test_bad_json_storage_and_unknown_ids(api: Api) -> None:
    assert (await api.request("POST", "/v1/image/edit", body=b"{nope")).status == 400
    stored = {"input": "storage://storage_1/a.jpg", "operations": {}}
    refused = await api.request("POST", "/v1/image/edit/async", body=stored)
    assert (refused.status, refused.json()["error_type"]) == (400, "storage")
    assert (await api.request("GET", "/v1/image/edit/async/999")).status == 404
    not_a_number = await api.request("GET", "/v1/image/edit/async/abc")
    assert not_a_number.status == 422
    assert "task_id" in not_a_number.json()["error_details"]


async def test_tmp_url_expires_after_a_day_on_the_emulator_clock(api: Api) -> None:
    answer = await api.request(
        "POST", "/v1/image/edit", body={"input": api.input("photo.png"), "operations": {}}
    )
    url = answer.json()["data"]["output"]["tmp_url"]
    assert (await api.request("GET", url, auth=None)).status == 200
    api.emulator.clock.advance(24 * 3600 - 60)
    assert (await api.request("GET", url, auth=None)).status == 200
    api.emulator.clock.advance(61)
    assert (await api.request("GET", url, auth=None)).status == 404


async def test_rate_limit_headers_and_the_nested_429(limited_api: Api) -> None:
    answers = [await limited_api.request("POST", "/v1/image/edit", body=b"{") for _ in range(5)]
    assert [a.status for a in answers] == [400, 400, 400, 400, 429]
    # The minute window while it is the one with room, as in the vendor's example...
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["119", "118", "117", "0", "-1"]
    assert answers[0].headers["RateLimit-Limit"] == "120, 120;w=60, 4;w=1"
    assert answers[0].headers["RateLimit-Reset"] == "60"
    # ... and the second's once it has run out.
    assert answers[3].headers["RateLimit-Limit"] == "4, 120;w=60, 4;w=1"
    assert answers[3].headers["RateLimit-Reset"] == "1"
    limited = answers[4]
    assert limited.headers["RateLimit-Limit"] == "4, 120;w=60, 4;w=1"
    assert "Retry-After" not in limited.headers  # Claid documents only RateLimit-*
    assert limited.json() == {
        "detail": {
            "error_code": "2001",
            "error_type": "general",
            "error_message": "Too Many Requests. Rate limit exceeded.",
            "error_details": {},
        }
    }
    assert limited_api.emulator.stats["rate_limited"] == 1
    ids = {a.headers["x-request-id"] for a in answers}
    assert len(ids) == 5
    assert all(uuid.UUID(value).version == 4 for value in ids)


async def test_every_api_answer_has_a_request_id(api: Api) -> None:
    answers: list[Any] = [
        await api.request("POST", "/v1/image/edit/async", body={}, auth=None),
        await api.request("POST", "/v1/image/edit/async", body={"operations": {}}),
        await api.request(
            "POST", "/v1/image/edit", body={"input": api.input("photo.png"), "operations": {}}
        ),
    ]
    assert [a.status for a in answers] == [401, 422, 200]
    assert all(uuid.UUID(a.headers["x-request-id"]) for a in answers)


async def test_the_key_is_checked_before_the_rate_windows(limited_api: Api) -> None:
    """A bad key gets 401 even while the window is full, and does not use the window."""
    for _ in range(4):
        await limited_api.request("POST", "/v1/image/edit", body=b"{")
    bad = await limited_api.request("POST", "/v1/image/edit", body=b"{", auth="Bearer wrong")
    assert bad.status == 401
    assert "RateLimit-Limit" not in bad.headers
    full = await limited_api.request("POST", "/v1/image/edit", body=b"{")
    assert full.status == 429


async def test_status_reads_are_not_counted(limited_api: Api) -> None:
    answers = [await limited_api.request("GET", "/v1/image/edit/async/9") for _ in range(6)]
    assert [answer.status for answer in answers] == [404] * 6
    assert "RateLimit-Remaining" not in answers[0].headers
    assert answers[0].json()["error_message"] == "Batch image edit pipeline not found."


def test_the_rate_option_sets_the_accounts_windows() -> None:
    emulator = ClaidEmulator()
    emulator.configure("rate", "1/s,30/min")
    assert emulator.limits == ((1, 1.0), (30, 60.0))
    with pytest.raises(UsageError, match="--rate"):
        emulator.configure("rate", "fast")
    with pytest.raises(UsageError, match="no option 'colour'"):
        emulator.configure("colour", "red")

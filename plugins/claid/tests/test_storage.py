"""Claid's storage connectors: the emulator's ``/v1/storage/storages``, ``storage://`` inputs and
destinations through the client, and what the command line says about a result written there."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio
import urllib3
from PIL import Image

from mediatask.testing import Standalone, mediatask_command, standalone_emulator

if TYPE_CHECKING:
    from conftest import Api

S3 = {
    "name": "mine",
    "type": "s3",
    "parameters": {
        "bucket": "photos",
        "path": "team",
        "credentials": {"access_key": "AKIA-test", "secret_access_key": "s3cr3t-test"},
    },
}


async def test_storages_are_created_listed_read_and_deleted(api: Api) -> None:
    created = await api.request("POST", "/v1/storage/storages", body=S3)
    assert created.status == 200, created.data
    record = created.json()["data"]
    assert (record["id"], record["name"], record["type"]) == (1, "mine", "s3")
    assert record["parameters"]["credentials"] == {"access_key": "AKIA-test"}  # no secret
    assert "s3cr3t-test" not in created.data.decode()
    web = {"name": "web", "type": "web_folder", "parameters": {"base_url": api.input("")}}
    assert (await api.request("POST", "/v1/storage/storages", body=web)).status == 200
    listed = (await api.request("GET", "/v1/storage/storages")).json()["data"]
    assert [item["name"] for item in listed] == ["mine", "web"]
    assert (await api.request("GET", "/v1/storage/storages/1")).json()["data"]["name"] == "mine"
    assert (await api.request("DELETE", "/v1/storage/storages/1")).status == 200
    assert (await api.request("GET", "/v1/storage/storages/1")).status == 404
    assert (await api.request("DELETE", "/v1/storage/storages/1")).status == 404


async def test_a_wrong_storage_is_a_validation_error(api: Api) -> None:
    twice = [await api.request("POST", "/v1/storage/storages", body=S3) for _ in range(2)]
    assert [answer.status for answer in twice] == [200, 422]
    assert twice[1].json()["error_details"] == {"name": ["storage with this name already exists"]}
    wrong = {"name": "x", "type": "ftp", "parameters": {}, "colour": "red"}
    answer = await api.request("POST", "/v1/storage/storages", body=wrong)
    assert answer.status == 422
    assert set(answer.json()["error_details"]) == {"type", "colour"}
    no_secret = {**S3, "name": "y", "parameters": {"bucket": "b", "credentials": {}}}
    answer = await api.request("POST", "/v1/storage/storages", body=no_secret)
    assert "parameters.credentials.secret_access_key" in answer.json()["error_details"]


async def test_storage_management_is_not_counted_against_the_rate_windows(
    limited_api: Api,
) -> None:
    answers = [await limited_api.request("GET", "/v1/storage/storages") for _ in range(6)]
    assert [answer.status for answer in answers] == [200] * 6
    assert "RateLimit-Limit" not in answers[0].headers


async def test_a_storage_input_and_destination_through_the_async_endpoint(api: Api) -> None:
    """A web folder as input, an s3 bucket as destination: the result has no ``tmp_url`` and
    names its object; the bytes are in the bucket."""
    web = {"name": "web", "type": "web_folder", "parameters": {"base_url": api.input("")}}
    for body in (S3, web):
        assert (await api.request("POST", "/v1/storage/storages", body=body)).status == 200
    document = {
        "input": "storage://web/photo.png",
        "operations": {"resizing": {"width": 50}},
        "output": {"destination": "storage://mine/out/", "format": "png"},
    }
    submitted = await api.request("POST", "/v1/image/edit/async", body=document)
    assert submitted.status == 200, submitted.data
    with trio.fail_after(20):
        done = await api.wait(submitted.json()["data"]["result_url"])
    output = done["result"]["output_object"]
    assert "tmp_url" not in output
    assert output["claid_storage_uri"] == "storage://mine/out/photo.png"
    assert (output["object_bucket"], output["object_key"]) == ("photos", "team/out/photo.png")
    assert output["object_uri"] == "s3://photos/team/out/photo.png"
    stored = api.emulator.storages.object("storage://mine/out/photo.png")
    assert stored is not None
    assert Image.open(io.BytesIO(stored)).width == 50


async def test_an_unknown_storage_or_object_is_claids_storage_error(api: Api) -> None:
    document = {"input": "storage://nowhere/a.png", "operations": {}}
    answer = await api.request("POST", "/v1/image/edit", body=document)
    assert (answer.status, answer.json()["error_type"]) == (400, "storage")
    assert answer.json()["error_message"] == "Storage 'nowhere' not found."
    assert (await api.request("POST", "/v1/storage/storages", body=S3)).status == 200
    missing = await api.request(
        "POST", "/v1/image/edit", body={"input": "storage://mine/none.png", "operations": {}}
    )
    assert (missing.status, missing.json()["error_type"]) == (400, "image")
    assert "Unable to retrieve the object" in missing.json()["error_message"]


@pytest.fixture
def standalone() -> Iterator[Standalone]:
    """`mediatask emulate claid` in its own process (storages outlive one command there)."""
    with standalone_emulator("claid", "claid-storage-key", 0.1) as running:
        yield running


@pytest.mark.subprocess
def test_run_with_a_storage_destination_says_where_the_result_went(
    standalone: Standalone, threaded_samples_url: str, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {standalone.key}"}
    web = {"name": "web", "type": "web_folder", "parameters": {"base_url": threaded_samples_url}}
    for body in (S3, web):
        created = urllib3.request(
            "POST", f"{standalone.base_url}/v1/storage/storages", json=body, headers=headers
        )
        assert created.status == 200, created.data
    common = ["run", "claid", "edit", "-p", "output.destination=storage://mine/out/"]
    for source in (f"{threaded_samples_url}/photo.png", "storage://web/photo.png"):
        out = tmp_path / source.rpartition(":")[0].replace("/", "")
        ran = mediatask_command(*common, "-i", source, "-o", str(out), env=standalone.env)
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == (
            "written to storage://mine/out/photo.jpeg — nothing to download"
        )
        assert not out.exists() or list(out.iterdir()) == []
    as_json = mediatask_command(
        *common, "-i", "storage://web/photo.png", "--json", env=standalone.env
    )
    outcome = json.loads(as_json.stdout)
    (output,) = outcome["outputs"]
    assert (output["url"], output["downloadable"]) == ("storage://mine/out/photo.jpeg", False)
    fetched = mediatask_command(
        "download", outcome["handle"], "-o", str(tmp_path / "later"), env=standalone.env
    )
    assert fetched.returncode == 0, fetched.stderr
    assert (
        fetched.stdout.strip() == "written to storage://mine/out/photo.jpeg — nothing to download"
    )

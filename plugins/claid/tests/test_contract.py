"""Claid against the provider contract suite (``mediatask.testing.ProviderContract``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import trio

from mediatask import Job
from mediatask.model.values import Status, TaskRef
from mediatask.testing import ProviderContract, sample_photo


class TestClaidContract(ProviderContract):
    provider = "claid"
    jobs: ClassVar[Mapping[str, tuple[list[str], dict[str, Any]]]] = {
        "edit": (["photo.png"], {"operations": {"resizing": {"width": 100}}}),
    }
    status_words: ClassVar[Mapping[str, Status]] = {
        "ACCEPTED": Status.QUEUED,
        "WAITING": Status.QUEUED,
        "PAUSED": Status.QUEUED,
        "PROCESSING": Status.RUNNING,
        "DONE": Status.SUCCEEDED,
        "ERROR": Status.FAILED,
        "CANCELLED": Status.CANCELED,
    }
    unreadable = ({"id": 1}, {"data": {"id": 1}}, {"data": "x"})

    def status_payload(self, task: TaskRef, word: str) -> Mapping[str, Any]:
        return {"data": {"id": 1, "status": word, "created_at": "2026-01-01T00:00:00+00:00"}}


STORAGE = {
    "name": "mine",
    "type": "s3",
    "parameters": {"bucket": "b", "credentials": {"access_key": "a", "secret_access_key": "s"}},
}


async def test_a_storage_destination_is_a_success_that_names_the_object(
    mediatask_sandbox: Any, inputs_url: str, tmp_path: Path
) -> None:
    """Claid writes the result to the storage: the job succeeds with one output, its location,
    and nothing is downloaded (never a success with zero outputs)."""
    box, client = mediatask_sandbox
    box.emulators["claid"].storages.create(STORAGE, 0.0)
    params = {"operations": {"resizing": {"width": 40}}, "output.destination": "storage://mine/o/"}
    job = Job("claid", "edit", [f"{inputs_url}/samples/photo.png"], params)
    with trio.fail_after(20):
        result = await client.run(job, out_dir=tmp_path)
    (output,) = result.outputs
    assert (output.url, output.downloadable) == ("storage://mine/o/photo.jpeg", False)
    assert result.extra["output_object"]["object_uri"] == "s3://b/o/photo.jpeg"
    assert result.files == ()
    assert box.emulators["claid"].storages.object(output.url) is not None


async def test_a_storage_input_is_passed_on_for_claid_to_read(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    storages = box.emulators["claid"].storages
    storages.create(STORAGE, 0.0)
    storages.put(storages.place("storage://mine/in/photo.png"), sample_photo("PNG"))
    job = Job("claid", "edit", ["storage://mine/in/photo.png"], {"operations": {}})
    with trio.fail_after(20):
        result = await client.run(job, out_dir=tmp_path)
    (path,) = result.files
    assert path.stat().st_size > 0
    assert result.payload["data"]["request"]["input"] == "storage://mine/in/photo.png"

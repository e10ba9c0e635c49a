"""Echo's emulator over loopback HTTP, driven with plain urllib3 (not mediatask's client).

What the contract suite does not see: cancelling, and the progress a running task reports.
Waits are reads of the emulator's own task states, never sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest

from mediatask.emulator import Faults
from mediatask.testing import RawApi, raw_api
from mediatask_echo.emulator import EchoEmulator

KEY = "emulator-test-key"


class Api(RawApi):
    """Echo's calls over a bare HTTP client."""

    async def submit(self, body: dict[str, Any]) -> str:
        answer = await self.request("POST", "/v1/echoes", body=body)
        assert answer.status == 201, answer.data
        return str(answer.json()["id"])

    async def state(self, task_id: str) -> dict[str, Any]:
        answer = await self.request("GET", f"/v1/echoes/{task_id}")
        assert answer.status == 200, answer.data
        return dict(answer.json())

    async def finished(self, task_id: str) -> None:
        """Wait until the emulator has finished the task."""
        async with aclosing(self.emulator.find_task(task_id).states()) as states:
            async for state in states:
                if state.is_final:
                    return


@pytest.fixture
async def api(inputs_url: str) -> AsyncIterator[Api]:
    emulator = EchoEmulator(faults=Faults(processing_seconds=0.2, progress_steps=3))
    async with raw_api(Api, emulator, inputs_url, auth=f"Bearer {KEY}") as opened:
        yield opened


@pytest.mark.trio
async def test_a_canceled_task_stays_canceled_and_a_finished_one_cannot_be(api: Api) -> None:
    running = await api.submit({"operation": "draw", "prompt": "a boat"})
    canceled = await api.request("DELETE", f"/v1/echoes/{running}")
    assert (canceled.status, canceled.json()) == (200, {"id": running, "state": "canceled"})
    await api.finished(running)
    assert await api.state(running) == {"id": running, "state": "canceled"}

    done = await api.submit({"operation": "draw", "prompt": "a lamp"})
    await api.finished(done)
    refused = await api.request("DELETE", f"/v1/echoes/{done}")
    assert refused.status == 409
    assert refused.json() == {"error": {"message": "the task has already finished"}}


@pytest.mark.trio
async def test_a_running_task_reports_its_progress_and_its_stream_ends_with_the_result(
    api: Api,
) -> None:
    api.emulator.hold_work = True  # the task runs (and reports progress) until released
    task_id = await api.submit({"operation": "mirror", "image_url": api.input("photo.png")})
    async with aclosing(api.emulator.find_task(task_id).states()) as states:
        async for state in states:
            if state.progress:
                break
    running = await api.state(task_id)
    assert running["state"] == "running"
    assert 0 < running["progress"] < 100

    api.emulator.release()
    answer = await api.request("GET", f"/v1/echoes/{task_id}/events")
    events = [line for line in answer.data.decode().split("\n") if line.startswith("data: ")]
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert '"state":"done"' in events[-1]
    assert '"result_url"' in events[-1]


@pytest.mark.trio
@pytest.mark.parametrize(
    "body",
    [
        {"operation": "mirror", "image_url": "file:///etc/passwd"},
        {"operation": "mirror", "image_url": "https://x.test/a.png", "axis": "diagonal"},
        {"operation": "draw", "prompt": ""},
        {"operation": "draw", "prompt": "x", "size": True},
        {"operation": "zoom"},
        [],
    ],
)
async def test_a_bad_submit_is_a_400_in_the_envelope(api: Api, body: Any) -> None:
    answer = await api.request("POST", "/v1/echoes", body=body)

    assert answer.status == 400
    assert set(answer.json()["error"]) == {"message"}
    assert api.emulator.stats["tasks_created"] == 0

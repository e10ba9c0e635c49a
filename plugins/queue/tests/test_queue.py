"""The queue's whole lifecycle through the engine, counted at its emulator.

One submit, one status stream (or its polls) and one result request per job; a failed model
ends the job failed (and ``--retry-failed`` submits it again); a canceled request ends it
canceled; ``Client.poll`` asks once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest
import trio

from mediatask import Client, Job, JobRecord, Journal
from mediatask.batch.manifest import read_manifest
from mediatask.batch.runner import Batch, BatchOptions
from mediatask.journal.sqlite import batch_journal_path
from mediatask.model.errors import TaskCanceledError, TaskFailedError
from mediatask.model.values import Status
from mediatask.providers.manager import PluginManager
from mediatask.providers.sandbox import open_sandbox
from mediatask.testing import quick_client
from mediatask_queue.emulator import QueueEmulator

pytestmark = pytest.mark.trio


@pytest.fixture
async def queue() -> AsyncIterator[tuple[QueueEmulator, Client]]:
    plugins = PluginManager.from_entry_points()
    async with open_sandbox(plugins, ["queue"]) as box, quick_client(plugins, box) as client:
        emulator = box.emulators["queue"]
        assert isinstance(emulator, QueueEmulator)
        yield emulator, client


def draw(prompt: str) -> Job:
    return Job("queue", "draw", (), {"prompt": prompt, "size": 16})


async def finished(emulator: QueueEmulator, task_id: str) -> None:
    """Wait until the emulator has finished the request."""
    found = emulator.find_task(task_id)
    assert found is not None
    async with aclosing(found.states()) as states:
        async for state in states:
            if state.is_final:
                return


async def test_each_job_is_one_submit_one_stream_and_one_result_request(
    queue: tuple[QueueEmulator, Client], tmp_path: Path
) -> None:
    emulator, client = queue
    with trio.fail_after(30):
        for n in range(3):
            result = await client.run(draw(f"scene {n}"), tmp_path)
            assert result.files[0].stat().st_size > 0
    counts = {name: emulator.stats[name] for name in ("submissions", "streams", "polls")}
    assert counts == {"submissions": 3, "streams": 3, "polls": 0}
    assert emulator.stats["results"] == 3


async def test_followed_by_polls_each_job_asks_for_its_result_once(
    queue: tuple[QueueEmulator, Client], tmp_path: Path
) -> None:
    emulator, client = queue
    with trio.fail_after(30):
        for n in range(2):
            await client.run(draw(f"scene {n}"), tmp_path, follow="poll")
    assert (emulator.stats["streams"], emulator.stats["results"]) == (0, 2)
    assert emulator.stats["polls"] >= 2


async def test_a_failed_model_is_a_failed_task_with_the_models_reason(
    queue: tuple[QueueEmulator, Client],
) -> None:
    emulator, client = queue
    emulator.faults.failure_rate = 1.0
    with trio.fail_after(30), pytest.raises(TaskFailedError) as failed:
        await client.run(draw("a boat"))
    assert "the model failed: processing failed" in str(failed.value)
    assert failed.value.update is not None
    assert failed.value.update.status is Status.FAILED
    assert emulator.stats["results"] == 1  # the error answer was not retried


async def test_a_canceled_request_is_a_canceled_task(queue: tuple[QueueEmulator, Client]) -> None:
    emulator, client = queue
    emulator.hold_work = True
    with trio.fail_after(30):
        task = await client.submit(draw("a lamp"))
        assert "cancel requested" in await client.cancel(task)
        emulator.release()
        with pytest.raises(TaskCanceledError, match="the request was canceled"):
            await client.wait(task)


async def test_poll_asks_once_and_for_the_result_only_when_final(
    queue: tuple[QueueEmulator, Client],
) -> None:
    emulator, client = queue
    emulator.hold_work = True
    with trio.fail_after(30):
        task = await client.submit(draw("a tree"))
        running = await client.poll(task)
        assert not running.status.is_final
        assert (emulator.stats["polls"], emulator.stats["results"]) == (1, 0)
        emulator.release()
        await finished(emulator, task.task_id)
        done = await client.poll(task)
    assert done.status is Status.SUCCEEDED
    assert done.outputs
    assert (emulator.stats["polls"], emulator.stats["results"]) == (2, 1)


class _Quiet:
    """A batch observer that keeps only the jobs that ended."""

    def __init__(self) -> None:
        self.ended_jobs: list[JobRecord] = []

    def started(self, total: int, done: int) -> None:
        """Nothing to show."""

    def changed(self, job_id: str, state: str, **_: Any) -> None:
        """Nothing to show."""

    def ended(self, record: JobRecord) -> None:
        self.ended_jobs.append(record)

    def notice(self, text: str) -> None:
        """Nothing to show."""


async def test_a_failed_model_ends_failed_in_a_batch_and_retry_failed_submits_it_again(
    queue: tuple[QueueEmulator, Client], tmp_path: Path
) -> None:
    emulator, client = queue
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        '{"id": "boat", "provider": "queue", "operation": "draw", "params": {"prompt": "boat"}}\n'
    )
    manifest = read_manifest(path)
    out = tmp_path / "out"

    async def run(**options: Any) -> dict[str, int]:
        batch = Batch(client, journal, BatchOptions(out, **options), _Quiet())
        await batch.run(manifest)
        return dict(batch.summary(manifest).counts)

    emulator.faults.failure_rate = 1.0
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        first = await run()
        failed = journal.get("boat")
        emulator.faults.failure_rate = 0.0
        plain = await run()
        submits_before_retry = emulator.stats["submissions"]
        retried = await run(retry_failed=True)
    assert first["failed"] == 1
    assert plain["failed"] == 1
    assert failed is not None
    assert "the model failed" in (failed.error or "")
    assert submits_before_retry == 1
    assert retried["succeeded"] == 1
    assert emulator.stats["submissions"] == 2


async def test_a_submit_asking_to_wait_is_held_until_the_request_ends(
    queue: tuple[QueueEmulator, Client],
) -> None:
    emulator, client = queue
    held = Job("queue", "draw", (), {"prompt": "held", "size": 16, "wait": 30})
    with trio.fail_after(30):
        task = await client.submit(held)
    found = emulator.find_task(task.task_id)
    assert found is not None
    assert found.state.is_final  # answered only once the request had ended
    assert emulator.stats["held_submits"] == emulator.stats["held_submits_answered"] == 1
    assert client.provider("queue").capabilities.submit_blocks == 60

"""A2E's lists come in pages of 100: every page is read, and an old task is found by marker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from mediatask import Client, Job, Journal
from mediatask.engine.uncertain import settle
from mediatask.journal.sqlite import batch_journal_path
from mediatask.providers.manager import PluginManager
from mediatask.providers.sandbox import open_sandbox
from mediatask.testing import quick_client
from mediatask_a2e.emulated import SPECS
from mediatask_a2e.emulator import A2EEmulator

pytestmark = pytest.mark.trio

MARKED = "mediatask-00112233aabbccdd"


@pytest.fixture
async def a2e() -> AsyncIterator[tuple[A2EEmulator, Client]]:
    plugins = PluginManager.from_entry_points()
    async with open_sandbox(plugins, ["a2e"]) as box, quick_client(plugins, box) as client:
        emulator = box.emulators["a2e"]
        assert isinstance(emulator, A2EEmulator)
        emulator.hold_queue = True  # the tasks stay queued: only their records matter here
        yield emulator, client


def add_tasks(emulator: A2EEmulator, count: int, *, name: str = "listed") -> None:
    """``count`` image-to-video records, as if submitted (newest last)."""
    spec = SPECS["image-to-video"]
    body: dict[str, Any] = {
        "name": name,
        "image_url": "https://files.invalid/in.png",
        "prompt": "smiles",
    }
    for _ in range(count):
        emulator._create(spec, spec.read(body), 0, 0, "http://a2e.invalid")


async def test_a_list_of_250_tasks_is_read_to_its_end(a2e: tuple[A2EEmulator, Client]) -> None:
    emulator, client = a2e
    add_tasks(emulator, 250)
    with trio.fail_after(30):
        listing = await client.listing("a2e", "image-to-video")
        one_page = await client.listing("a2e", "image-to-video", pages=1)
    assert len({task.task_id for task in listing.tasks}) == 250
    assert (listing.pages, listing.more) == (3, False)
    assert (len(one_page.tasks), one_page.more) == (100, True)


async def test_an_uncertain_job_older_than_the_newest_100_is_found_by_its_marker(
    a2e: tuple[A2EEmulator, Client], tmp_path: Any
) -> None:
    emulator, client = a2e
    job = Job("a2e", "image-to-video", ["https://files.invalid/in.png"], {"prompt": "smiles"})
    with Journal(batch_journal_path(tmp_path)) as journal:
        journal.register("old", job, line=1)
        journal.submitting("old", MARKED)
        record = journal.get("old")
    assert record is not None
    assert record.marker == MARKED
    add_tasks(emulator, 1, name=f"job {MARKED}")
    add_tasks(emulator, 150)
    with trio.fail_after(30):
        found = await settle(client, [record])
    task = found["old"]
    assert task is not None
    assert not isinstance(task, Exception)
    assert task.extra["marker"] == MARKED

"""The engine's updates seen without asking (mediatask.engine.known): dropped once the task is
followed, and bounded, so a process running 100,000 jobs does not keep them all."""

from __future__ import annotations

from datetime import UTC, datetime

from mediatask import Client, Job, PluginManager, Settings, Status, TaskRef, Update
from mediatask.engine.known import KNOWN_LIMIT, KnownUpdates
from mediatask.testing import ScriptedTransport, reply

DONE = Update(Status.SUCCEEDED, "done", 1.0)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_oldest_update_goes_beyond_the_limit_and_keeping_one_again_makes_it_new() -> None:
    known = KnownUpdates(limit=2)
    known.keep("p:a", DONE)
    known.keep("p:b", DONE)
    known.keep("p:a", DONE)  # a is now the newest
    known.keep("p:c", DONE)
    assert (known.get("p:a"), known.get("p:b"), known.get("p:c")) == (DONE, None, DONE)
    known.drop("p:a")
    known.drop("p:never")
    assert len(known) == 1


def test_a_client_keeps_at_most_the_limit(fake_plugins: PluginManager) -> None:
    client = Client(plugins=fake_plugins, transport=ScriptedTransport())
    tasks = [TaskRef("fake", str(n), NOW) for n in range(KNOWN_LIMIT + 1)]
    for task in tasks:
        client.remember(task, DONE)
    assert client.known_update(tasks[0]) is None
    assert client.known_update(tasks[1]) == DONE
    assert client.known_update(tasks[-1]) == DONE


async def test_an_update_known_at_submit_is_dropped_once_the_task_is_followed(
    fake_plugins: PluginManager,
) -> None:
    answer = {"id": 1, "state": "done", "url": "https://out.test/1.png"}
    transport = ScriptedTransport([reply(200, answer)])
    settings = Settings(environ={"MEDIATASK_FAKE_KEY": "sk-0123456789"})
    client = Client(plugins=fake_plugins, settings=settings, transport=transport)
    task = await client.submit(Job("fake", "draw", (), {"prompt": "x"}))
    assert client.known_update(task) is not None  # final at once: no poll needed
    result = await client.wait(task)
    assert [o.url for o in result.outputs] == ["https://out.test/1.png"]
    assert len(transport.sent) == 1  # the submit only
    assert client.known_update(task) is None

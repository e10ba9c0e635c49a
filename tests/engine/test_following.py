"""Following a task: streams that reconnect, events out of order, each update passed once."""

from __future__ import annotations

import json
from collections import deque
from datetime import UTC, datetime, timedelta

import attrs
import pytest
import trio
import trio.testing

from mediatask import AuthError, Client, Job, PluginManager, RetryPolicy, Settings, Status
from mediatask.engine.following import Progress
from mediatask.model.values import Update
from mediatask.testing import ScriptedTransport, reply

EVENT_STREAM = {"content-type": "text/event-stream"}
JOB = Job("fake", "draw", params={"prompt": "p"})


def event(payload: dict[str, object], *, id: str | None = None, retry: int | None = None) -> bytes:
    lines = [f"id: {id}\n" if id is not None else "", f"retry: {retry}\n" if retry else ""]
    return ("".join(lines) + f"data: {json.dumps(payload)}\n\n").encode()


def client(plugins: PluginManager, transport: ScriptedTransport) -> Client:
    return Client(
        plugins=plugins,
        settings=Settings(environ={"MEDIATASK_FAKE_KEY": "k"}),
        transport=transport,
        retry=RetryPolicy(base_delay=1, jitter=0),
    )


async def follow(c: Client) -> list[tuple[Status, float | None]]:
    task = await c.submit(JOB)
    async with c.updates(task) as updates:
        return [(u.status, u.progress) async for u in updates]


async def test_a_dropped_stream_reconnects_after_retry_with_the_last_event_id(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    first = [event({"state": "running", "progress": 0.5}, id="e7", retry=3000)]  # then drops
    second = [event({"state": "done", "url": "https://c/o"}, id="e8")]
    transport = ScriptedTransport(
        [reply(200, {"id": "r"})], streams=[(200, EVENT_STREAM, first), (200, EVENT_STREAM, second)]
    )
    async with client(fake_plugins, transport) as c:
        got = await follow(c)
    assert got == [(Status.RUNNING, 0.5), (Status.SUCCEEDED, None)]
    assert "Last-Event-ID" not in transport.sent[1].headers
    assert transport.sent[2].headers["Last-Event-ID"] == "e7"
    assert trio.current_time() == pytest.approx(3)  # the server's retry: 3000 ms


async def test_a_failing_stream_backs_off_then_polls(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    busy = (503, {"Retry-After": "5"}, [b"{}"])
    transport = ScriptedTransport(
        [reply(200, {"id": "b"}), reply(200, {"state": "done", "url": "https://c/o"})],
        streams=[busy] * 4,
    )
    async with client(fake_plugins, transport) as c:
        got = await follow(c)
    assert got == [(Status.SUCCEEDED, None)]
    kinds = [r.url.rsplit("/", 1)[-1] for r in transport.sent]
    assert kinds == ["jobs", "events", "events", "events", "events", "b"]
    assert 15 <= trio.current_time() <= 16  # 5 s each time, as asked; then one poll


async def test_an_unusable_stream_is_polled_at_once(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = ScriptedTransport(
        [reply(200, {"id": "h"}), reply(200, {"state": "done", "url": "https://c/o"})],
        streams=[(200, {"content-type": "text/html"}, [b"<html>"])],
    )
    async with client(fake_plugins, transport) as c:
        assert await follow(c) == [(Status.SUCCEEDED, None)]


async def test_a_task_done_at_its_first_poll_is_learned_as_ending_just_before_it(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = ScriptedTransport(
        [reply(200, {"id": "h"}), reply(200, {"state": "done", "url": "https://c/o"})],
        streams=[(200, {"content-type": "text/html"}, [b"<html>"])],
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    c = attrs.evolve(
        client(fake_plugins, transport),
        clock=lambda: start + timedelta(seconds=trio.current_time()),
    )
    async with c:
        task = await c.submit(JOB)
        async with c.updates(task) as updates:
            assert [u.status async for u in updates] == [Status.SUCCEEDED]
    learned = c._follower.durations(task, c.polling)  # what the plan is fed
    assert learned._seen == deque([c.polling.initial - c.polling.minimum])
    # not half the first wait, as if it could have ended at once


async def test_a_rejected_key_on_the_stream_is_raised(fake_plugins: PluginManager) -> None:
    transport = ScriptedTransport([reply(200, {"id": "a"})], streams=[(401, {}, [b"{}"])])
    async with client(fake_plugins, transport) as c:
        with pytest.raises(AuthError):
            await follow(c)


async def test_duplicate_and_late_events_are_passed_once_and_never_backwards(
    fake_plugins: PluginManager,
) -> None:
    events = [
        event({"state": "queued"}),
        event({"state": "running", "progress": 0.5}),
        event({"state": "running", "progress": 0.25}),  # late
        event({"state": "running", "progress": 0.5}),  # duplicate
        event({"state": "queued"}),  # late
        event({"state": "done", "url": "https://c/o"}),
        event({"state": "running", "progress": 0.75}),  # after the end: never read
    ]
    transport = ScriptedTransport([reply(200, {"id": "o"})], streams=[(200, EVENT_STREAM, events)])
    async with client(fake_plugins, transport) as c:
        got = await follow(c)
    assert got == [(Status.QUEUED, None), (Status.RUNNING, 0.5), (Status.SUCCEEDED, None)]


def test_a_final_state_is_never_undone() -> None:
    progress = Progress()
    assert progress.admit(Update(Status.RUNNING, "running", 0.5))
    assert progress.admit(Update(Status.FAILED, "failed"))
    assert not progress.admit(Update(Status.SUCCEEDED, "done"))
    assert not progress.admit(Update(Status.RUNNING, "running", 0.9))
    assert progress.last == Update(Status.FAILED, "failed")

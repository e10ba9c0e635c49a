"""Rate limits per class of request: a provider that allows fewer submits than status reads
(Replicate: 600 creates a minute, 3,000 other requests) does not slow its polls to its submits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from mediatask import Client, PluginManager, Settings, TaskRef
from mediatask.http.messages import Request
from mediatask.testing import FAKE, FakePlugin, ScriptedTransport, reply


def _client(transport: ScriptedTransport, **info: Any) -> Client:
    fake = FakePlugin(attrs.evolve(FAKE, **info))
    return Client(
        plugins=PluginManager.from_plugins({"fake": fake}),
        settings=Settings(environ={"MEDIATASK_FAKE_KEY": "sk-0123456789"}),
        transport=transport,
    )


async def test_submits_keep_to_their_class_s_window_and_status_reads_do_not_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    transport = ScriptedTransport([reply(200, {"id": "t"})] * 5)
    client = _client(transport, rate_classes={"submit": [(1, 10)]}, rate_limits=[(100, 1)])
    times: dict[str, list[float]] = {"submit": [], "status": []}

    async def send(kind: str) -> None:
        request = Request("POST" if kind == "submit" else "GET", "/x")
        await client.send("fake", request, submit=kind == "submit")
        times[kind].append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for kind in ("submit", "submit", "status", "status", "status"):
            nursery.start_soon(send, kind)

    assert sorted(times["submit"]) == pytest.approx([0, 10], abs=0.01)
    assert times["status"] == pytest.approx([0, 0, 0], abs=0.01)


async def test_a_plugin_s_own_class_and_the_core_s_status_class(
    autojump_clock: trio.testing.MockClock,
) -> None:
    transport = ScriptedTransport([reply(200, {"id": "t"})] * 2)
    client = _client(transport, rate_classes={"uploads": [(1, 3600)]})
    task = TaskRef("fake", "7", datetime(2026, 1, 1, tzinfo=UTC))

    assert client.plugins.poll("fake", task).rate_class == "status"
    with trio.move_on_after(5) as waited:
        for _ in range(2):
            await client.send("fake", Request("PUT", "/upload", rate_class="uploads"))
    assert waited.cancelled_caught  # the second upload waits out the class's hour
    assert len(transport.sent) == 1

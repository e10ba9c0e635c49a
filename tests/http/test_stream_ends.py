"""A stream that ends by design (``Capabilities.stream_ends``) is followed by one poll at once.

A provider that does not declare it keeps the old way: a stream that ends before the final update
is opened again, up to three times without news, before polling.
"""

from __future__ import annotations

import json

import attrs
import trio
import trio.testing

from mediatask import Client, Job, PluginManager, PollPolicy, RetryPolicy, Settings
from mediatask.model.values import Capabilities
from mediatask.testing import FAKE, FakePlugin, ScriptedTransport, reply

KEY = "sk-stream-ends-0123"
JOB = Job("fake", "upscale", ["https://example.com/a.png"])
EVENT_STREAM = {"content-type": "text/event-stream"}
RUNNING = (200, EVENT_STREAM, [f"data: {json.dumps({'state': 'running'})}\n\n".encode()])
DONE = reply(200, {"state": "done", "url": "https://c/o"})


def client(ends_by_design: bool, transport: ScriptedTransport) -> Client:
    capabilities = Capabilities(stream=True, stream_ends=ends_by_design)
    plugins = PluginManager.from_plugins(
        {"fake": FakePlugin(attrs.evolve(FAKE, capabilities=capabilities))}
    )
    return Client(
        plugins=plugins,
        settings=Settings(environ={"MEDIATASK_FAKE_KEY": KEY}),
        transport=transport,
        polling=PollPolicy(initial=1, factor=2, maximum=8),
        retry=RetryPolicy(budget=10, base_delay=1, jitter=0),
    )


def sent(transport: ScriptedTransport) -> list[str]:
    return [request.url.rsplit("/", 1)[-1] for request in transport.sent]


async def test_a_stream_that_ends_by_design_is_followed_by_one_poll_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    transport = ScriptedTransport([reply(200, {"id": "d"}), DONE], streams=[RUNNING] * 4)
    async with client(True, transport) as c:
        result = await c.run(JOB)
    assert result.outputs[0].url == "https://c/o"
    assert sent(transport) == ["jobs", "events", "d"]
    assert trio.current_time() == 0  # no back-off before the poll


async def test_a_task_still_going_after_a_by_design_end_opens_the_stream_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    still = reply(200, {"state": "running"})
    final = (200, EVENT_STREAM, [f"data: {json.dumps({'state': 'done', 'url': 'u'})}\n\n".encode()])
    transport = ScriptedTransport([reply(200, {"id": "e"}), still], streams=[RUNNING, final])
    async with client(True, transport) as c:
        await c.run(JOB)
    assert sent(transport) == ["jobs", "events", "e", "events"]


async def test_without_the_declaration_an_ended_stream_is_opened_again_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    transport = ScriptedTransport([reply(200, {"id": "f"}), DONE], streams=[RUNNING] * 4)
    async with client(False, transport) as c:
        await c.run(JOB)
    assert sent(transport) == ["jobs", "events", "events", "events", "events", "f"]

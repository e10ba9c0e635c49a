"""A transport written against the protocol's earlier shape (``send(request)`` with no commit
hook, ``close()`` instead of ``aclose()``) still works, adapted once as the Client is built,
with a warning that names what to change."""

from __future__ import annotations

import warnings
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from mediatask import Client, Job, PluginManager, Settings
from mediatask.http.messages import Request, Response
from mediatask.testing import ScriptedTransport, reply

JOB = Job("fake", "upscale", ["https://in.test/cat.png"])
SETTINGS = Settings(environ={"MEDIATASK_FAKE_KEY": "sk-test-key"})


@attrs.define
class OldStyle:
    """Today's shape before the commit hook: ``send(request)``, a sync ``close()``."""

    events: list[str]

    async def send(self, request: Request) -> Response:
        self.events.append(f"send {request.method}")
        return reply(200, {"id": "t1", "state": "queued"})

    def open_stream(self, request: Request) -> Any:
        raise AssertionError("no streams here")

    def close(self) -> None:
        self.events.append("close")


@attrs.define
class OldSendNewClose(OldStyle):
    """Has an async ``aclose()`` already, but its ``send`` takes no hook."""

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
        self.events.append("aclose")


async def test_an_older_transport_is_adapted_with_a_warning_and_still_submits(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    events: list[str] = []
    with pytest.warns(DeprecationWarning, match=r"give its send\(\) an on_commit=None") as caught:
        client = Client(plugins=fake_plugins, settings=SETTINGS, transport=OldStyle(events))
    assert caught[0].filename == __file__  # points at the Client(...) call
    async with client:
        task = await client.submit(JOB, on_wire=lambda: events.append("on the wire"))
    assert task.task_id == "t1"
    # The hook comes before the first byte: the safe side when the last byte cannot be held.
    assert events == ["on the wire", "send POST", "close"]


async def test_an_older_transport_with_aclose_is_closed_by_it(
    fake_plugins: PluginManager,
) -> None:
    events: list[str] = []
    with pytest.warns(DeprecationWarning, match="OldSendNewClose is written against"):
        client = Client(plugins=fake_plugins, settings=SETTINGS, transport=OldSendNewClose(events))
    async with client:
        pass
    assert events == ["aclose"]


def test_a_transport_of_the_current_shape_is_taken_as_it_is(fake_plugins: PluginManager) -> None:
    transport = ScriptedTransport()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = Client(plugins=fake_plugins, settings=SETTINGS, transport=transport)
    assert client.transport is transport

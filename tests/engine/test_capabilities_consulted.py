"""Capabilities.cancel and Capabilities.list are consulted before any request: a provider
that does not declare one is never asked, whatever its plugin's hooks would build."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from mediatask import Client, Job, PluginManager, Settings, TaskRef, UsageError
from mediatask.cli.base import cli
from mediatask.engine.uncertain import settle
from mediatask.http.messages import Request, Response
from mediatask.journal.sqlite import JobRecord, JobState
from mediatask.model.values import Submitted
from mediatask.plugin import hookimpl
from mediatask.testing import FAKE, FakePlugin, ScriptedTransport, reply

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TASK = TaskRef("fake", "7", NOW, "draw")


class CancellingPlugin(FakePlugin):
    """The fake provider with cancel and list hooks, declared or not in its capabilities."""

    @hookimpl
    def mediatask_cancel(self, task: TaskRef) -> Request:
        self.calls.append("cancel")
        return Request("DELETE", f"/jobs/{task.task_id}")

    @hookimpl
    def mediatask_read_cancel(self, response: Response) -> str:
        return "deleted"

    @hookimpl
    def mediatask_list(self, operation: str | None) -> Request:
        self.calls.append("list")
        return Request("GET", "/jobs")

    @hookimpl
    def mediatask_read_list(self, response: Response) -> list[Submitted]:
        return [Submitted(str(item["id"]), extra=item) for item in response.json_object()["jobs"]]


def plugin(*, cancel: bool = False, list: bool = False) -> CancellingPlugin:
    capabilities = attrs.evolve(FAKE.capabilities, cancel=cancel, list=list)
    return CancellingPlugin(attrs.evolve(FAKE, capabilities=capabilities))


def client(fake: CancellingPlugin, transport: ScriptedTransport) -> Client:
    return Client(
        plugins=PluginManager.from_plugins({"fake": fake}),
        settings=Settings(environ={"MEDIATASK_FAKE_KEY": "sk-0123456789"}),
        transport=transport,
    )


async def test_cancel_on_a_provider_that_declares_none_is_refused_before_any_request() -> None:
    fake, transport = plugin(), ScriptedTransport()
    with pytest.raises(UsageError, match=r"^fake has no way to cancel a task$"):
        await client(fake, transport).cancel(TASK)
    assert transport.sent == []
    assert "cancel" not in fake.calls


async def test_cancel_where_declared_is_sent() -> None:
    fake, transport = plugin(cancel=True), ScriptedTransport([reply(200, {})])
    assert await client(fake, transport).cancel(TASK) == "deleted"
    assert [r.method for r in transport.sent] == ["DELETE"]


async def test_list_on_a_provider_that_declares_none_is_refused_before_any_request() -> None:
    fake, transport = plugin(), ScriptedTransport()
    with pytest.raises(UsageError, match=r"^fake has no list of tasks$"):
        await client(fake, transport).list_tasks("fake")
    assert transport.sent == []
    assert "list" not in fake.calls


async def test_uncertain_jobs_are_looked_up_only_in_a_list_the_provider_declares() -> None:
    record = JobRecord("job-1", Job("fake", "draw", (), {"prompt": "x"}), JobState.UNCERTAIN)
    record = attrs.evolve(record, marker="m-1")
    listed = reply(200, {"jobs": [{"id": 7, "marker": "m-1"}]})

    undeclared, transport = plugin(), ScriptedTransport()
    found = await settle(client(undeclared, transport), [record])
    assert isinstance(found["job-1"], UsageError)
    assert transport.sent == []

    declared, transport = plugin(list=True), ScriptedTransport([listed])
    found = await settle(client(declared, transport), [record])
    assert isinstance(found["job-1"], TaskRef)
    assert found["job-1"].task_id == "7"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cancel", "fake:7"], "fake has no way to cancel a task"),
        (["list", "fake"], "fake keeps no list of tasks that mediatask can read"),
    ],
)
def test_the_cli_says_so_in_one_line_and_asks_nothing(
    args: list[str],
    message: str,
    mediatask_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = plugin()
    plugins = PluginManager.from_plugins({"fake": fake})
    for module in ("mediatask.cli.tasks", "mediatask.cli.account"):
        monkeypatch.setattr(f"{module}.load_plugins", lambda: plugins)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [f"Error: {message}" + _tail(args)]
    assert "cancel" not in fake.calls
    assert "list" not in fake.calls


def _tail(args: list[str]) -> str:
    return ": `mediatask list` works with no installed provider" if args[0] == "list" else ""

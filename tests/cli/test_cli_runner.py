"""The one way a command runs its async part (mediatask.cli.session.run_with_client): its
value, or exit 130 on Ctrl-C, 124 past its deadline, one line for a library error."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import pytest
import trio

from mediatask import Client, PluginManager, Settings
from mediatask.cli.base import CommandError, user_errors
from mediatask.cli.session import ClientFor, run_with_client
from mediatask.engine.deadline import Deadline
from mediatask.model.errors import UsageError
from mediatask.model.values import TaskRef

T = TypeVar("T")


def run(
    plugins: PluginManager,
    work: Callable[[Client], Awaitable[T]],
    *,
    deadline: Deadline | None = None,
    interrupted: Callable[[], str] = lambda: "",
) -> T:
    client = ClientFor(plugins, ("fake",), Settings(environ={}))
    return run_with_client(client, work, deadline, _Said(interrupted))


@attrs.frozen
class _Said:
    """No task known; Ctrl-C says what ``said`` says (a :class:`Watched`)."""

    said: Callable[[], str]

    def task(self) -> TaskRef | None:
        return None

    def interrupted(self) -> str:
        return self.said()


def test_the_work_gets_a_client_and_its_value_is_returned(fake_plugins: PluginManager) -> None:
    async def work(client: Client) -> str:
        return client.provider("fake").title

    title: str = run(fake_plugins, work)
    assert title == "Fake"


def test_ctrl_c_exits_130_saying_what_the_command_says(
    fake_plugins: PluginManager, capsys: pytest.CaptureFixture[str]
) -> None:
    async def work(client: Client) -> None:
        signal.raise_signal(signal.SIGINT)
        await trio.sleep_forever()

    with pytest.raises(SystemExit) as exited:
        run(fake_plugins, work, interrupted=lambda: "fake:1 goes on at the provider")
    assert exited.value.code == 130
    assert capsys.readouterr().err.strip() == "interrupted: fake:1 goes on at the provider"


def test_a_passed_deadline_exits_124_naming_what_was_submitted(
    fake_plugins: PluginManager, capsys: pytest.CaptureFixture[str]
) -> None:
    async def work(client: Client) -> None:
        await trio.sleep_forever()

    with pytest.raises(SystemExit) as exited:
        run(fake_plugins, work, deadline=Deadline(0.0))
    assert exited.value.code == 124
    assert capsys.readouterr().err.strip() == "timed out after 0s: nothing was submitted"


def test_a_library_error_becomes_the_commands_one_line_error(
    fake_plugins: PluginManager,
) -> None:
    async def work(client: Client) -> None:
        raise UsageError("fake refused it")

    with pytest.raises(CommandError) as error, user_errors():
        run(fake_plugins, work)
    assert error.value.format_message() == "fake refused it"

"""One-question commands (status, cancel, list, credits) answer promptly.

They retry a failing provider for a short budget, say so in one line while they wait, and name
what was last answered when they give up; against a healthy provider ``status`` sends one
request. Budgets are injected (``--retry-budget``, ``retry=``) or run on trio's autojump clock:
no test waits for the wall clock's default budget.
"""

from __future__ import annotations

import http.server
import json
from datetime import UTC, datetime
from typing import Any

import click
import pytest
import trio
import trio.testing
from click.testing import CliRunner, Result

from mediatask import Client, PluginManager, RetryPolicy, Settings, TaskRef
from mediatask.cli import cli
from mediatask.cli.base import QUICK_RETRY_BUDGET
from mediatask.cli.session import open_cli_client
from mediatask.model.errors import UnavailableError
from mediatask.testing import ScriptedTransport, reply, serving_in_thread

KEY = "sk-one-question-0123"


class Counting(http.server.BaseHTTPRequestHandler):
    """Answers every GET with ``answer`` (status, JSON body) and counts the requests."""

    answer: tuple[int, dict[str, Any]] = (503, {"error": {"message": "busy"}})
    paths: list[str] = []  # noqa: RUF012  # one server per test: each test makes its subclass

    def do_GET(self) -> None:  # the stdlib's name
        type(self).paths.append(self.path)
        status, body = type(self).answer
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # the stdlib's name
        pass


def counting(answer: tuple[int, dict[str, Any]]) -> type[Counting]:
    """A fresh handler class: its own answer and its own list of paths."""

    class Handler(Counting):
        pass

    Handler.answer, Handler.paths = answer, []
    return Handler


def status_against(answer: tuple[int, dict[str, Any]], *args: str) -> tuple[Result, list[str]]:
    handler = counting(answer)
    with serving_in_thread(handler) as url:
        env = {"MEDIATASK_ECHO_BASE_URL": url, "MEDIATASK_ECHO_KEY": KEY}
        shown = CliRunner().invoke(cli, ["status", "echo:task_1", *args], env=env)
    return shown, handler.paths


def test_status_against_a_healthy_provider_sends_one_request() -> None:
    shown, paths = status_against((200, {"id": "task_1", "state": "running"}))

    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("echo:task_1  running")
    assert paths == ["/v1/echoes/task_1"]


def test_status_against_a_failing_provider_says_so_once_and_names_the_last_answer() -> None:
    shown, paths = status_against((503, {"error": {"message": "busy"}}), "--retry-budget", "1")

    assert shown.exit_code != 0
    stderr = shown.stderr
    waiting = [line for line in stderr.splitlines() if "trying again in" in line]
    assert len(waiting) == 1, stderr
    assert waiting[0].startswith("echo answers HTTP 503; trying again in ")
    assert "HTTP 503" in stderr.splitlines()[-1]
    assert "retry budget 1s" in stderr
    assert len(paths) >= 2


def test_quiet_status_says_nothing_while_it_waits() -> None:
    handler = counting(Counting.answer)
    with serving_in_thread(handler) as url:
        env = {"MEDIATASK_ECHO_BASE_URL": url, "MEDIATASK_ECHO_KEY": KEY}
        args = ["-q", "status", "echo:task_1", "--retry-budget", "1"]
        shown = CliRunner().invoke(cli, args, env=env)
    assert shown.exit_code != 0
    assert "trying again" not in shown.stderr


async def test_one_question_commands_get_a_short_budget_and_a_voice() -> None:
    plugins = PluginManager.from_entry_points()
    with click.Context(cli).scope():
        async with open_cli_client(plugins, sandbox=False, quick=True) as quick:
            assert quick.retry.budget == QUICK_RETRY_BUDGET <= 30
            assert quick.announce is not None
        async with open_cli_client(plugins, sandbox=False) as following:
            assert following.retry.budget > 30
            assert following.announce is None


async def test_a_poll_with_a_short_budget_gives_up_within_it(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    said: list[str] = []
    transport = ScriptedTransport([reply(503, {"error": "busy"})] * 50)
    settings = Settings(environ={"MEDIATASK_FAKE_KEY": KEY})
    task = TaskRef("fake", "t1", datetime(2026, 1, 1, tzinfo=UTC), "upscale")
    async with Client(
        plugins=fake_plugins, settings=settings, transport=transport, announce=said.append
    ) as client:
        with pytest.raises(UnavailableError, match="HTTP 503") as gave_up:
            await client.poll(task, retry=RetryPolicy(budget=QUICK_RETRY_BUDGET))
    assert trio.current_time() <= QUICK_RETRY_BUDGET + 1
    assert f"retry budget {QUICK_RETRY_BUDGET:.0f}s" in str(gave_up.value)
    assert len(said) == 1
    assert said[0].startswith("fake answers HTTP 503; trying again in ")

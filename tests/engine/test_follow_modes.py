"""``--follow auto|stream|poll`` and ``Client(follow=...)``: how a task is followed."""

from __future__ import annotations

import http.server
import json

import attrs
import click
import pytest
import trio
import trio.testing
from click.testing import CliRunner

from mediatask import Client, Job, PluginManager, RetryPolicy, Settings, UsageError
from mediatask.cli import cli
from mediatask.model.values import Capabilities
from mediatask.testing import FAKE, FakePlugin, ScriptedTransport, reply, serving_in_thread

KEY = "sk-follow-0123456789"
JOB = Job("fake", "upscale", ["https://example.com/a.png"])
DONE = reply(200, {"state": "done", "url": "https://c/o"})


def client(plugins: PluginManager, transport: ScriptedTransport, **options: object) -> Client:
    return Client(
        plugins=plugins,
        settings=Settings(environ={"MEDIATASK_FAKE_KEY": KEY}),
        transport=transport,
        retry=RetryPolicy(budget=5, base_delay=1, jitter=0),
        **options,  # type: ignore[arg-type]  # test-only pass-through
    )


def sent(transport: ScriptedTransport) -> list[str]:
    return [request.url.rsplit("/", 1)[-1] for request in transport.sent]


async def test_follow_poll_never_opens_the_stream(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = ScriptedTransport([reply(200, {"id": "p"}), DONE])
    async with client(fake_plugins, transport, follow="poll") as polling:
        await polling.run(JOB)
    assert sent(transport) == ["jobs", "p"]


async def test_follow_per_call_overrides_the_clients(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = ScriptedTransport([reply(200, {"id": "q"}), DONE])
    async with client(fake_plugins, transport) as auto:
        await auto.run(JOB, follow="poll")
    assert sent(transport) == ["jobs", "q"]


async def test_follow_stream_fails_instead_of_polling_when_the_stream_cannot_be_used(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    busy = (503, {"Retry-After": "1"}, [b"{}"])
    transport = ScriptedTransport([reply(200, {"id": "s"})], streams=[busy] * 4)
    async with client(fake_plugins, transport, follow="stream") as streaming:
        with pytest.raises(Exception, match="HTTP 503"):
            await streaming.run(JOB)
    assert "s" not in sent(transport)  # never polled


async def test_follow_stream_on_a_provider_without_a_stream_is_a_usage_error(
    autojump_clock: trio.testing.MockClock,
) -> None:
    plugins = PluginManager.from_plugins(
        {"fake": FakePlugin(attrs.evolve(FAKE, capabilities=Capabilities()))}
    )
    transport = ScriptedTransport([reply(200, {"id": "n"})])
    async with client(plugins, transport) as auto:
        task = await auto.submit(JOB)
        with pytest.raises(UsageError, match="fake has no status stream"):
            await auto.wait(task, follow="stream")


def test_an_unknown_follow_mode_is_a_usage_error(fake_plugins: PluginManager) -> None:
    with pytest.raises(UsageError, match="auto, stream, poll"):
        Client(plugins=fake_plugins, follow="sometimes")


class Done(http.server.BaseHTTPRequestHandler):
    """Echo's API for one finished task, counting the paths asked for."""

    paths: list[str] = []  # noqa: RUF012  # one server per test: each test makes its subclass

    def do_GET(self) -> None:  # the stdlib's name
        type(self).paths.append(self.path)
        body = {"id": "task_1", "state": "done", "result_url": "https://c.invalid/r.png"}
        if self.path.endswith("/events"):
            data = f"data: {json.dumps(body)}\n\n".encode()
            kind = "text/event-stream"
        else:
            data, kind = json.dumps(body).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # the stdlib's name
        pass


@pytest.mark.parametrize(
    ("follow", "asked"),
    [([], "/v1/echoes/task_1/events"), (["--follow", "poll"], "/v1/echoes/task_1")],
)
def test_wait_follows_as_told(follow: list[str], asked: str) -> None:
    class Handler(Done):
        paths: list[str] = []  # noqa: RUF012  # this test's own

    with serving_in_thread(Handler) as url:
        env = {"MEDIATASK_ECHO_BASE_URL": url, "MEDIATASK_ECHO_KEY": KEY}
        waited = CliRunner().invoke(cli, ["wait", "echo:task_1", *follow], env=env)
    assert waited.exit_code == 0, waited.output
    assert Handler.paths == [asked]


SENDING = ("run", "submit", "status", "watch", "wait", "download", "cancel", "list", "credits")
FOLLOWING = ("run", "watch", "wait", "download", "batch", "worker")


def test_every_command_that_sends_takes_a_retry_budget_and_every_follower_a_follow_mode() -> None:
    ctx = click.Context(cli)

    def options(name: str) -> set[str]:
        command = cli.get_command(ctx, name)
        assert command is not None, name
        return {option for param in command.params for option in param.opts}

    assert [
        name for name in (*SENDING, "batch", "worker") if "--retry-budget" not in options(name)
    ] == []
    assert [name for name in FOLLOWING if "--follow" not in options(name)] == []

"""Handles: ``submit`` prints one, and status/watch/wait/download use it from a new process."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.cli.base import retry_budget_option
from mediatask.engine.policy import RetryPolicy
from mediatask.model.errors import UsageError
from mediatask.model.parsing import parse_duration
from mediatask.testing import serving_in_thread


@pytest.mark.subprocess
def test_a_handle_from_submit_works_in_new_processes(
    standalone_echo: Any, tmp_path: Path, mediatask_cmd: Callable[..., Any]
) -> None:
    env = standalone_echo.env
    submitted = mediatask_cmd("submit", "echo", "draw", "-p", "prompt=a boat", env=env)
    assert submitted.returncode == 0, submitted.stderr
    handle = submitted.stdout.strip()
    assert handle.startswith("echo:task_")

    status = mediatask_cmd("status", handle, "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] in ("queued", "running", "succeeded")

    watched = mediatask_cmd("watch", handle, env=env)
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.strip().splitlines()[-1].startswith(f"{handle}  done")

    waited = mediatask_cmd("wait", handle, "--json", env=env)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["handle"] == handle

    out = tmp_path / "out"
    downloaded = mediatask_cmd("download", handle, "-o", str(out), env=env)
    assert downloaded.returncode == 0, downloaded.stderr
    task_id = handle.split(":", 1)[1]
    files = [Path(line) for line in downloaded.stdout.split()]
    assert [f.name for f in files] == [f"{task_id}-image.png"]
    assert all(f.is_file() for f in files)

    shown = CliRunner().invoke(cli, ["jobs", "show", handle, "--json"])
    record = json.loads(shown.stdout)
    assert record["state"] == "succeeded"
    assert record["task"]["operation"] == "draw"
    assert [e["kind"] for e in record["history"]][:3] == ["registered", "submitting", "submitted"]
    assert standalone_echo.stats()["submissions"] == 1


@pytest.mark.subprocess
def test_run_records_the_job_in_the_users_journal(standalone_echo: Any, tmp_path: Path) -> None:
    args = ["run", "echo", "draw", "-p", "prompt=x", "-o", str(tmp_path), "--json"]
    ran = CliRunner().invoke(cli, args, env=standalone_echo.env)
    assert ran.exit_code == 0, ran.output
    handle = json.loads(ran.stdout)["handle"]
    listed = CliRunner().invoke(cli, ["jobs", "list"])
    assert handle in listed.stdout
    assert "succeeded" in listed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "nocolon"], "'nocolon' is not a task handle: write PROVIDER:TASK_ID"),
        (["status", "nope:1"], "unknown provider 'nope'"),
        (["cancel", "a1d:1"], "a1d has no way to cancel a task"),
        (["list", "echo"], "echo keeps no list of tasks that mediatask can read: `mediatask list`"),
        (["credits", "claid"], "claid does not report remaining credits: `mediatask credits` "),
        (["jobs", "show", "zzz"], "has no job 'zzz'"),
        (["status", "echo:task_x", "--sandbox"], "fresh emulators that know no task"),
    ],
)
def test_task_commands_fail_in_one_line(args: list[str], message: str) -> None:
    env = {"MEDIATASK_A1D_KEY": "k", "MEDIATASK_ECHO_KEY": "k"}
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.subprocess
def test_key_option_beats_the_environment(standalone_echo: Any) -> None:
    env = {**standalone_echo.env, "MEDIATASK_ECHO_KEY": "wrong"}
    args = ["submit", "echo", "draw", "-p", "prompt=x"]
    refused = CliRunner().invoke(cli, args, env=env)
    assert "echo rejected the key" in refused.output
    accepted = CliRunner().invoke(cli, [*args, "--key", standalone_echo.key], env=env)
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout.startswith("echo:")


def test_providers_show_and_plugins() -> None:
    shown = CliRunner().invoke(cli, ["providers", "show", "echo"])
    assert shown.exit_code == 0
    assert "size                 int; default 32; one of 16, 32, 64  pixels" in shown.stdout
    assert "key: no key (set MEDIATASK_ECHO_KEY)" in shown.stdout
    data = json.loads(CliRunner().invoke(cli, ["providers", "show", "echo", "--json"]).stdout)
    assert data["max_concurrency"] is None  # undocumented: learned, not guessed
    plugins = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).stdout)
    echo = next(p for p in plugins["plugins"] if p["name"] == "echo")
    assert echo["distribution"] == "mediatask-echo"
    assert "mediatask_submit" in echo["hooks"]
    assert "echo" in CliRunner().invoke(cli, ["plugins"]).stdout


def test_a_handle_splits_on_its_first_colon() -> None:
    from mediatask.cli.session import parse_handle

    assert parse_handle("claid:1") == ("claid", "1")
    assert parse_handle("a2e:abc:def") == ("a2e", "abc:def")


# -- deadlines: --timeout, --cancel-on-timeout, --retry-budget ------------------------------


@pytest.fixture
def slow_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """--sandbox tasks that take a minute: longer than any deadline below."""
    monkeypatch.setenv("MEDIATASK_SANDBOX_SECONDS", "60")


def test_run_past_its_timeout_exits_124_naming_the_task(slow_sandbox: None, tmp_path: Path) -> None:
    args = ["run", "echo", "draw", "-p", "prompt=x", "--sandbox", "--timeout", "1s"]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path)])
    assert result.exit_code == 124, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("timed out after 1s: echo:task_")
    assert "goes on at the provider" in line
    assert "mediatask download echo:task_" in line
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_cancel_on_timeout_cancels_the_task_at_the_provider(
    slow_sandbox: None, tmp_path: Path
) -> None:
    args = ["run", "echo", "draw", "-p", "prompt=fog", "--sandbox", "-o", str(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "--timeout", "1", "--cancel-on-timeout"])
    assert result.exit_code == 124, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("timed out after 1s; canceled echo:task_"), line


def test_cancel_on_timeout_says_when_the_provider_cannot_cancel(
    slow_sandbox: None, tmp_path: Path
) -> None:
    args = ["run", "a1d", "image-generator", "-p", "prompt=x", "--sandbox", "-o", str(tmp_path)]
    result = CliRunner().invoke(cli, [*args, "--timeout", "1", "--cancel-on-timeout"])
    assert result.exit_code == 124, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert "could not cancel it (a1d has no way to cancel a task)" in line
    assert "goes on at the provider" in line


@pytest.mark.subprocess
def test_wait_and_watch_stop_at_their_timeout(
    start_echo: Callable[[str, float], Any], mediatask_cmd: Callable[..., Any]
) -> None:
    emulator = start_echo("sk-slow-0123456789", 120)
    submitted = mediatask_cmd("submit", "echo", "draw", "-p", "prompt=x", env=emulator.env)
    assert submitted.returncode == 0, submitted.stderr
    handle = submitted.stdout.strip()
    for command in ("wait", "watch"):
        result = CliRunner().invoke(cli, [command, handle, "--timeout", "1"], env=emulator.env)
        assert result.exit_code == 124, result.output
        line = result.stderr.strip().splitlines()[-1]
        assert line == (
            f"timed out after 1s: {handle} goes on at the provider; collect it later with "
            f"`mediatask download {handle}`"
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--timeout", "soon"],
            "'soon' is not a duration: write e.g. 90 (seconds), 30s, 5m, 1h or 1h30m",
        ),
        (["--timeout", "0"], "a duration must be more than 0 seconds"),
        (["--cancel-on-timeout"], "--cancel-on-timeout needs --timeout"),
        (["--retry-budget", "-1m"], "'-1m' is not a duration"),
    ],
)
def test_bad_deadlines_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["run", "echo", "draw", "-p", "prompt=x", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("1.5s", 1.5)],
)
def test_durations_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5x", "30m1h", "-5", "0", "inf", "nan"])
def test_other_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("given", "budget"), [(["--retry-budget", "2m"], 120.0), (["--retry-budget", "0"], 0.0)]
)
def test_retry_budget_becomes_the_retry_policy(given: list[str], budget: float) -> None:
    seen: list[RetryPolicy | None] = []

    @click.command()
    @retry_budget_option
    def command(retry: RetryPolicy | None) -> None:
        seen.append(retry)

    assert CliRunner().invoke(command, given).exit_code == 0
    assert CliRunner().invoke(command, []).exit_code == 0
    assert seen == [RetryPolicy(budget=budget), None]


@pytest.mark.subprocess
def test_ctrl_c_ends_a_long_retry_after_wait() -> None:
    """A provider that says "come back in 250 s" does not hold Ctrl-C."""
    polled = threading.Event()

    class Busy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # stdlib's name
            self.send_response(503)
            self.send_header("Retry-After", "250")
            self.send_header("Content-Length", "0")
            self.end_headers()
            polled.set()  # the stream or a poll: either way the command now waits 250 s

        def log_message(self, format: str, *args: object) -> None:  # stdlib's name
            pass

    with serving_in_thread(Busy) as url:
        env = {**os.environ, "MEDIATASK_ECHO_BASE_URL": url, "MEDIATASK_ECHO_KEY": "k"}
        command = [sys.executable, "-m", "mediatask", "wait", "echo:task_x"]
        with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env) as waiting:
            try:
                assert polled.wait(timeout=30), "the command never asked"
                waiting.send_signal(signal.SIGINT)
                code = waiting.wait(timeout=10)  # not the 250 s asked for
            finally:
                if waiting.poll() is None:
                    waiting.kill()
            assert waiting.stderr is not None
            rest = waiting.stderr.read()
    assert code == 130
    assert "interrupted: echo:task_x goes on at the provider" in rest
    assert "Traceback" not in rest

"""Handles: ``submit`` prints one, and status/watch/wait/download use it from a new process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mediatask.cli import cli


def test_a_handle_from_submit_works_in_new_processes(
    standalone_a1d: Any, tmp_path: Path, mediatask_cmd: Callable[..., Any]
) -> None:
    env = standalone_a1d.env
    submitted = mediatask_cmd("submit", "a1d", "image-generator", "-p", "prompt=a boat", env=env)
    assert submitted.returncode == 0, submitted.stderr
    handle = submitted.stdout.strip()
    assert handle.startswith("a1d:task_")

    status = mediatask_cmd("status", handle, "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] in ("queued", "running", "succeeded")

    watched = mediatask_cmd("watch", handle, env=env)
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.strip().splitlines()[-1].startswith(f"{handle}  FINISHED")

    waited = mediatask_cmd("wait", handle, "--json", env=env)
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["handle"] == handle

    out = tmp_path / "out"
    downloaded = mediatask_cmd("download", handle, "-o", str(out), env=env)
    assert downloaded.returncode == 0, downloaded.stderr
    task_id = handle.split(":", 1)[1]
    files = [Path(line) for line in downloaded.stdout.split()]
    assert [f.name.split(".")[0] for f in files] == [f"{task_id}-image", f"{task_id}-thumbnail"]
    assert all(f.is_file() for f in files)

    shown = CliRunner().invoke(cli, ["jobs", "show", handle, "--json"])
    record = json.loads(shown.stdout)
    assert record["state"] == "succeeded"
    assert record["task"]["operation"] == "image-generator"
    assert [e["kind"] for e in record["history"]][:3] == ["registered", "submitting", "submitted"]
    assert standalone_a1d.stats()["submissions"] == 1


def test_run_records_the_job_in_the_users_journal(standalone_a1d: Any, tmp_path: Path) -> None:
    args = ["run", "a1d", "image-generator", "-p", "prompt=x", "-o", str(tmp_path), "--json"]
    ran = CliRunner().invoke(cli, args, env=standalone_a1d.env)
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
        (["list", "a1d"], "a1d keeps no list of tasks that mediatask can read: `mediatask list` "),
        (["credits", "claid"], "claid does not report remaining credits: `mediatask credits` "),
        (["jobs", "show", "zzz"], "has no job 'zzz'"),
        (["status", "a1d:task_x", "--sandbox"], "fresh emulators that know no task"),
    ],
)
def test_task_commands_fail_in_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args, env={"MEDIATASK_A1D_KEY": "k"})
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_key_option_beats_the_environment(standalone_a1d: Any) -> None:
    env = {**standalone_a1d.env, "MEDIATASK_A1D_KEY": "wrong"}
    args = ["submit", "a1d", "image-generator", "-p", "prompt=x"]
    refused = CliRunner().invoke(cli, args, env=env)
    assert "a1d rejected the key" in refused.output
    accepted = CliRunner().invoke(cli, [*args, "--key", standalone_a1d.key], env=env)
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout.startswith("a1d:")


def test_providers_show_and_plugins() -> None:
    shown = CliRunner().invoke(cli, ["providers", "show", "a1d"])
    assert shown.exit_code == 0
    assert "scale                int; default 2; one of 2, 4, 8, 16" in shown.stdout
    assert "key: no key (set MEDIATASK_A1D_KEY)" in shown.stdout
    data = json.loads(CliRunner().invoke(cli, ["providers", "show", "a1d", "--json"]).stdout)
    assert data["max_concurrency"] == 4
    plugins = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).stdout)
    a1d = next(p for p in plugins["plugins"] if p["name"] == "a1d")
    assert a1d["distribution"] == "mediatask-a1d"
    assert "mediatask_submit" in a1d["hooks"]
    assert "a1d" in CliRunner().invoke(cli, ["plugins"]).stdout


def test_a_handle_splits_on_its_first_colon() -> None:
    from mediatask.cli.session import parse_handle

    assert parse_handle("claid:1") == ("claid", "1")
    assert parse_handle("a2e:abc:def") == ("a2e", "abc:def")

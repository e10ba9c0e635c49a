"""``mediatask emulate --all``, the long-lived sandbox: submit → watch → download across
processes, exactly as the README shows it (its block is run by bash here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediatask.journal.sqlite import batch_journal_path
from mediatask.testing import interrupt_batch, mediatask_command

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
SAMPLE = ROOT / "samples" / "lighthouse.png"


def readme_block(containing: str) -> str:
    """The README's ```sh block that contains ``containing``."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    [block] = [block for block in blocks if containing in block]
    return str(block)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``mediatask emulate --all`` in its own process; the variables its export lines set."""
    command = [sys.executable, "-m", "mediatask", "emulate", "--all", "--processing-seconds", "0.3"]
    with subprocess.Popen(  # our own command, no shell
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        env: dict[str, str] = {}
        try:
            while "MEDIATASK_HOME" not in env:
                line = process.stdout.readline()
                found = re.fullmatch(r"export (\w+)=(\S+)\n", line)
                assert found, f"not an export line: {line!r}"
                env[found.group(1)] = found.group(2)
            yield env
        finally:
            process.send_signal(signal.SIGINT)
            _, errors = process.communicate(timeout=10)
        assert process.returncode == 0, errors
        assert errors.rstrip().endswith("sandbox stopped")
    assert not Path(env["MEDIATASK_HOME"]).exists()  # its journal went with it


@pytest.mark.subprocess
def test_the_readme_flow_runs_against_the_long_lived_sandbox(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "samples").mkdir()
    shutil.copy(SAMPLE, tmp_path / "samples")
    flow = readme_block("--input samples/lighthouse.png)")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(  # bash runs the README's block, no user input
        ["bash", "-euo", "pipefail", "-c", flow],  # noqa: S607  # bash from PATH, as a user's
        cwd=tmp_path,
        env={**os.environ, **sandbox, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "FINISHED" in done.stdout
    [image] = (tmp_path / "out").glob("*-image.png")
    assert image.stat().st_size > 0
    # journalled in the sandbox's own home, never the user's
    listed = mediatask_command("jobs", "list", env=sandbox)
    assert "a1d remove-bg" in listed.stdout
    assert "a1d remove-bg" not in mediatask_command("jobs", "list", env={}).stdout


@pytest.mark.subprocess
def test_the_export_lines_name_every_provider_and_the_file_host(
    sandbox: dict[str, str],
) -> None:
    for name in ("A1D", "CLAID", "A2E"):
        assert sandbox[f"MEDIATASK_{name}_BASE_URL"].startswith("http://127.0.0.1:")
        assert sandbox[f"MEDIATASK_{name}_KEY"].startswith("sandbox-")
    assert sandbox["MEDIATASK_FILE_HOST"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["emulate"], "name one PROVIDER, or give --all"),
        (["emulate", "a1d", "--all"], "name one PROVIDER, or give --all"),
        (["emulate", "--all", "--port", "8080"], "--all picks free loopback ports"),
        (["emulate", "--all", "--host", "::1"], "--all picks free loopback ports"),
        (["run", "a1d", "remove-bg", "--input", str(SAMPLE), "--file-host", "http://10.1.1.1:9"],
         "an http file host must be the sandbox's"),
    ],
)  # fmt: skip
@pytest.mark.subprocess
def test_misuse_is_one_line(args: list[str], said: str) -> None:
    done = mediatask_command(*args, env={"MEDIATASK_A1D_KEY": "sk-x"})
    assert done.returncode != 0
    assert said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.subprocess
def test_an_interrupted_sandbox_batch_says_what_a_rerun_does_and_does_it(tmp_path: Path) -> None:
    jobs = [
        {"provider": "echo", "operation": "draw", "params": {"prompt": f"p{n}"}} for n in range(6)
    ]
    (tmp_path / "jobs.jsonl").write_text("\n".join(json.dumps(job) for job in jobs) + "\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "mediatask", "batch", str(tmp_path / "jobs.jsonl")]
    command += ["-o", str(out), "--sandbox"]
    first = interrupt_batch(
        *command[4:], env={"MEDIATASK_SANDBOX_SECONDS": "60"}, after_submitted=3
    )
    rest = first.stderr
    assert first.returncode == 130, rest
    assert "their tasks died with this command's sandbox: a re-run submits them again" in rest

    quick = {**os.environ, "MEDIATASK_SANDBOX_SECONDS": "0.1"}
    again = subprocess.run(command, env=quick, capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "│ succeeded │    6 │" in again.stdout
    assert " lost" not in again.stderr
    assert batch_journal_path(out, sandbox=True).is_file()
    assert not batch_journal_path(out).exists()  # the real journal never saw these jobs


@pytest.mark.subprocess
def test_jobs_list_reads_a_sandbox_batchs_journal(tmp_path: Path) -> None:
    job = {"provider": "echo", "operation": "draw", "params": {"prompt": "x"}}
    (tmp_path / "jobs.jsonl").write_text(json.dumps(job) + "\n")
    out = tmp_path / "out"
    env = {"MEDIATASK_SANDBOX_SECONDS": "0.1"}
    ran = mediatask_command(
        "batch", str(tmp_path / "jobs.jsonl"), "-o", str(out), "--sandbox", env=env
    )
    assert ran.returncode == 0, ran.stderr
    listed = mediatask_command("jobs", "list", "--journal", str(out), "--json", env={})
    assert [record["state"] for record in json.loads(listed.stdout)] == ["succeeded"]


@pytest.mark.subprocess
@pytest.mark.parametrize("command", ["submit", "status", "watch", "wait", "download", "cancel"])
def test_sandbox_is_offered_only_where_it_helps(command: str) -> None:
    helped = mediatask_command("run", "--help", env={})
    assert "--sandbox" in helped.stdout
    shown = mediatask_command(command, "--help", env={})
    assert shown.returncode == 0
    assert "--sandbox" not in shown.stdout  # taken still, for old scripts, but not offered


@pytest.mark.subprocess
def test_sandbox_runs_stay_out_of_the_users_journal_and_are_still_recognised(
    tmp_path: Path,
) -> None:
    env = {"MEDIATASK_SANDBOX_SECONDS": "0"}
    args = ["echo", "draw", "-p", "prompt=x", "-o", str(tmp_path), "--sandbox", "--json"]
    ran = mediatask_command("run", *args, env=env)
    assert ran.returncode == 0, ran.stderr
    handle = json.loads(ran.stdout)["handle"]
    listed = mediatask_command("jobs", "list", "--json", env={})
    assert json.loads(listed.stdout) == []
    later = mediatask_command("status", handle, env={})
    assert f"{handle} came from a --sandbox run" in later.stderr

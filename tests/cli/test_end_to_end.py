"""Whole commands in separate processes: a standalone emulator, `run` against it, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from mediatask.testing import (
    Standalone,
    mediatask_command,
    serving_folder,
    standalone_emulator,
)

SAMPLES = Path(__file__).parents[2] / "samples"
KEY = "e2e-key-7d1f"
HOUR = 3600.0  # a task that outlasts any test
HANG = 120  # seconds: a guard against a hang, never a measure


@pytest.fixture
def samples_url() -> Iterator[str]:
    """The samples folder served over HTTP, as the real API needs public input URLs."""
    with serving_folder(SAMPLES) as url:
        yield url


@pytest.fixture
def emulator() -> Iterator[Standalone]:
    """`mediatask emulate echo --port 0 --key KEY` in its own process."""
    with standalone_emulator("echo", KEY, 0.6) as running:
        yield running


@pytest.mark.subprocess
def test_run_against_a_standalone_emulator_follows_sse_with_progress(
    emulator: Standalone, samples_url: str, tmp_path: Path
) -> None:
    image_url = f"{samples_url}/lighthouse.png"
    ran = mediatask_command(
        "run",
        "echo",
        "mirror",
        "--input",
        image_url,
        "-p",
        "axis=vertical",
        "-o",
        str(tmp_path),
        env=emulator.env,
    )
    assert ran.returncode == 0, ran.stderr
    image = Path(ran.stdout.split()[0])
    with Image.open(SAMPLES / "lighthouse.png") as original, Image.open(image) as mirrored:
        assert mirrored.size == original.size
    progress = [line for line in ran.stderr.splitlines() if "running" in line]
    assert progress, ran.stderr  # progress was shown as it came
    assert any("%" in line for line in progress)
    counts = emulator.stats()
    assert counts["streams"] == 1  # followed over SSE
    assert counts.get("polls", 0) == 0  # ... without polling
    assert counts["submissions"] == 1


@pytest.mark.subprocess
def test_wrong_key_against_the_standalone_emulator(emulator: Standalone, samples_url: str) -> None:
    env = {**emulator.env, "MEDIATASK_ECHO_KEY": "wrong-key"}
    ran = mediatask_command(
        "run", "echo", "mirror", "--input", f"{samples_url}/lighthouse.png", env=env
    )
    assert ran.returncode == 1
    assert ran.stderr.strip() == (
        "Error: echo rejected the key (HTTP 401) (invalid API key): check MEDIATASK_ECHO_KEY"
    )


@pytest.mark.subprocess
def test_ctrl_c_ends_run_at_once_and_names_the_task(samples_url: str, tmp_path: Path) -> None:
    """Ctrl-C ends the run while its task is still going: nothing waits for the provider.

    Deterministic: the task takes an hour and the run is given minutes (a guard against a hang,
    not a measure), and the provider still says "running" afterwards. That each wait gives way
    to cancellation at once is proved in process, on virtual time (``test_retry.py``'s
    ``test_cancel_reaches_*``).
    """
    command = [sys.executable, "-m", "mediatask", "run", "echo", "mirror"]
    command += ["--input", f"{samples_url}/lighthouse.png", "-o", str(tmp_path)]
    with (
        standalone_emulator("echo", KEY, HOUR) as slow,
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **slow.env},
        ) as run,
    ):
        assert run.stderr is not None
        submitted = run.stderr.readline()
        assert submitted.startswith("submitted echo:task_"), submitted
        handle = submitted.split()[1]
        run.stderr.readline()  # the first status line: the run is now reading the SSE stream
        run.send_signal(signal.SIGINT)
        code = run.wait(timeout=HANG)
        rest = run.stderr.read()
        status = mediatask_command("status", handle, "--json", env=slow.env)
    assert code == 130
    assert f"interrupted: task {handle} may still be running at the provider" in rest
    assert "Traceback" not in rest
    assert json.loads(status.stdout)["status"] in {"queued", "running"}  # it did not wait
    assert list(tmp_path.iterdir()) == []

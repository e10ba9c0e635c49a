"""Ctrl-C at random moments of a 200-job batch, and the same command run again after each one.

Issue 9's guarantee: Ctrl-C at any moment, from "just started" to "nearly done", never prints a
traceback, always exits 130, and never leaves a job *uncertain* whose submit did not reach the
provider. "Any moment" starts when Python runs the command's code: in the interpreter's own
start-up before it, Python's default (a KeyboardInterrupt traceback) applies, and such moments
are counted, not failed. The emulators run in their own processes (``mediatask emulate``) and
count, per job, the submits that reached them (:meth:`Standalone.submits`), so both are checked
after every interruption, and that no task was ever created twice.

The batch mixes A1D and Claid (whose client-side rate limiter makes jobs wait for their turn:
that wait must not be shielded). Every job's input is its own URL, so each job has its own
identity in the emulators' ledgers. The interruptions come in rounds: a fresh batch is
interrupted a few times, then the plain command finishes every job of it.

``MEDIATASK_CTRL_C_RUNS`` sets the number of interruptions (the issue's figure is 200; the
default keeps the test near a minute and a half), ``MEDIATASK_CTRL_C_JOBS`` the batch's size,
``MEDIATASK_CTRL_C_SEED`` the seed of the moments.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediatask.testing import Standalone, serving_folder, standalone_emulators

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"
RUNS = int(os.environ.get("MEDIATASK_CTRL_C_RUNS", "12"))
JOBS = int(os.environ.get("MEDIATASK_CTRL_C_JOBS", "200"))
SEED = int(os.environ.get("MEDIATASK_CTRL_C_SEED", "9"))
INTERRUPTIONS_PER_ROUND = 4
CLAID_EVERY = 10
"""One job in ten goes to Claid (its 120 requests a minute would slow the rounds down)."""
STARTING = 0.125
"""The share of interruptions that come during the start-up, before the first event line."""
KEYS = {"a1d": "storm-a1d-key", "claid": "storm-claid-key"}
LINES_PER_JOB = 8
"""About how many event lines a job prints on stderr when it is not a terminal (submitting,
submitted, queued, running n%…, succeeded, downloaded)."""


def job_line(round_number: int, n: int, inputs: str) -> dict[str, Any]:
    source = f"{inputs}/in.png?round={round_number}&job={n}"  # the job's identity at the provider
    if n % CLAID_EVERY == 0:
        resize = {"operations": {"resizing": {"width": 32}}, "output": {"format": "png"}}
        job: dict[str, Any] = {"provider": "claid", "operation": "edit", "params": resize}
    else:
        job = {"provider": "a1d", "operation": "remove-bg"}
    return {"id": f"r{round_number}-j{n:03d}", "input": source, **job}


@pytest.fixture
def emulators() -> Iterator[dict[str, Standalone]]:
    with standalone_emulators(KEYS, 0.2) as emulators:
        yield emulators


def journal_rows(out: Path) -> dict[str, sqlite3.Row]:
    path = out / ".mediatask" / "journal.sqlite"
    if not path.exists():
        return {}
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return {row["id"]: row for row in db.execute("SELECT * FROM jobs")}


def interrupt_at_random(
    command: list[str], env: dict[str, str], remaining: int, moments: random.Random
) -> tuple[subprocess.Popen[str], str, str] | None:
    """Start ``command`` and send it SIGINT after a random number of its event lines.

    With ``remaining`` unfinished jobs, the moment is drawn between "just started" (during the
    imports) and "nearly done" (about one job's events still to come). ``None`` if the batch
    ended first (it then must have exited 0).
    """
    process = subprocess.Popen(  # our own command, no shell
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen: list[str] = []
    start_up = moments.random() < STARTING
    lines = 0 if start_up else moments.randrange(1, max(2, (remaining - 1) * LINES_PER_JOB))
    if lines == 0:
        # A random moment of the start-up, not a wait for something to happen.
        time.sleep(moments.uniform(0.05, 1.0))
    for line in process.stderr if lines else ():
        seen.append(line)
        if len(seen) >= lines:
            break
    else:
        if lines:  # the batch ended before its moment came
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, "".join(seen) + err
            return None
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return process, out, "".join(seen) + err


@pytest.mark.subprocess
@pytest.mark.slow
def test_ctrl_c_at_random_moments_never_a_traceback_never_falsely_uncertain(
    emulators: dict[str, Standalone], tmp_path: Path, mediatask_home: Path
) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.png")
    env = {**os.environ, "MEDIATASK_HOME": str(mediatask_home)}
    for emulator in emulators.values():
        env.update(emulator.env)
    moments = random.Random(SEED)  # noqa: S311  # interruption moments, not secrets
    outcomes: Counter[str] = Counter()

    with serving_folder(tmp_path) as inputs:
        round_number = 0
        while outcomes["interrupted"] < RUNS:
            round_number += 1
            folder = tmp_path / f"round-{round_number}"
            folder.mkdir()
            lines = [job_line(round_number, n, inputs) for n in range(JOBS)]
            manifest = folder / "jobs.jsonl"
            manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
            out = folder / "out"
            command = [sys.executable, "-m", "mediatask", "batch", str(manifest), "-o", str(out)]

            for _ in range(min(INTERRUPTIONS_PER_ROUND, RUNS - outcomes["interrupted"])):
                rows = journal_rows(out)
                remaining = JOBS - sum(row["state"] == "succeeded" for row in rows.values())
                ran = interrupt_at_random(command, env, remaining, moments)
                if ran is None:
                    outcomes["ended first"] += 1
                    break
                process, stdout, stderr = ran
                outcomes["interrupted"] += 1
                if python_start_up(stderr):
                    outcomes["in Python's own start-up"] += 1
                    check_ledgers(emulators, journal_rows(out), lines)
                    continue
                assert "Traceback" not in stderr, stderr[-3000:]
                assert process.returncode == 130, (process.returncode, stderr[-3000:], stdout)
                check_ledgers(emulators, journal_rows(out), lines)

            final = subprocess.run(  # our own command, no shell
                [*command, "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            rows = journal_rows(out)
            states = Counter(row["state"] for row in rows.values())
            assert final.returncode == 0, (dict(states), final.stderr[-3000:])
            assert states == {"succeeded": JOBS}, dict(states)
            check_ledgers(emulators, rows, lines)
            submits = {name: emulator.submits() for name, emulator in emulators.items()}
            created = [
                submits[line["provider"]]["url:" + line["input"]]["created"] for line in lines
            ]
            assert created == [1] * JOBS  # every job's task created once, whatever the moments
            outcomes["rounds"] += 1
    print(f"{JOBS}-job batches, Ctrl-C at random moments, all exited 130: {dict(outcomes)}")


def python_start_up(stderr: str) -> bool:
    """True if Ctrl-C came before Python ran any of mediatask's command code.

    Until ``mediatask/__main__.py`` runs (the interpreter starting, runpy compiling it), Python's
    own default applies (a KeyboardInterrupt traceback); no program can catch it there.
    """
    frames = [line for line in stderr.splitlines() if line.lstrip().startswith("File ")]
    ours = [frame for frame in frames if "mediatask" in frame and "__init__.py" not in frame]
    return stderr.rstrip().endswith("KeyboardInterrupt") and bool(frames) and not ours


def check_ledgers(
    emulators: dict[str, Standalone], rows: dict[str, sqlite3.Row], lines: list[dict[str, Any]]
) -> None:
    """Every uncertain job's submit reached its provider, and no task was created twice."""
    submits = {name: emulator.submits() for name, emulator in emulators.items()}
    for line in lines:
        row = rows.get(line["id"])
        if row is not None and row["state"] == "uncertain":
            seen = submits[line["provider"]].get("url:" + line["input"], {"received": 0})
            assert seen["received"] >= 1, (line["id"], row["error"])
    for name, emulator in emulators.items():
        assert emulator.created_twice() == [], name


@pytest.mark.subprocess
def test_ctrl_c_while_the_manifest_is_read_exits_130_in_one_line(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    os.mkfifo(manifest)  # its reader blocks until the writer below closes it
    command = [sys.executable, "-m", "mediatask", "batch", str(manifest), "-o", str(tmp_path)]
    with subprocess.Popen(  # our own command, no shell
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        writer = os.open(manifest, os.O_WRONLY)  # returns once the batch opened it to read
        try:
            process.send_signal(signal.SIGINT)  # outside any trio run: click would exit 1
            _, stderr = process.communicate(timeout=30)
        finally:
            os.close(writer)
    assert process.returncode == 130, stderr
    assert stderr.strip() == "interrupted"

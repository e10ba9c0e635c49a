"""The live batch display in a real pseudo-terminal at 80 and 120 columns, and after Ctrl-C.

A 50-job ``mediatask batch --sandbox`` runs under a pty of the given size; pyte turns the bytes it
writes into a screen. The first frame with 20 or more jobs done is the screenshot. The checks are
about structure, never timings: at 80 columns progress, done/total, the counts per state, the
throughput and an ETA are all on screen, and no number is cut to ``…``; the 120-column frame has
labelled, uncut time columns. Then Ctrl-C: the frame stays once, not with its top line twice.

``MEDIATASK_UPDATE_SCREENSHOTS=1`` rewrites docs/screenshots/batch-COLUMNS.txt from the capture;
otherwise the checked-in screenshots must have the same layout as the capture.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shlex
import shutil
import struct
import sys
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyte
import pytest

ROOT = Path(__file__).parents[2]
DOCS_CLI = ROOT / "docs" / "cli.md"
MARKER = "<!-- screenshot: batch-80"
SCREENSHOTS = ROOT / "docs" / "screenshots"
SAMPLE = ROOT / "samples" / "lighthouse.png"
UPDATE_ENV = "MEDIATASK_UPDATE_SCREENSHOTS"
UPDATE = bool(os.environ.get(UPDATE_ENV))  # read now: the tests' fixtures clear MEDIATASK_*
ROWS = 24
JOBS = 50

HEAD = re.compile(r"^\S batch (\d+)/50 [━╸╺ ]+ +\d+% ETA (\d+:\d\d:\d\d)$")
STATES = re.compile(
    r"^(waiting \d+ +)?((submitting|queued|running|downloading|succeeded|failed) \d+ +)+"
    r"\d+(\.\d)? jobs/(min|s) +elapsed \d+:\d\d:\d\d$"
)
TASK_ROW = re.compile(
    r"^  j\d\d +\S+ +(submitting|submitted|queued|running|downloading) +[━╸╺ ]+\s*(\d+%)?$"
)


def manifest(folder: Path) -> Path:
    shutil.copy(SAMPLE, folder / "in.png")
    kinds: list[dict[str, Any]] = [
        {"operation": "image-upscaler", "input": "in.png", "params": {"scale": 2}},
        {"operation": "remove-bg", "input": "in.png"},
        {"operation": "image-generator", "params": {"prompt": "sky"}},
    ]
    lines = [{"provider": "a1d", "id": f"j{n:02d}", **kinds[n % 3]} for n in range(JOBS)]
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def spawn(columns: int, argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, int]:
    """Start ``argv`` in ``cwd`` on a new pty of ``columns`` x ROWS; (pid, the pty's master)."""
    pid, master = pty.fork()
    if pid == 0:  # the child: size its terminal before anything reads it, then exec
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, columns, 0, 0))
        os.chdir(cwd)
        os.execve(argv[0], argv, env)  # noqa: S606  # this Python, no shell wanted
    return pid, master


def docs_section() -> str:
    text = DOCS_CLI.read_text()
    start = text.index("### The live display")
    return text[start : text.index("\n#", start + 1)]


def docs_example() -> tuple[dict[str, str], list[str]]:
    """The example command of the docs' live display section: (its environment, its argv)."""
    (line,) = re.findall(r"```sh\n(.*?)\n```", docs_section())
    words = shlex.split(line)
    start = words.index("mediatask")
    return dict(word.split("=", 1) for word in words[:start]), words[start:]


def chunks(master: int) -> Iterator[bytes]:
    """What the program writes, as it comes, until it exits (Linux reports EIO then)."""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data:
            return
        yield data


def lines_of(screen: pyte.Screen) -> list[str]:
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def is_screenshot(lines: list[str]) -> bool:
    """A whole frame (a row for each job in flight) with 20+ jobs done, one with its progress.

    The terminal may have only part of a frame when a read returns (rich writes it line by line).
    """
    if len(lines) < 3:
        return False
    head, states = HEAD.match(lines[0]), STATES.match(lines[1])
    if not (head and states and int(head[1]) >= 20):
        return False
    counts = dict(re.findall(r"(submitting|queued|running|downloading) (\d+)", lines[1]))
    rows = [line for line in lines[2:] if TASK_ROW.match(line)]
    whole = len(rows) == sum(int(n) for n in counts.values()) == len(lines) - 2
    return whole and any(line.endswith("%") for line in rows)


def run_batch(tmp_path: Path, columns: int) -> tuple[list[str], list[str]]:
    """(the screenshot, the screen after Ctrl-C) of a 50-job sandbox batch on a pty."""
    manifest(tmp_path)
    example_env, words = docs_example()
    assert words == ["mediatask", "batch", "jobs.jsonl", "-o", "out", "--sandbox"], words
    env = {**os.environ, "TERM": "xterm-256color", "MEDIATASK_HOME": str(tmp_path / "home")}
    # Quick tasks for the checks; the docs' (like a real API's) for their screenshots.
    env.update(example_env if UPDATE else {"MEDIATASK_SANDBOX_SECONDS": "0.5"})
    for name in ("COLUMNS", "LINES", "NO_COLOR"):
        env.pop(name, None)
    argv = [sys.executable, "-m", "mediatask", *words[1:]]
    pid, master = spawn(columns, argv, env, tmp_path)
    screen = pyte.Screen(columns, ROWS)
    stream = pyte.ByteStream(screen)
    shot: list[str] = []
    try:
        for data in chunks(master):
            stream.feed(data)
            if not shot and is_screenshot(lines_of(screen)):
                shot = lines_of(screen)
                os.write(master, b"\x03")  # Ctrl-C, as typed: the terminal echoes ^C
    finally:
        os.close(master)
        _, status = os.waitpid(pid, 0)
    assert shot, "no frame with 20 jobs done:\n" + "\n".join(lines_of(screen))
    assert os.waitstatus_to_exitcode(status) == 130
    return shot, lines_of(screen)


def skeleton(lines: list[str]) -> list[str]:
    """What a frame's layout is, without its numbers: the kind of each line."""
    kinds = []
    for line in lines:
        if HEAD.match(line):
            kinds.append("head")
        elif STATES.match(line):
            kinds.append("states")
        elif TASK_ROW.match(line):
            kinds.append("task")
        else:
            kinds.append(re.sub(r"\d+", "9", line))
    return kinds


def check_against_checked_in(columns: int, shot: list[str]) -> None:
    """The checked-in screenshot (and, at 80 columns, the docs' copy) has the capture's layout."""
    path = SCREENSHOTS / f"batch-{columns}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(shot) + "\n")
        if columns == 80:
            docs = DOCS_CLI.read_text()
            start = docs.index(docs_block(), docs.index(MARKER))
            end = start + len(docs_block())
            DOCS_CLI.write_text(docs[:start] + "\n".join(shot) + docs[end:])
        return
    kept = path.read_text().splitlines()
    assert skeleton(kept)[:3] == skeleton(shot)[:3], f"{path} is stale: set {UPDATE_ENV}=1"
    assert all(len(line) <= columns for line in kept)
    if columns == 80:
        assert docs_block() == "\n".join(kept), f"docs/cli.md is stale: set {UPDATE_ENV}=1"


def docs_block() -> str:
    """The screenshot in docs/cli.md's live display section."""
    (block,) = re.findall(
        r"<!-- screenshot: batch-80 .*?-->\n```text\n(.*?)\n```", docs_section(), re.S
    )
    return str(block)


@pytest.mark.skipif(sys.platform != "linux", reason="pty end-of-output is EIO on Linux")
def test_at_80_columns_every_number_that_matters_is_visible(tmp_path: Path) -> None:
    shot, after = run_batch(tmp_path, 80)
    head, states = shot[0], shot[1]
    assert HEAD.match(head), head  # spinner, batch done/total, a bar, percent, ETA
    assert "━" in head
    assert STATES.match(states), states  # counts per state, throughput, elapsed
    assert all(len(line) <= 78 for line in shot)  # the right-edge margin
    numbers = "\n".join(shot[:2])
    assert "…" not in numbers
    assert "…" not in "".join(line.split()[-1] for line in shot[2:] if TASK_ROW.match(line))
    check_against_checked_in(80, shot)
    assert_clean_after_ctrl_c(after)


@pytest.mark.skipif(sys.platform != "linux", reason="pty end-of-output is EIO on Linux")
def test_at_120_columns_the_time_columns_have_labels_and_are_whole(tmp_path: Path) -> None:
    shot, after = run_batch(tmp_path, 120)
    assert re.search(r" ETA \d+:\d\d:\d\d$", shot[0])
    assert re.search(r" elapsed \d+:\d\d:\d\d$", shot[1])
    assert "…" not in "\n".join(shot)  # at 120 columns nothing needs shortening
    check_against_checked_in(120, shot)
    assert_clean_after_ctrl_c(after)


def assert_clean_after_ctrl_c(after: list[str]) -> None:
    """The last frame once (not its top line doubled), then the interrupt's own line."""
    heads = [line for line in after if HEAD.match(line.removeprefix("^C"))]
    assert len(heads) == 1, "\n".join(after)
    assert any(line.startswith("interrupted: ") for line in after), "\n".join(after)


# -- listings and the summary at 80 and 120 columns -----------------------------------------
#
# ``providers``, ``jobs list`` and a finished batch's summary, each run to its end on a pty of 80
# and of 120 columns. No word may be cut by the terminal's wrap: every word on the screen is a
# whole word of the same output printed 400 columns wide. The captures are kept as
# docs/screenshots/NAME-COLUMNS.txt (numbers aside, they must match; MEDIATASK_UPDATE_SCREENSHOTS=1
# rewrites them).

TALL = 200
"""Rows of the pty for listings: all of a listing fits, so the screen is all of it."""


def screen_of(
    columns: int, args: list[str], env: dict[str, str], cwd: Path, exit_code: int = 0
) -> list[str]:
    """What ``mediatask ARGS`` leaves on a ``columns``-wide pty, run to its end."""
    pid, master = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", TALL, columns, 0, 0))
        os.chdir(cwd)
        argv = [sys.executable, "-m", "mediatask", *args]
        os.execve(argv[0], argv, env)  # noqa: S606  # this Python, no shell wanted
    screen = pyte.Screen(columns, TALL)
    stream = pyte.ByteStream(screen)
    try:
        for data in chunks(master):
            stream.feed(data)
    finally:
        os.close(master)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == exit_code, "\n".join(lines_of(screen))
    return lines_of(screen)


def words_of(lines: list[str]) -> set[str]:
    return set(re.split(r"[\s│┃┏┓┗┛┡┩└┘┌┐━─╇╈┳┻┼╋┣┫┠┨]+", "\n".join(lines))) - {""}


def listing_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "TERM": "xterm-256color", "MEDIATASK_HOME": str(tmp_path / "home")}
    for name in ("COLUMNS", "LINES", "NO_COLOR", "MEDIATASK_PLUGINS"):
        env.pop(name, None)
    return {k: v for k, v in env.items() if not re.fullmatch(r"MEDIATASK_\w+_KEY", k)}


def journal_with_jobs(home: Path) -> None:
    """Jobs as `jobs list` shows them after a day's use: long handles, a worker, a failure."""
    from datetime import UTC, datetime

    from mediatask.journal.sqlite import JobState, Journal
    from mediatask.model.values import Job, TaskRef

    home.mkdir(mode=0o700, parents=True, exist_ok=True)  # private, as mediatask makes it
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    with Journal(home / "journal.sqlite") as journal:
        jobs = [
            ("job-5d1c2a9e", Job("a1d", "image-upscaler", ("photo.png",), {"scale": 4})),
            ("job-0b7e44f1", Job("a2e", "text-to-image", (), {"prompt": "fog"})),
            ("lighthouse-at-dusk", Job("claid", "edit", ("photo.png",), {})),
        ]
        for job_id, job in jobs:
            journal.register(job_id, job)
        for job_id in ("job-5d1c2a9e", "job-0b7e44f1"):
            journal.submitting(job_id)  # a task exists only after its submit
        journal.submitted("job-5d1c2a9e", TaskRef("a1d", "task_ce91dd27c75a3f11", at))
        journal.submitted("job-0b7e44f1", TaskRef("a2e", "6b14c3e7fa4a0c339c24f828", at))
        journal.ended("lighthouse-at-dusk", JobState.FAILED, "claid refused: image too small")


def check_kept(name: str, columns: int, shot: list[str]) -> None:
    path = SCREENSHOTS / f"{name}-{columns}.txt"
    if UPDATE:
        path.write_text("\n".join(shot) + "\n")
        return
    numbers = re.compile(r"\d+(\.\d+)?")
    kept = path.read_text().splitlines()

    def normalised(lines: list[str]) -> list[str]:  # numbers aside; rows in any order
        return sorted(numbers.sub("9", line) for line in lines)

    assert normalised(kept) == normalised(shot), f"{path} is stale: set {UPDATE_ENV}=1"


@pytest.mark.skipif(sys.platform != "linux", reason="pty end-of-output is EIO on Linux")
@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize(
    ("name", "args"),
    [("providers", ["providers"]), ("jobs-list", ["jobs", "list"])],
)
def test_listings_wrap_between_words_only(
    name: str, args: list[str], columns: int, tmp_path: Path
) -> None:
    env = listing_env(tmp_path)
    journal_with_jobs(tmp_path / "home")
    shot = screen_of(columns, args, env, tmp_path)
    wide = screen_of(400, args, env, tmp_path)
    assert shot
    assert all(len(line) < columns for line in shot), "a line filled the terminal: it wrapped"
    assert words_of(shot) == words_of(wide), "a word was cut, or lost"
    check_kept(name, columns, shot)


@pytest.mark.skipif(sys.platform != "linux", reason="pty end-of-output is EIO on Linux")
@pytest.mark.parametrize("columns", [80, 120])
def test_the_batch_summary_wraps_between_words_only(columns: int, tmp_path: Path) -> None:
    jobs = manifest(tmp_path)
    mistakes = [  # two lines with reasons long enough to wrap in the "why" column
        {"provider": "a1d", "operation": "image-upscaler", "input": "in.png", "params": {"s": 2}},
        {"provider": "a1d", "operation": "image-upscale", "input": "in.png"},
    ]
    with jobs.open("a") as file:
        file.writelines(json.dumps(line) + "\n" for line in mistakes)
    env = {**listing_env(tmp_path), "MEDIATASK_SANDBOX_SECONDS": "0.05"}
    args = ["batch", "jobs.jsonl", "-o", "out", "--sandbox"]
    screen = screen_of(columns, args, env, tmp_path, exit_code=1)
    shot = screen[next(i for i, line in enumerate(screen) if "batch summary" in line) :]
    footer = next(line for line in shot if "this run ended" in line)
    # the two mistakes are invalid lines, refused before the run: the run ended the other 50
    assert re.fullmatch(r"\d+\.\d s; this run ended 50 jobs, \d+(\.\d)? jobs/(min|s)", footer)
    elsewhere = tmp_path / "wide"  # the same batch afresh, its command the same
    elsewhere.mkdir()
    shutil.copy(tmp_path / "in.png", elsewhere)
    shutil.copy(jobs, elsewhere)
    wide = screen_of(400, args, env, elsewhere, exit_code=1)
    wide = wide[next(i for i, line in enumerate(wide) if "batch summary" in line) :]
    assert words_of(shot) - words_of([footer]) <= words_of(wide)
    assert all(len(line) <= columns for line in shot)
    check_kept("summary", columns, shot)

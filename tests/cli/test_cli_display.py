"""The live display on a terminal, plain lines elsewhere, and NO_COLOR."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from rich.console import Console

from mediatask import Job, JobRecord, JobState, Status, TaskRef, Update
from mediatask.batch.runner import result_line
from mediatask.batch.summary import REASON_LENGTH, short_reason, tally
from mediatask.cli.display import (
    LiveDisplay,
    PlainDisplay,
    TaskLine,
    next_steps,
    open_display,
    summary_table,
)

JOB = Job("echo", "draw", (), {"prompt": "x"})
TASK = TaskRef("echo", "task_1", datetime(2026, 1, 1, tzinfo=UTC))
DONE = JobRecord("j1", JOB, JobState.SUCCEEDED, task=TASK, outputs=({"path": "out/j1-image.png"},))
FAILED = JobRecord("j2", JOB, JobState.FAILED, error="echo:task_2 failed: boom")


def terminal(**options: object) -> tuple[Console, io.StringIO]:
    file = io.StringIO()
    return Console(file=file, force_terminal=True, width=140, **options), file  # type: ignore[arg-type]  # test console


def play(display: LiveDisplay | PlainDisplay) -> None:
    display.started(3, 0)
    display.changed("j1", "submitting")
    display.changed("j1", "running", handle="echo:task_1", progress=0.4)
    display.changed("j2", "queued", handle="echo:task_2")
    display.ended(DONE)
    display.ended(FAILED)


def frame(display: LiveDisplay, width: int, height: int = 24) -> list[str]:
    """The display's current frame as a terminal of that size shows it, without colour."""
    console = Console(
        file=io.StringIO(), width=width, height=height, force_terminal=True, no_color=True
    )
    display.console = console
    with console.capture() as captured:
        console.print(display.render())
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", captured.get())
    return [line.rstrip() for line in plain.splitlines()]


def test_live_display_shows_bar_counts_throughput_and_per_task_progress() -> None:
    # Updated for issue 14: the display is a rich Live laid out from the terminal's width (it was
    # a Progress with fixed columns); frames are rendered at a chosen size instead of refreshed.
    console, file = terminal()
    with open_display(console) as display:
        assert isinstance(display, LiveDisplay)
        display.started(3, 0)
        assert "batch 0/3" in frame(display, 140)[0]
        display.changed("j1", "submitting")
        display.changed("j1", "running", handle="echo:task_1", progress=0.4)
        display.changed("j2", "queued", handle="echo:task_2")
        screen = frame(display, 140)
        display.console = console
        display.ended(DONE)
        display.ended(FAILED)
        after = frame(display, 140)
    assert re.search(r"j1 +echo:task_1 +running .* 40%$", screen[2])  # the provider's progress
    assert re.search(r"j2 +echo:task_2 +queued\b", screen[3])
    assert "running 1" in screen[1]  # counts per state
    assert "waiting 1  queued 1  running 1" in screen[1]
    assert "batch 2/3" in after[0]
    assert "67%" in after[0]
    assert re.search(r"\d jobs/(min|s)\b", after[1])  # the throughput, in human units
    assert "succeeded 1  failed 1" in after[1]
    assert len(after) == 2  # no job in flight: no rows
    assert "echo:task_2 failed: boom" in file.getvalue()


def busy(in_flight: int) -> LiveDisplay:
    moments = iter([0.0])  # the display's clock: it starts at 0, then reads 600 s forever
    display = LiveDisplay(Console(file=io.StringIO()), now=lambda: next(moments, 600.0))
    display.started(1000, 0)  # ten minutes in: 40 jobs/min
    for n in range(400):
        display.ended(JobRecord(f"done{n}", JOB, JobState.SUCCEEDED))
    for n in range(in_flight):
        handle = f"echo:task_{n:04d}{'f' * 40}"
        display.changed(f"job-{n:04d}", "downloading", handle=handle, progress=0.5)
    return display


def test_at_80_columns_every_number_is_whole_and_rows_show_what_fits() -> None:
    lines = frame(busy(3), 80)
    assert all(len(line) <= 78 for line in lines)  # a margin for the ^C the terminal echoes
    assert re.fullmatch(r"\S batch 400/1000 [━╸╺ ]+ 40% ETA 0:15:00", lines[0])
    assert re.fullmatch(
        r"waiting 597  downloading 3  succeeded 400  40 jobs/min  elapsed 0:10:00",
        lines[1],
    )
    row = lines[2]
    assert row.startswith("  job-0000 echo:task_0000")
    assert "…" in row  # the long handle is shortened, first
    assert re.search(r" downloading +[━╸╺ ]+ +50%$", row)  # state, bar and percent stay whole


def test_on_a_narrow_terminal_the_counts_wrap_and_are_never_cut() -> None:
    lines = frame(busy(1), 44)
    text = "\n".join(lines)
    assert "batch 400/1000" in lines[0]
    assert "ETA" in lines[0]
    assert "succeeded 400" in text
    assert "jobs/min" in text
    assert "…" not in "\n".join(lines[:3])


def test_rows_stop_at_the_terminals_height_and_say_how_many_more() -> None:
    lines = frame(busy(40), 120, height=24)
    assert len(lines) == 23  # a line spare: a frame as tall as the screen would scroll
    assert lines[-1] == "  … and 20 more in flight"
    narrow = frame(busy(40), 44, height=12)  # the counts take two lines here
    assert len(narrow) == 11
    assert narrow[-1] == "  … and 33 more in flight"


def test_plain_display_is_one_line_per_event() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=200)
    display = open_display(console)
    assert isinstance(display, PlainDisplay)
    play(display)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]  # a StringIO
    assert lines == [
        "batch: 3 jobs, 0 already final",
        "j1 submitting",
        "j1 echo:task_1 running 40%",
        "j2 echo:task_2 queued",
        "j1 echo:task_1 succeeded: out/j1-image.png [1/3]",
        "j2 - failed: echo:task_2 failed: boom [2/3]",
    ]
    assert "\x1b" not in console.file.getvalue()  # type: ignore[attr-defined]  # a StringIO


def colours(text: str) -> set[str]:
    found = set()
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        for code in params.split(";"):
            if code.isdigit() and (30 <= int(code) <= 38 or 90 <= int(code) <= 97):
                found.add(code)
    return found


def test_no_color_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    console, file = terminal()
    with LiveDisplay(console) as display:
        play(display)
    assert colours(file.getvalue())  # colour by default on a terminal

    monkeypatch.setenv("NO_COLOR", "1")
    console, file = terminal()
    with LiveDisplay(console) as display:
        play(display)
    assert not colours(file.getvalue())


def test_task_line_for_run() -> None:
    console, file = terminal()
    with TaskLine(console) as line:
        line(TASK, Update(Status.RUNNING, "PROCESSING", 0.5))
        line.progress.refresh()
    assert "echo:task_1 PROCESSING" in file.getvalue()
    plain = Console(file=io.StringIO(), force_terminal=False)
    with TaskLine(plain) as line:
        line(TASK, Update(Status.RUNNING, "PROCESSING", 0.5))
    assert plain.file.getvalue() == "echo:task_1  PROCESSING 50%\n"  # type: ignore[attr-defined]  # a StringIO


def test_task_line_shows_the_provider_s_message_when_only_it_changed() -> None:
    plain = Console(file=io.StringIO(), force_terminal=False)
    with TaskLine(plain) as line:
        line(TASK, Update(Status.RUNNING, "processing", message="loading the model"))
        line(TASK, Update(Status.RUNNING, "processing", message="sampling"))
    assert plain.file.getvalue().splitlines() == [  # type: ignore[attr-defined]  # a StringIO
        "echo:task_1  processing (loading the model)",
        "echo:task_1  processing (sampling)",
    ]


def test_summary_table_counts_this_runs_jobs_only_and_says_why() -> None:
    # Updated for issue 10: the throughput counts the jobs this run ended (5 in 2 s), not
    # succeeded + failed (which included jobs finished by earlier runs), and reasons are shown.
    job = Job("echo", "draw", (), {"prompt": "x"})
    failed = JobRecord("f", job, JobState.FAILED, error="x", reason="echo failed the task: NSFW")
    html = "<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
    unfinished = JobRecord("u", job, JobState.UNFINISHED, error=html, task=TASK)
    records = [("skipped", DONE)] * 40 + [("succeeded", DONE)] * 3 + [("failed", failed)] * 2
    summary = tally(
        [*records, ("unfinished", unfinished)], [], settles=lambda _: False, seconds=2.0, ended=5
    )
    console, file = terminal(no_color=True)
    console.print(summary_table(summary))
    for line in next_steps(summary, "mediatask batch jobs.jsonl -o out"):
        console.print(line)
    text = file.getvalue()
    assert "succeeded" in text
    assert "expired" not in text  # zero rows are left out
    assert "150 jobs/min" in text
    assert "echo failed the task: NSFW" in text
    assert "502 Bad Gateway nginx" in text
    assert "<" not in text
    assert "2 failed: run  mediatask batch jobs.jsonl -o out --retry-failed" in text
    assert "1 unfinished: run  mediatask batch jobs.jsonl -o out\n" in text


def test_each_recovery_command_counts_only_its_own_jobs() -> None:
    job = Job("a2e", "text-to-image", (), {"prompt": "x"})
    listed = JobRecord("l", job, JobState.UNCERTAIN, error="x", marker="mediatask-0")
    unlisted = JobRecord("u", JOB, JobState.UNCERTAIN, error="x")
    pending = JobRecord("p", JOB, JobState.PENDING)
    records = [("uncertain", listed), ("uncertain", unlisted), ("pending", pending)]
    summary = tally(records, [], settles=lambda r: r.marker is not None, seconds=1.0, ended=0)
    lines = [str(line) for line in next_steps(summary, "mediatask batch j.jsonl -o out")]
    assert lines[0].startswith("1 uncertain, 1 pending: run  mediatask batch j.jsonl -o out\n")
    assert "looks uncertain jobs up in the provider's list of tasks again" in lines[0]
    assert lines[1].startswith(
        "1 uncertain: run  mediatask batch j.jsonl -o out --resubmit-uncertain"
    )


def test_short_reasons_are_one_line_of_plain_text() -> None:
    page = "<html>\n<title>Error</title>\x1b[31m" + "y" * 300 + "</html>"
    reason = short_reason(page, drop=["task_1"])
    assert "\n" not in reason
    assert "<" not in reason
    assert "\x1b" not in reason
    assert len(reason) == REASON_LENGTH
    assert short_reason("echo:task_1 failed", drop=["echo:task_1"]) == "… failed"


def test_plain_lines_are_never_wrapped() -> None:
    console = Console(file=io.StringIO(), force_terminal=False, width=40)
    display = PlainDisplay(console)
    display.started(1, 0)
    long_error = "x" * 120
    display.ended(JobRecord("j", JOB, JobState.FAILED, error=long_error))
    assert f"j - failed: {long_error} [1/1]" in console.file.getvalue().splitlines()  # type: ignore[attr-defined]  # a StringIO


def test_a_notice_is_printed_as_it_is_by_both_displays() -> None:
    text = "c07: submitting again to Echo; [this] may pay for a second one"
    plain = Console(file=io.StringIO(), force_terminal=False, width=40)
    PlainDisplay(plain).notice(text)
    assert plain.file.getvalue() == text + "\n"  # type: ignore[attr-defined]  # a StringIO
    console, file = terminal(no_color=True)
    with LiveDisplay(console) as live:
        live.notice(text)
    assert text in file.getvalue()


def test_stdout_stays_for_data_while_the_live_display_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console, file = terminal()
    with LiveDisplay(console) as display:
        display.started(1, 0)
        print('{"job": "j1"}')  # e.g. a result line a script reads
    assert capsys.readouterr().out == '{"job": "j1"}\n'
    assert '{"job"' not in file.getvalue()


def test_jobs_written_to_the_providers_storage_are_said_to_be_there() -> None:
    """A result the provider wrote where the job asked is a success with nothing to download:
    the summary says where, and the results file marks it (never a silent empty success)."""
    placed = {"url": "storage://mine/out/a.jpeg", "role": "image", "downloadable": False}
    stored = JobRecord("s", JOB, JobState.SUCCEEDED, task=TASK, outputs=(placed,))
    records = [("succeeded", stored), ("succeeded", stored), ("succeeded", DONE)]
    summary = tally(records, [], settles=lambda _: False, seconds=1.0, ended=3)
    assert summary.reasons["succeeded"] == (
        ("written to storage://mine/out/… — nothing to download", 2),
    )
    console, file = terminal(no_color=True)
    console.print(summary_table(summary))
    assert "2: written to storage://mine/out/… — nothing to download" in file.getvalue()
    (line,) = result_line(stored)["outputs"]
    assert (line["url"], line["downloadable"], line["path"]) == (placed["url"], False, None)
    assert "downloadable" not in result_line(DONE)["outputs"][0]


def test_the_live_line_counts_ended_jobs_in_the_summarys_words() -> None:
    display = LiveDisplay(Console(file=io.StringIO()), now=lambda: 60.0)
    ended = {"lost": JobState.LOST, "uncertain": JobState.UNCERTAIN, "failed": JobState.FAILED}
    display.started(len(ended) + 1, 0)
    for n, state in enumerate(ended.values()):
        display.ended(JobRecord(f"j{n}", JOB, state, task=TASK))
    display.changed("j9", "running", handle="echo:task_9", progress=0.5)
    line = "\n".join(frame(display, 120))
    summary = tally(
        [(state, JobRecord("x", JOB, JobState(state))) for state in ended],
        [],
        settles=lambda _: False,
        seconds=1.0,
        ended=3,
    )
    for word in ended:
        assert f"{word} 1" in line  # not "failed 3"
        assert summary.counts[word] == 1
    assert "running 1" in line

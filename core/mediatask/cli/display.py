"""What a batch shows while it runs: a live rich display on a terminal, plain lines otherwise.

Both implement :class:`mediatask.batch.runner.Observer`. The live display has an overall progress
bar,
counts per state, throughput and ETA, and one row per running job with the provider's progress
when it reports one, laid out from the terminal's width and height. Colour follows rich, which
honours ``NO_COLOR``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.constrain import Constrain
from rich.live import Live
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress_bar import ProgressBar
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from mediatask.batch.runner import STATES, Summary
from mediatask.journal.sqlite import JobRecord
from mediatask.model.redact import one_line
from mediatask.model.values import TaskRef, Update

_IN_FLIGHT = ("submitting", "queued", "running", "downloading")
_ENDED = tuple(
    state for state in STATES if state not in ("skipped", "invalid", "submitted", "pending")
)
"""The summary's words for a job that ended here: the live line counts under the same ones."""
_ORDER = (*_IN_FLIGHT, *_ENDED, "other")


def plural(count: int, word: str) -> str:
    """``1 job``, ``2 jobs``: ``count`` and ``word``, with an ``s`` unless there is one."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def rate(per_minute: float) -> str:
    """A throughput a person reads at a glance: ``12 jobs/min``, ``250 jobs/s``."""
    if per_minute >= 600:
        return f"{per_minute / 60:.0f} jobs/s"
    if per_minute >= 10:
        return f"{per_minute:.0f} jobs/min"
    return f"{per_minute:.1f} jobs/min"


def _bucket(state: str) -> str:
    """The word the live line counts ``state`` under (the summary's, for an ended job)."""
    if state in _IN_FLIGHT or state in _ENDED:
        return state
    if state == "submitted":
        return "queued"
    if state == "canceled":
        return "failed"  # the journal and the summary count a canceled task as failed
    return "other"


class _Tally:
    """Counts per state and throughput, shared by both displays."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.states: dict[str, str] = {}
        self.total = 0
        self.done = 0
        self.finished_here = 0
        self.began = now()

    def rate(self) -> str:
        minutes = max(self.now() - self.began, 1e-6) / 60
        return rate(self.finished_here / minutes)


class PlainDisplay:
    """One line per event on the console: for logs, pipes and CI."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.tally = _Tally()

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def started(self, total: int, done: int) -> None:
        """Say how many jobs there are."""
        self.tally.total, self.tally.done = total, done
        self.console.print(f"batch: {plural(total, 'job')}, {done} already final", highlight=False)

    def changed(
        self, job_id: str, state: str, *, handle: str | None = None, progress: float | None = None
    ) -> None:
        """One line per change."""
        self.tally.states[job_id] = state
        percent = f" {progress:.0%}" if progress is not None else ""
        where = f" {handle}" if handle else ""
        self.console.print(
            f"{job_id}{where} {state}{percent}", highlight=False, markup=False, soft_wrap=True
        )

    def notice(self, text: str) -> None:
        """Print ``text`` as it is."""
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def ended(self, record: JobRecord) -> None:
        """One line per finished job, with its files or its error."""
        self.tally.states[record.id] = record.state.value
        self.tally.done += 1
        self.tally.finished_here += 1
        files = " ".join(str(o.get("path")) for o in record.outputs if o.get("path"))
        detail = files if record.error is None else record.error
        line = f"{record.id} {record.handle or '-'} {record.state.value}: {detail} "
        line += f"[{self.tally.done}/{self.tally.total}]"
        self.console.print(line, highlight=False, markup=False, soft_wrap=True)


EDGE_MARGIN = 2
"""Columns the live display leaves free at the right edge.

A frame whose last line filled the terminal would leave the cursor in the last column; the
``^C`` the terminal echoes there wraps to a new line, rich's next redraw then climbs one line
short, and the frame's top line stays on screen twice.
"""
_STATE_STYLES = {
    "submitting": "yellow",
    "queued": "blue",
    "running": "cyan",
    "downloading": "magenta",
    "succeeded": "green",
    "failed": "red",
    "lost": "red",
    "uncertain": "yellow",
    "expired": "yellow",
    "unfinished": "yellow",
    "timed-out": "yellow",
}


def clock(seconds: float | None) -> str:
    """``H:MM:SS`` for a number of seconds, ``-:--:--`` for unknown."""
    if seconds is None:
        return "-:--:--"
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class LiveDisplay:
    """A rich live display laid out from the terminal's width.

    The first lines always show every number that matters — done/total, a bar that takes the
    width left, percent, ETA, then counts per state, throughput and elapsed time (wrapped, never
    cut). Below, one row per job in flight (id, handle, state, its progress), as many as the
    terminal's height allows; columns that do not fit are shortened, the handle first.
    """

    def __init__(self, console: Console, *, now: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.tally = _Tally(now)
        self.rows: dict[str, tuple[str, str, float | None]] = {}
        """Jobs in flight: id -> (handle, state, progress)."""
        self._lock = threading.Lock()  # rich redraws from its own thread
        self._spinner = Spinner("dots", style="cyan")
        # stdout is for data (the summary, results): only stderr's lines go above the frame.
        self.live = Live(console=console, get_renderable=self.render, redirect_stdout=False)

    def __enter__(self) -> LiveDisplay:
        self.live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.live.stop()

    def render(self) -> RenderableType:
        """The frame as it stands, fitted to the terminal (rich calls it on every redraw)."""
        width = max(self.console.width - EDGE_MARGIN, 20)
        with self._lock:
            states = self._states(width)
            above = 2 + states.plain.count("\n")  # the head line and the states' lines
            parts: list[RenderableType] = [self._head(), states]
            rows = self._rows(self.console.height - above - 2)  # a line for "more", one spare
            if rows is not None:
                parts.append(rows)
        return Constrain(Group(*parts), width)

    def _eta(self) -> float | None:
        if not self.tally.finished_here:
            return None
        elapsed = self.tally.now() - self.tally.began
        remaining = max(self.tally.total - self.tally.done, 0)
        return remaining * elapsed / self.tally.finished_here

    def _head(self) -> Table:
        done, total = self.tally.done, self.tally.total
        head = Table.grid(padding=(0, 1), expand=True)
        head.add_column(no_wrap=True)
        head.add_column(no_wrap=True)
        head.add_column(ratio=1, min_width=4)
        head.add_column(no_wrap=True, justify="right")
        head.add_column(no_wrap=True)
        percent = f"{done / total:.0%}" if total else "0%"
        head.add_row(
            self._spinner,
            Text(f"batch {done}/{total}", style="bold"),
            ProgressBar(total=max(total, 1), completed=done),
            percent,
            f"ETA {clock(self._eta())}",
        )
        return head

    def _states(self, width: int) -> Text:
        counted = Counter(_bucket(state) for state in self.tally.states.values())
        waiting = self.tally.total - self.tally.done - sum(counted[name] for name in _IN_FLIGHT)
        items = [(f"waiting {waiting}", "dim")] if waiting > 0 else []
        items += [
            (f"{name} {counted[name]}", _STATE_STYLES.get(name, ""))
            for name in _ORDER
            if counted[name]
        ]
        elapsed = self.tally.now() - self.tally.began
        items += [(self.tally.rate(), "dim"), (f"elapsed {clock(elapsed)}", "dim")]
        line, used = Text(overflow="fold"), 0
        for text, style in items:  # wrapped between items, never inside one
            if used and used + 2 + len(text) > width:
                line.append("\n")
                used = 0
            elif used:
                line.append("  ")
                used += 2
            line.append(text, style=style)
            used += len(text)
        return line

    def _rows(self, room: int) -> RenderableType | None:
        if not self.rows:
            return None
        shown = list(self.rows.items())[: max(room, 1)]
        table = Table.grid(padding=(0, 1), expand=True)
        table.add_column(no_wrap=True, overflow="ellipsis", max_width=24)
        table.add_column(no_wrap=True, overflow="ellipsis", ratio=1, min_width=1)
        table.add_column(no_wrap=True, min_width=len("downloading"))
        table.add_column(ratio=1, min_width=4)
        table.add_column(no_wrap=True, justify="right", width=4)
        for job_id, (handle, state, progress) in shown:
            style = _STATE_STYLES.get(_bucket(state), "")
            table.add_row(
                f"  {job_id}",
                Text(handle, style="dim"),
                Text(state, style=style),
                ProgressBar(total=1.0, completed=progress or 0.0),
                f"{progress:.0%}" if progress is not None else "",
            )
        more = len(self.rows) - len(shown)
        if more <= 0:
            return table
        return Group(table, Text(f"  … and {more} more in flight", style="dim"))

    def started(self, total: int, done: int) -> None:
        """Set the totals."""
        with self._lock:
            self.tally.total, self.tally.done = total, done

    def changed(
        self, job_id: str, state: str, *, handle: str | None = None, progress: float | None = None
    ) -> None:
        """Update the job's row (added on its first change)."""
        with self._lock:
            self.tally.states[job_id] = state
            known = self.rows.get(job_id)
            handle = handle or (known[0] if known else "")
            self.rows[job_id] = (handle, state, progress)

    def notice(self, text: str) -> None:
        """Print ``text`` above the live rows."""
        self.console.print(text, highlight=False, markup=False)

    def ended(self, record: JobRecord) -> None:
        """Drop the job's row and count it."""
        with self._lock:
            self.tally.states[record.id] = record.state.value
            self.tally.done += 1
            self.tally.finished_here += 1
            self.rows.pop(record.id, None)
        if record.error is not None:
            self.console.print(f"{record.id}: {record.error}", markup=False, highlight=False)


def open_display(console: Console, *, live: bool | None = None) -> LiveDisplay | PlainDisplay:
    """The live display on a terminal, plain lines elsewhere (``live`` overrides the guess)."""
    use_live = console.is_terminal if live is None else live
    return LiveDisplay(console) if use_live else PlainDisplay(console)


def summary_table(summary: Summary) -> Group:
    """The table a batch prints at the end: per state how many, and why (one line per reason).

    The line under it gives the time and this run's throughput (jobs it ended, not skipped
    ones); it is not the table's caption, which would wrap to the table's narrow width.
    """
    table = Table(title="batch summary")
    table.add_column("state")
    table.add_column("jobs", justify="right")
    table.add_column("why")
    for state in STATES:
        count = summary.counts.get(state, 0)
        if not count:
            continue
        reasons = summary.reasons.get(state, ())
        why = "\n".join(f"{n}: {reason}" if n != count else reason for reason, n in reasons)
        table.add_row(state, str(count), Text(why))
    table.add_row("total", str(summary.total), "", end_section=True)
    footer = (
        f"{summary.seconds:.1f} s; this run ended {plural(summary.ended, 'job')}, "
        f"{rate(summary.jobs_per_minute)}"
    )
    return Group(table, Text(footer))


def next_steps(summary: Summary, command: str) -> list[Text]:
    """One line per command that recovers jobs: how many, the command, what it does."""
    lines = []
    for step in summary.steps:
        which = ", ".join(f"{n} {state}" for state, n in step.states.items())
        run = step.command(command)
        head = f"{which}: " + (f"run  {run}" if run is not None else step.says)
        lines.append(Text(head + (f"\n    ({step.says})" if run is not None else "")))
    return lines


class TaskLine:
    """Follows one task (``run``): a rich progress row on a terminal, a line per change otherwise.

    Use as a context manager; call it with each update (an ``on_update`` callback).
    """

    def __init__(self, console: Console, *, live: bool | None = None) -> None:
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.row: TaskID | None = None

    def __enter__(self) -> TaskLine:
        if self.live:
            self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.live:
            self.progress.stop()

    def __call__(self, task: TaskRef, update: Update) -> None:
        """Show ``update`` of ``task``."""
        word = update.raw_status or update.status.value
        said = f" ({one_line(update.message)})" if update.message else ""  # what changed
        if not self.live:
            percent = f" {update.progress:.0%}" if update.progress is not None else ""
            self.console.print(
                f"{task.handle}  {word}{percent}{said}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            return
        label = f"{task.handle} {word}{said}"
        if self.row is None:
            self.row = self.progress.add_task(label, total=1.0)
        self.progress.update(self.row, description=label, completed=update.progress or 0.0)

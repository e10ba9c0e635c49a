"""What a batch shows while it runs: a live rich display on a terminal, plain lines otherwise.

Both implement :class:`mediatask.batch.Observer`. The live display has an overall progress bar,
counts per state, throughput and ETA, and one row per running job with the provider's progress
when it reports one. Colour follows rich, which honours ``NO_COLOR``.
"""

from __future__ import annotations

import time
from collections import Counter
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from mediatask.batch import STATES, Summary
from mediatask.journal import JobRecord
from mediatask.model import TaskRef, Update

_ORDER = ("submitting", "queued", "running", "downloading", "succeeded", "failed", "other")


def _bucket(state: str) -> str:
    if state in ("submitting", "queued", "running", "downloading", "succeeded", "failed"):
        return state
    if state == "submitted":
        return "queued"
    ended = ("uncertain", "lost", "canceled", "expired", "unfinished", "timed-out")
    return "failed" if state in ended else "other"


class _Tally:
    """Counts per state and throughput, shared by both displays."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.total = 0
        self.done = 0
        self.finished_here = 0
        self.began = time.monotonic()

    def counts(self) -> str:
        counted = Counter(_bucket(state) for state in self.states.values())
        return "  ".join(f"{name} {counted[name]}" for name in _ORDER if counted[name])

    def rate(self) -> str:
        minutes = max(time.monotonic() - self.began, 1e-6) / 60
        return f"{self.finished_here / minutes:.1f} jobs/min"


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
        self.console.print(f"batch: {total} jobs, {done} already final", highlight=False)

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


class LiveDisplay:
    """A rich live display: overall bar, counts, throughput, ETA, a row per running job."""

    def __init__(self, console: Console) -> None:
        self.tally = _Tally()
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.overall: TaskID | None = None
        self.rows: dict[str, TaskID] = {}

    def __enter__(self) -> LiveDisplay:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def _refresh(self) -> None:
        if self.overall is not None:
            self.progress.update(
                self.overall,
                description=f"batch {self.tally.done}/{self.tally.total}",
                completed=self.tally.done,
                counts=self.tally.counts(),
                rate=self.tally.rate(),
            )

    def started(self, total: int, done: int) -> None:
        """Add the overall bar."""
        self.tally.total, self.tally.done = total, done
        self.overall = self.progress.add_task("batch", total=total, counts="", rate="")
        self._refresh()

    def changed(
        self, job_id: str, state: str, *, handle: str | None = None, progress: float | None = None
    ) -> None:
        """Update the job's row (added on its first change)."""
        self.tally.states[job_id] = state
        label = f"  {job_id} {handle or ''} {state}"
        row = self.rows.get(job_id)
        if row is None:
            row = self.rows[job_id] = self.progress.add_task(label, total=1.0, counts="", rate="")
        self.progress.update(row, description=label, completed=progress or 0.0)
        self._refresh()

    def notice(self, text: str) -> None:
        """Print ``text`` above the live rows."""
        self.progress.console.print(text, highlight=False, markup=False)

    def ended(self, record: JobRecord) -> None:
        """Drop the job's row and advance the overall bar."""
        self.tally.states[record.id] = record.state.value
        self.tally.done += 1
        self.tally.finished_here += 1
        row = self.rows.pop(record.id, None)
        if row is not None:
            self.progress.remove_task(row)
        if record.error is not None:
            self.progress.console.print(f"{record.id}: {record.error}", markup=False)
        self._refresh()


def open_display(console: Console, *, live: bool | None = None) -> LiveDisplay | PlainDisplay:
    """The live display on a terminal, plain lines elsewhere (``live`` overrides the guess)."""
    use_live = console.is_terminal if live is None else live
    return LiveDisplay(console) if use_live else PlainDisplay(console)


def summary_table(summary: Summary) -> Table:
    """The table a batch prints at the end: per state how many, and why (one line per reason).

    The caption gives the time and this run's throughput (jobs it ended, not skipped ones).
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
    table.caption = (
        f"{summary.seconds:.1f} s; this run ended {summary.ended} jobs, "
        f"{summary.jobs_per_minute:.0f} jobs/min"
    )
    return table


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
        if not self.live:
            percent = f" {update.progress:.0%}" if update.progress is not None else ""
            self.console.print(
                f"{task.handle}  {word}{percent}", markup=False, highlight=False, soft_wrap=True
            )
            return
        label = f"{task.handle} {word}"
        if self.row is None:
            self.row = self.progress.add_task(label, total=1.0)
        self.progress.update(self.row, description=label, completed=update.progress or 0.0)

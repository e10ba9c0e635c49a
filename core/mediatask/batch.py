"""Batches: many jobs from a manifest, run concurrently, journalled so a re-run resumes.

A re-run of the same batch reads the journal first: finished jobs are skipped, submitted ones are
followed again (never submitted twice), and only jobs never submitted are submitted. A job left
``submitting`` by a crash, or whose task the provider no longer knows, is reported and left alone
unless the user asks (``resubmit_uncertain``, ``resubmit_lost``).

Submits are shielded from cancellation: once a submit has started, Ctrl-C waits for its answer
so the task handle is journalled instead of lost.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol

import attrs
import trio

from mediatask.engine import Client
from mediatask.errors import MediataskError, NotFoundError, SubmitUncertainError
from mediatask.journal import JobRecord, JobState, Journal
from mediatask.manifest import Entry, Manifest, ManifestError
from mediatask.model import Job, Status, TaskRef, Update

RESULTS_FILE = "results.jsonl"


class Action(enum.Enum):
    """What a batch run does with one job."""

    SUBMIT = "submit"
    FOLLOW = "follow"
    SKIP = "skip"


class Observer(Protocol):
    """Is told what the batch does, to show it (see :mod:`mediatask.display`)."""

    def started(self, total: int, done: int) -> None:
        """The batch has ``total`` jobs, of which ``done`` are final from earlier runs."""

    def changed(
        self, job_id: str, state: str, *, handle: str | None = None, progress: float | None = None
    ) -> None:
        """A job moved: ``submitting``, ``submitted``, a status, ``downloading``…"""

    def ended(self, record: JobRecord) -> None:
        """A job reached a final state in this run."""


@attrs.frozen
class BatchOptions:
    """How to run a batch."""

    out_dir: Path
    concurrency: int = 8
    resubmit_uncertain: bool = False
    """Submit again jobs that may or may not have been submitted (interrupted mid-submit)."""
    resubmit_lost: bool = False
    """Submit again jobs whose task the provider no longer knows."""
    retry_failed: bool = False
    """Run failed jobs again (follow again when the task itself had succeeded)."""


@attrs.frozen
class Summary:
    """How many of a batch's jobs are in each state, and how long this run took."""

    counts: Mapping[str, int]
    """Keys: succeeded, skipped (succeeded earlier), failed, invalid, uncertain, lost,
    submitted (still running at the provider), pending (never submitted)."""
    seconds: float

    @property
    def total(self) -> int:
        """Every job of the manifest, readable or not."""
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """True when every job has succeeded (in this run or an earlier one)."""
        return self.counts["succeeded"] + self.counts["skipped"] == self.total

    def to_json(self) -> dict[str, Any]:
        """The JSON form ``batch --json`` prints."""
        return {"counts": dict(self.counts), "total": self.total, "seconds": round(self.seconds, 3)}


def result_line(record: JobRecord) -> dict[str, Any]:
    """One line of the results file."""
    outputs = [
        {k: o.get(k) for k in ("role", "kind", "mime_type", "url", "path")} for o in record.outputs
    ]
    return {
        "job": record.id,
        "line": record.line,
        "handle": record.handle,
        "status": record.state.value,
        "outputs": outputs,
        "error": record.error,
    }


def _error_line(error: ManifestError, job_id: str | None = None) -> dict[str, Any]:
    return {
        "job": job_id or error.job,
        "line": error.line,
        "handle": None,
        "status": "invalid",
        "outputs": [],
        "error": str(error),
    }


@attrs.define
class Batch:
    """One run of a manifest against a client, recorded in a journal."""

    client: Client
    journal: Journal
    options: BatchOptions
    observer: Observer
    _results: IO[str] | None = attrs.field(init=False, default=None)
    _invalid: list[ManifestError] = attrs.field(init=False, factory=list)
    _skipped: set[str] = attrs.field(init=False, factory=set)
    _started: float = attrs.field(init=False, factory=time.monotonic)

    @property
    def invalid(self) -> tuple[ManifestError, ...]:
        """The lines not run: the manifest's errors, then jobs the journal knows differently."""
        return tuple(self._invalid)

    async def run(self, manifest: Manifest) -> None:
        """Run every job of ``manifest`` that needs it; returns when all have ended."""
        self.options.out_dir.mkdir(parents=True, exist_ok=True)
        self._invalid = list(manifest.errors)
        plan = [(entry, self._plan(entry)) for entry in manifest.entries]
        with (self.options.out_dir / RESULTS_FILE).open("w", encoding="utf-8") as results:
            self._results = results
            for error in self._invalid:
                self._write(_error_line(error))
            done = len(self._invalid)
            for entry, action in plan:
                record = self.journal.get(entry.id)
                if action is Action.SKIP and record is not None:
                    done += 1
                    self._write(result_line(record))
            self.observer.started(len(manifest.entries) + len(self._invalid), done)
            limit = trio.CapacityLimiter(self.options.concurrency)
            async with trio.open_nursery() as nursery:
                for entry, action in plan:
                    if action is Action.SUBMIT or action is Action.FOLLOW:
                        nursery.start_soon(self._job, entry, action, limit)

    def summary(self, manifest: Manifest) -> Summary:
        """Count the manifest's jobs by state, from the journal."""
        counts = dict.fromkeys(
            ("succeeded", "skipped", "failed", "invalid", "uncertain", "lost"), 0
        ) | {"submitted": 0, "pending": 0}
        counts["invalid"] = len(self._invalid)
        invalid_ids = {e.line for e in self._invalid}
        for entry in manifest.entries:
            if entry.line in invalid_ids:
                continue
            record = self.journal.get(entry.id)
            state = record.state if record else JobState.PENDING
            name = {JobState.SUBMITTING: "uncertain"}.get(state, state.value)
            if entry.id in self._skipped and state is JobState.SUCCEEDED:
                name = "skipped"
            counts[name] += 1
        return Summary(counts, time.monotonic() - self._started)

    def _plan(self, entry: Entry) -> Action | None:
        """What to do with ``entry``; ``None`` when the journal holds a different job."""
        try:
            record = self.journal.register(entry.id, entry.job, line=entry.line)
        except MediataskError as exc:
            self._invalid.append(ManifestError(entry.line, str(exc), entry.id))
            return None
        return self._decide(record)

    def _decide(self, record: JobRecord) -> Action:
        options, state = self.options, record.state
        if state is JobState.PENDING:
            return Action.SUBMIT
        if state is JobState.SUBMITTED:
            return Action.FOLLOW
        if state is JobState.SUBMITTING:
            if options.resubmit_uncertain:
                return self._reset(record, "resubmitting an uncertain job on request")
            self.journal.ended(record.id, JobState.UNCERTAIN, _uncertain(record))
        elif (state is JobState.UNCERTAIN and options.resubmit_uncertain) or (
            state is JobState.LOST and options.resubmit_lost
        ):
            return self._reset(record, f"resubmitting a {state.value} job on request")
        elif state is JobState.FAILED and options.retry_failed:
            if record.task is not None and record.status == Status.SUCCEEDED.value:
                self.journal.reset(record.id, JobState.SUBMITTED, "following again on request")
                return Action.FOLLOW
            return self._reset(record, "retrying a failed job on request")
        self._skipped.add(record.id)
        return Action.SKIP

    def _reset(self, record: JobRecord, reason: str) -> Action:
        self.journal.reset(record.id, JobState.PENDING, reason)
        return Action.SUBMIT

    async def _job(self, entry: Entry, action: Action, limit: trio.CapacityLimiter) -> None:
        try:
            job = self.client.check(entry.job)
            slot = self.client.slot(job.provider)
        except MediataskError as exc:
            self._end(entry.id, JobState.FAILED, f"line {entry.line}: {exc}")
            return
        async with limit, slot:
            await self._follow_through(entry, action, job)

    async def _follow_through(self, entry: Entry, action: Action, job: Job) -> None:
        record = self.journal.get(entry.id)
        task = record.task if record else None
        try:
            if action is Action.SUBMIT or task is None:
                task = await self._submit(entry.id, job)
        except MediataskError:  # journalled by submit_recorded
            self._ended(entry.id)
            return
        try:
            await self._finish(entry.id, task)
        except NotFoundError as exc:
            self._end(entry.id, JobState.LOST, _lost(task, exc))
        except MediataskError as exc:
            self._end(entry.id, JobState.FAILED, str(exc))

    async def _submit(self, job_id: str, job: Job) -> TaskRef:
        self.observer.changed(job_id, "submitting")
        task = await submit_recorded(self.client, self.journal, job_id, job)
        self.observer.changed(job_id, "submitted", handle=task.handle)
        return task

    async def _finish(self, job_id: str, task: TaskRef) -> None:
        result = await self.client.wait(task, on_update=partial(self._observed, job_id))
        self.observer.changed(job_id, "downloading", handle=task.handle)
        result = await self.client.download(result, self.options.out_dir, stem=job_id)
        self.journal.succeeded(job_id, result)
        self._ended(job_id)

    def _observed(self, job_id: str, task: TaskRef, update: Update) -> None:
        self.journal.observed(job_id, update)
        state = update.status.value
        self.observer.changed(job_id, state, handle=task.handle, progress=update.progress)

    def _end(self, job_id: str, state: JobState, error: str) -> None:
        self.journal.ended(job_id, state, error)
        self._ended(job_id)

    def _ended(self, job_id: str) -> None:
        record = self.journal.get(job_id)
        if record is not None:
            self._write(result_line(record))
            self.observer.ended(record)

    def _write(self, line: Mapping[str, Any]) -> None:
        if self._results is not None:
            self._results.write(json.dumps(line, sort_keys=True) + "\n")
            self._results.flush()


async def submit_recorded(client: Client, journal: Journal, job_id: str, job: Job) -> TaskRef:
    """Submit ``job`` with the intent journalled before and the handle after.

    Shielded from cancellation: once started, Ctrl-C waits for the provider's answer, so a
    created task is never left unjournalled. A failure is journalled too (``uncertain`` when the
    task may exist) and raised.
    """
    journal.submitting(job_id)
    with trio.CancelScope(shield=True):
        try:
            task = await client.submit(job)
        except SubmitUncertainError as exc:
            journal.ended(job_id, JobState.UNCERTAIN, str(exc))
            raise
        except MediataskError as exc:
            journal.ended(job_id, JobState.FAILED, str(exc))
            raise
        journal.submitted(job_id, task)
    return task


def _uncertain(record: JobRecord) -> str:
    return (
        f"job {record.id} was interrupted while being submitted to {record.job.provider}: it "
        "may have been created there; check, then re-run with --resubmit-uncertain to submit it"
    )


def _lost(task: TaskRef, exc: NotFoundError) -> str:
    return (
        f"{task.handle} is no longer known to {task.provider} ({exc}); a --sandbox re-run starts "
        "fresh emulators that know no earlier task. Re-run with --resubmit-lost to submit it again"
    )

"""Batches: many jobs from a manifest, run concurrently, journalled so a re-run resumes.

Running the same batch again finishes everything that can be finished without paying again:
finished jobs are skipped; a job whose task exists (submitted, or left unfinished or timed out by
a failure here) is followed and downloaded again, never submitted twice; only jobs never submitted
are submitted. A job submitted again needs an explicit flag, and each flag touches only jobs
whose task cannot still be alive: ``retry_failed`` (the provider failed, canceled or refused it),
``rerun_expired`` (its result link expired), ``resubmit_lost`` (the provider forgot the task), and
``resubmit_uncertain`` (the one that may pay twice: said per job before it is done).

The intent to submit is journalled when the request goes on the wire (after uploads and the rate
limiter), and only that exchange is shielded from cancellation: a job waiting for its turn when
Ctrl-C (or a kill) comes stays pending.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol, TypeGuard

import attrs
import trio

from mediatask.batch.manifest import Entry, Manifest, ManifestError
from mediatask.batch.preflight import bad_lines
from mediatask.batch.recorded import submit_recorded
from mediatask.batch.summary import STATES, Summary, short_reason, tally
from mediatask.engine.client import Client
from mediatask.engine.concurrency import key_label
from mediatask.engine.deadline import Deadline, ask_to_cancel, human
from mediatask.engine.fanout import JobRunner
from mediatask.engine.uncertain import advice, can_settle, risk, settle, when
from mediatask.journal.backend import (
    JournalBackend,
    JournalEvent,
    LeaseLostError,
    LedgerError,
    written,
)
from mediatask.journal.lifecycle import Action as Action  # where it was defined before
from mediatask.journal.lifecycle import Decision, Wants, decide, unsettled
from mediatask.journal.sqlite import JobRecord, JobState
from mediatask.model.errors import (
    ExpiredError,
    MediataskError,
    NotFoundError,
    TaskFailedError,
    UsageError,
)
from mediatask.model.values import Job, Result, Status, TaskRef, Update

__all__ = [
    "RESULTS_FILE",
    "STATES",
    "Batch",
    "BatchOptions",
    "Observer",
    "Summary",
    "submit_recorded",
]

RESULTS_FILE = "results.jsonl"
REFUSED = "refused before any request"
"""How the reason of a job refused by its checks begins (nothing was sent for it)."""
CANCELLED_AFTER = "cancelled after"
"""How the reason of a job cancelled for outrunning ``--timeout`` begins (its task has ended)."""
_ENDED_AT_PROVIDER = (Status.FAILED.value, Status.CANCELED.value)


class Observer(Protocol):
    """Is told what the batch does, to show it (see :mod:`mediatask.cli.display`)."""

    def started(self, total: int, done: int) -> None:
        """The batch has ``total`` jobs, of which ``done`` are final from earlier runs."""

    def changed(
        self, job_id: str, state: str, *, handle: str | None = None, progress: float | None = None
    ) -> None:
        """A job moved: ``submitting``, ``submitted``, a status, ``downloading``…"""

    def ended(self, record: JobRecord) -> None:
        """A job reached a final state in this run."""

    def notice(self, text: str) -> None:
        """Something the user must read before it happens (e.g. a resubmit's risk)."""


@attrs.frozen
class BatchOptions:
    """How to run a batch."""

    out_dir: Path
    concurrency: int = 8
    resubmit_uncertain: bool = False
    """Submit again jobs whose submit may or may not have created a task (may pay twice)."""
    resubmit_lost: bool = False
    """Submit again jobs whose task the provider no longer knows."""
    retry_failed: bool = False
    """Submit again jobs the provider failed, canceled or refused (no task of theirs is alive)."""
    rerun_expired: bool = False
    """Submit again jobs whose result link expired before the outputs were saved."""
    timeout: float | None = None
    """Seconds this run follows one task (to its outputs saved) before giving up on it."""
    cancel_on_timeout: bool = False
    """Ask the provider to cancel a task that outran ``timeout``, where it can."""
    fresh_provider: bool = False
    """The provider keeps no task from an earlier run (a new sandbox, which costs nothing):
    every job not yet final is submitted again."""
    overwrite: bool = False
    """Replace output files already there (else the new ones are numbered ``ID-ROLE-2.EXT``)."""
    strict: bool = False
    """Run nothing when any line is invalid (:class:`StrictError`), instead of the rest."""

    @property
    def deadline(self) -> Deadline:
        """How long this run follows one task: ``timeout``, and ``cancel_on_timeout``."""
        return Deadline(self.timeout, self.cancel_on_timeout)


class StrictError(UsageError):
    """A ``strict`` batch found invalid lines: nothing was registered or sent."""


def result_line(record: JobRecord) -> dict[str, Any]:
    """One line of the results file."""
    outputs = [
        {k: o.get(k) for k in ("role", "kind", "mime_type", "url", "path", "expires_at")}
        | ({} if o.get("downloadable", True) else {"downloadable": False, "path": None})
        | ({"value": o["value"]} if o.get("value") is not None else {})
        for o in record.outputs
    ]
    return {
        "job": record.id,
        "line": record.line,
        "handle": record.handle,
        "status": record.state.value,
        "outputs": outputs,
        "error": record.error,
        "worker": record.worker,
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
    journal: JournalBackend
    options: BatchOptions
    observer: Observer
    _results: IO[str] | None = attrs.field(init=False, default=None)
    _invalid: list[ManifestError] = attrs.field(init=False, factory=list)
    _prechecked: dict[int, ManifestError] = attrs.field(init=False, factory=dict)
    """The lines refused before any request (by line): never registered, never sent."""
    _skipped: set[str] = attrs.field(init=False, factory=set)
    _ended: int = attrs.field(init=False, default=0)
    _started: float = attrs.field(init=False, factory=time.monotonic)

    @property
    def invalid(self) -> tuple[ManifestError, ...]:
        """The lines not run: the manifest's errors, the lines refused before any request (see
        :meth:`begin`), then jobs the journal knows differently."""
        return tuple(self._invalid)

    @property
    def refused(self) -> tuple[ManifestError, ...]:
        """The lines :meth:`begin` refused before any request (already told to the observer)."""
        return tuple(self._prechecked.values())

    async def run(self, manifest: Manifest) -> None:
        """Run every job of ``manifest`` that needs it; returns when all have ended.

        Every line is checked first (:meth:`begin`): the bad ones are reported before the first
        submit and never sent, the rest run.
        """
        self.begin(manifest)
        self.options.out_dir.mkdir(parents=True, exist_ok=True)
        plan = await self._planned(manifest)
        with self.results("w"):
            done = self._write_known(plan)
            self.observer.started(len(manifest.entries) + len(manifest.errors), done)
            runner = self._runner(trio.CapacityLimiter(self.options.concurrency))
            try:
                await runner.all((entry, action) for entry, action in plan if _runs(action))
            finally:  # interrupted too: what ended is in the journal, so in the file
                self.write_results(manifest)

    async def _planned(self, manifest: Manifest) -> list[tuple[Entry, Action | None]]:
        """What to do with each of ``manifest``'s jobs, uncertain ones looked up first."""
        plan = [(entry, self._plan(entry)) for entry in manifest.entries]
        settled = await self._settle([entry for entry, action in plan if action is Action.SETTLE])
        return [(entry, settled.get(entry.id, action)) for entry, action in plan]

    def _write_known(self, plan: list[tuple[Entry, Action | None]]) -> int:
        """Write the lines of the invalid lines and of the jobs skipped as final; their count."""
        self.write_invalid()
        done = len(self._invalid)
        for entry, action in plan:
            record = self.journal.get(entry.id)
            if action is Action.SKIP and record is not None:
                done += 1
                self._write(result_line(record))
        return done

    @contextlib.contextmanager
    def results(self, mode: str) -> Iterator[None]:
        """Write finished jobs' lines to ``OUT/results.jsonl`` while the block runs.

        :param mode: ``w`` (a run's own file) or ``a`` (workers sharing a folder add their lines).
        """
        self.options.out_dir.mkdir(parents=True, exist_ok=True)
        with (self.options.out_dir / RESULTS_FILE).open(mode, encoding="utf-8") as results:
            self._results = results
            try:
                yield
            finally:
                self._results = None

    def write_results(self, manifest: Manifest | None = None) -> None:
        """Write ``OUT/results.jsonl`` afresh from the journal: the invalid lines, then one line
        per job that has ended, as the journal has it now (``manifest``'s jobs, else every job
        in the journal).

        The lines written as jobs end are for watching a run; this is the file a run leaves,
        so a process killed between a job's journal write and its line loses nothing, and a
        job has one line. Replaced whole (a file beside it, renamed), so workers sharing the
        folder never leave half a file.
        """
        records = self._records(manifest)
        lines = [_error_line(error) for error in self._invalid]
        lines += [result_line(record) for record in records if not record.state.is_open]
        _replace_lines(self.options.out_dir / RESULTS_FILE, lines)

    def _records(self, manifest: Manifest | None) -> list[JobRecord]:
        """The journal's records of ``manifest``'s valid lines (else of every job it holds)."""
        if manifest is None:
            return list(self.journal.records())
        invalid = {error.line for error in self._invalid}
        found = (self.journal.get(e.id) for e in manifest.entries if e.line not in invalid)
        return [record for record in found if record is not None]

    # -- shared ledgers: what a worker asks of its batch (mediatask.batch.workers.WorkerBatch) --

    @property
    def concurrency(self) -> int:
        """How many jobs run at once."""
        return self.options.concurrency

    def started(self, total: int, done: int) -> None:
        """Tell the observer the batch has ``total`` jobs, ``done`` of them final already."""
        self.observer.started(total, done)

    def notice(self, text: str) -> None:
        """Tell the observer something the user must read."""
        self.observer.notice(text)

    def begin(self, manifest: Manifest) -> None:
        """Start a run of ``manifest``: its unreadable lines are invalid, and so is each line
        the offline checks of ``--dry-run`` refuse (:func:`~mediatask.batch.preflight.bad_lines`),
        told to the observer now, before any request; :meth:`register` then leaves them out of
        the journal. A job whose journal record shows it was sent is left to the journal.

        :raises StrictError: ``strict`` and some line is invalid (nothing is registered).
        """
        self._invalid = list(manifest.errors)
        self._prechecked = {}
        for error in bad_lines(self.client, manifest.entries):
            if _never_sent(self.journal.get(error.job or "")):
                self._prechecked[error.line] = error
                self._invalid.append(error)
                self.observer.notice(f"invalid: {error}")
        if self.options.strict and self._invalid:
            lines = ", ".join(str(error.line) for error in self._invalid)
            raise StrictError(
                f"--strict: {len(self._invalid)} of {len(manifest.entries) + len(manifest.errors)}"
                f" lines are invalid (lines {lines}); nothing was sent: fix them and run again"
            )

    def write_invalid(self) -> None:
        """Write a results line for each invalid manifest line (unreadable, or refused)."""
        for error in self._invalid:
            self._write(_error_line(error))

    def register(self, entry: Entry) -> JobRecord | None:
        """Put ``entry`` in the journal once; ``None`` (and an invalid line) if it cannot be."""
        if entry.line in self._prechecked:
            return None  # refused before any request: not journalled, so a fixed line is new
        try:
            return self.journal.register(entry.id, entry.job, line=entry.line)
        except LedgerError:
            raise  # the ledger is away: the line itself is fine
        except MediataskError as exc:
            self._invalid.append(ManifestError(entry.line, str(exc), entry.id))
            return None

    def decide(self, record: JobRecord) -> Action:
        """What to do with ``record``: the decisions of a re-run (see the module's docstring)."""
        return self._decide(record)

    async def settle(self, records: list[JobRecord]) -> dict[str, Action]:
        """Look uncertain jobs up in their providers' lists (see :meth:`decide`'s ``SETTLE``)."""
        return await self._settle([Entry(r.line or 0, r.id, r.job) for r in records])

    async def run_one(self, record: JobRecord, action: Action, limit: trio.CapacityLimiter) -> None:
        """Submit or follow one job (as :meth:`run` does each), or report one skipped."""
        if _runs(action):
            await self._runner(limit).one((Entry(record.line or 0, record.id, record.job), action))
        else:
            self._finished(record.id)

    def orphaned(self, record: JobRecord) -> JobRecord:
        """``record``, claimed from a shared ledger and left ``submitting`` by a worker that
        stopped (its lease ran out) while the submit was on the wire, journalled uncertain.
        Unchanged when its provider is not installed (:meth:`decide` reports that)."""
        try:
            title = self.client.provider(record.job.provider).title
        except MediataskError:
            return record
        sent = [e.worker for e in self.journal.events(record.id) if e.kind == "submitting"]
        who = f"worker {sent[-1]}" if sent and sent[-1] else "its worker"
        stopped = f"{who} stopped (its lease ran out) while its submit to {title} of {when(record)}"
        return self._unanswered(record, stopped, f"its worker stopped while its submit to {title}")

    def shared_ceiling(self, record: JobRecord) -> tuple[str, int] | None:
        """The in-flight ceiling of ``record``'s provider that every worker shares: its scope
        (the provider and its key's digest) and size; ``None`` when it has none (or is not
        installed: the run reports that)."""
        try:
            info = self.client.provider(record.job.provider)
            ceiling = self.client.slot(info.name).ceiling
        except MediataskError:
            return None
        if ceiling is None:
            return None
        return f"{info.name}:{key_label(self.client.settings.key(info))}", ceiling

    def summary(self, manifest: Manifest) -> Summary:
        """Count the manifest's jobs by state, with grouped reasons, from the journal."""
        invalid_lines = {e.line for e in self._invalid}
        records: list[tuple[str, JobRecord | None]] = []
        for entry in manifest.entries:
            if entry.line in invalid_lines:
                continue
            record = self.journal.get(entry.id)
            state = record.state if record else JobState.PENDING
            name = state.shown
            if entry.id in self._skipped and state is JobState.SUCCEEDED:
                name = "skipped"
            records.append((name, record))
        return tally(
            records,
            [str(error) for error in self._invalid],
            settles=partial(can_settle, self.client),
            seconds=time.monotonic() - self._started,
            ended=self._ended,
            invalid_lines=sorted(error.line for error in self._invalid),
        )

    # -- deciding ---------------------------------------------------------------------------

    def _plan(self, entry: Entry) -> Action | None:
        """What to do with ``entry``; ``None`` when it cannot be run as it stands.

        E.g. the journal holds a different job under its id, or an uncertain job's provider is
        no longer installed.
        """
        record = self.register(entry)
        if record is None:
            return None
        if record.state is not JobState.PENDING and _never_sent(record):
            reason = "refused before any request by an earlier run: checked again"
            self.journal.reset(record.id, JobState.PENDING, reason)
            return Action.SUBMIT
        try:
            return self._decide(record)
        except MediataskError as exc:
            self._invalid.append(ManifestError(entry.line, str(exc), entry.id))
            return None

    def _decide(self, record: JobRecord) -> Action:
        """Decide (:func:`mediatask.journal.lifecycle.decide`), then apply what the decision
        records."""
        decision = decide(
            record.state, self._wants(), can_settle=partial(can_settle, self.client, record)
        )
        if decision.interrupted:
            record = self._interrupted(record)
        return self._apply(record, decision)

    def _wants(self) -> Wants:
        options = self.options
        return Wants(
            retry_failed=options.retry_failed,
            rerun_expired=options.rerun_expired,
            resubmit_lost=options.resubmit_lost,
            resubmit_uncertain=options.resubmit_uncertain,
            fresh_provider=options.fresh_provider,
        )

    def _apply(self, record: JobRecord, decision: Decision) -> Action:
        """Carry out ``decision``'s effects on ``record``; the action to take."""
        if decision.action is Action.SUBMIT and decision.reset is not None:
            blocker = self._paid(record) if decision.on_request else None
            if blocker is None:
                if decision.risky:
                    self.observer.notice(risk(self.client, record))
                self.journal.reset(record.id, JobState.PENDING, decision.reset)
                return Action.SUBMIT
            self.observer.notice(f"{record.id}: not submitted again: {blocker}")
            return self._skip(record)
        if decision.action is Action.SKIP:
            return self._skip(record)
        return decision.action

    def _skip(self, record: JobRecord) -> Action:
        self._skipped.add(record.id)
        return Action.SKIP

    def _paid(self, record: JobRecord) -> str | None:
        """Why the journal's history forbids submitting ``record`` again, if it does.

        A second line of defence behind the fencing of a shared ledger: the history since the
        job was last reset must show no outputs saved and, for a failed job, no task created
        (by any worker) unless the provider ended it (failed, canceled) or it was cancelled.
        """
        since = _since_reset(self.journal.events(record.id))
        saved = [event for event in since if event.kind == "downloaded"]
        if saved:
            return f"the ledger shows its outputs saved by {saved[-1].worker or 'a worker'}"
        if record.state is not JobState.FAILED:
            return None  # expired, lost: a task was created, and that is why the flag exists
        return _maybe_alive(record, since)

    def _interrupted(self, record: JobRecord) -> JobRecord:
        """A job left ``submitting`` by an earlier run: killed while its submit was on the wire."""
        title = self.client.provider(record.job.provider).title
        stopped = f"the run was stopped at {when(record)} while its submit to {title}"
        return self._unanswered(record, stopped, f"stopped while its submit to {title}")

    def _unanswered(self, record: JobRecord, stopped: str, reason: str) -> JobRecord:
        """Journal ``record`` uncertain: ``stopped`` (and the short ``reason``) say how its
        submit was left on the wire; the error ends with what the user may do."""
        error = (
            f"job {record.id}: {stopped} was on the wire, so no answer was read: a task may have "
            "been created. " + advice(self.client, record)
        )
        self.journal.ended(record.id, JobState.UNCERTAIN, error, f"{reason} was on the wire")
        return self.journal.get(record.id) or record

    async def _settle(self, entries: list[Entry]) -> dict[str, Action]:
        """Look uncertain jobs up in their providers' lists: found, follow; else decide again."""
        records = [r for r in (self.journal.get(e.id) for e in entries) if r is not None]
        found = await settle(self.client, records)
        actions: dict[str, Action] = {}
        for record in records:
            task = found.get(record.id)
            info = self.client.provider(record.job.provider)
            if isinstance(task, TaskRef):
                task = attrs.evolve(task, operation=task.operation or record.job.operation)
                self.journal.submitted(record.id, task)
                actions[record.id] = Action.FOLLOW
                continue
            if task is None:
                checked = datetime.now(UTC).strftime("%H:%M:%S UTC")
                reason = f"not (yet) in {info.title}'s list of its newest tasks"
                error = (
                    f"job {record.id}: its submit of {when(record)} got no answer, and "
                    f"{info.title}'s list of its newest {record.job.operation} tasks had no task "
                    f"marked {record.marker} at {checked}; running the same command again "
                    "looks again"
                )
            else:
                reason = f"{info.title}'s list could not be read"
                error = (
                    f"job {record.id}: its submit of {when(record)} got no answer, and "
                    f"{info.title}'s list could not be read to look for it ({task}); running "
                    "the same command again looks again"
                )
            self.journal.ended(record.id, JobState.UNCERTAIN, error, reason)
            actions[record.id] = self._apply(
                self.journal.get(record.id) or record, unsettled(self._wants())
            )
        return actions

    # -- running ----------------------------------------------------------------------------

    def _runner(self, limit: trio.CapacityLimiter) -> JobRunner[tuple[Entry, Action], None]:
        """Runs (entry, action) pairs: each job checked, then run under ``limit`` and its slot."""
        return JobRunner(
            limit=limit,
            slot=self.client.slot,
            prepare=self._checked,
            work=self._follow_through,
            report=self._refused,
        )

    def _checked(self, item: tuple[Entry, Action]) -> Job:
        entry, action = item
        if action is Action.FOLLOW:
            return entry.job  # its task exists: what the line names now is not sent
        return self.client.check(entry.job)

    async def _refused(self, item: tuple[Entry, Action], done: MediataskError | None) -> None:
        """A job refused before it started (its checks, e.g. a file removed since the run
        began) is an invalid line. Its journal record is closed (no worker claims it again)
        with a reason that says nothing was sent, so the next run checks the line afresh."""
        entry = item[0]
        if done is not None:
            error = ManifestError(entry.line, f"job {entry.id}: {done}", entry.id)
            self._invalid.append(error)
            reason = short_reason(f"{REFUSED}: {done}")
            self.journal.ended(entry.id, JobState.FAILED, str(error), reason)
            self._ended += 1
            self._write(_error_line(error))
            self.observer.notice(f"invalid: {error}")

    async def _follow_through(self, item: tuple[Entry, Action], job: Job) -> None:
        entry, action = item
        record = self.journal.get(entry.id)
        task = record.task if record else None
        try:
            if action is Action.SUBMIT or task is None:
                task = await self._submit(entry.id, job)
        except (LeaseLostError, LedgerError):
            raise  # another worker's job now, or the ledger is away: no results line
        except MediataskError:  # journalled by submit_recorded
            self._finished(entry.id)
            return
        with self.options.deadline.start() as countdown:
            await self._finish(entry.id, task)
        if countdown.expired:
            await self._timed_out(entry.id, task)

    async def _submit(self, job_id: str, job: Job) -> TaskRef:
        self.observer.changed(job_id, "submitting")
        task = await submit_recorded(self.client, self.journal, job_id, job)
        self.observer.changed(job_id, "submitted", handle=task.handle)
        return task

    async def _finish(self, job_id: str, task: TaskRef) -> None:
        """Follow ``task`` and save its outputs; every way it can end is journalled."""
        result = await self._result(job_id, task)
        if result is None:
            return
        self.journal.keep(job_id)  # a worker that lost the job leaves its download to the other
        self.observer.changed(job_id, "downloading", handle=task.handle)
        await self._save(job_id, task, result)

    async def _result(self, job_id: str, task: TaskRef) -> Result | None:
        """``task``'s result: seen succeeding by an earlier run, else followed to its end;
        ``None`` when it ended otherwise (journalled)."""
        record = self.journal.get(job_id)
        known = record.known_result() if record is not None else None
        if known is not None:
            return known  # only the download is left
        try:
            return await self.client.wait(task, on_update=partial(self._observed, job_id))
        except (LeaseLostError, LedgerError):
            raise  # not a failure of the task: the job is left to whoever holds it next
        except TaskFailedError as exc:
            reason = short_reason(_failed_reason(task, exc))
            self._end(job_id, JobState.FAILED, str(exc), reason)
        except NotFoundError as exc:
            self._end(job_id, JobState.LOST, _lost(task, exc), f"{task.provider} forgot the task")
        except MediataskError as exc:
            self._unfinished(job_id, task, "following", exc)
        return None

    async def _save(self, job_id: str, task: TaskRef, result: Result) -> None:
        """Download ``result``'s outputs; the job succeeds once they are saved."""
        try:
            saved = await self.client.download(
                result, self.options.out_dir, stem=job_id, overwrite=self.options.overwrite
            )
        except MediataskError as exc:
            if _expired(result, exc, self.client.clock()):
                error = (
                    f"{exc.said(flags=True)}; re-run with --rerun-expired to submit the job again"
                )
                self._end(job_id, JobState.EXPIRED, error, "the result link expired")
            else:
                self._unfinished(job_id, task, "downloading", exc)
            return
        await written(lambda: self.journal.succeeded(job_id, saved))  # its files are saved
        self._finished(job_id)

    def _unfinished(self, job_id: str, task: TaskRef, doing: str, exc: MediataskError) -> None:
        error = f"{exc}; the task exists: running the same command again goes on {doing} it"
        reason = short_reason(f"{doing}: {exc}", drop=(task.handle, task.task_id))
        self._end(job_id, JobState.UNFINISHED, error, reason)

    async def _timed_out(self, job_id: str, task: TaskRef) -> None:
        timeout = human(self.options.timeout or 0.0)
        record = self.journal.get(job_id)
        status = (record.raw_status or record.status) if record else None
        still = f"still {status}" if status else "not finished"
        reason = f"{still} after --timeout {timeout}"
        if self.options.cancel_on_timeout:
            try:
                said = await ask_to_cancel(self.client, task)
            except (MediataskError, trio.TooSlowError) as exc:
                reason += f"; cancelling failed ({short_reason(str(exc) or 'no answer')})"
            else:
                error = f"{task.handle} outran --timeout {timeout} and was cancelled: {said}"
                self._end(job_id, JobState.FAILED, error, f"{CANCELLED_AFTER} {reason}")
                return
        error = (
            f"{task.handle} is {still} after --timeout {timeout}; running the same command "
            "again follows it again (no new task)"
        )
        self._end(job_id, JobState.TIMED_OUT, error, short_reason(reason))

    def _observed(self, job_id: str, task: TaskRef, update: Update) -> None:
        self.journal.observed(job_id, update)
        state = update.status.value
        self.observer.changed(job_id, state, handle=task.handle, progress=update.progress)

    def _end(self, job_id: str, state: JobState, error: str, reason: str | None = None) -> None:
        self.journal.ended(job_id, state, error, reason)
        self._finished(job_id)

    def _finished(self, job_id: str) -> None:
        record = self.journal.get(job_id)
        if record is not None:
            self._ended += 1
            self._write(result_line(record))
            self.observer.ended(record)

    def _write(self, line: Mapping[str, Any]) -> None:
        if self._results is not None:
            self._results.write(json.dumps(line, sort_keys=True) + "\n")
            self._results.flush()


def _runs(action: Action | None) -> TypeGuard[Action]:
    """True for the actions a run carries out (submit, follow), not the ones it reports."""
    return action is Action.SUBMIT or action is Action.FOLLOW


def _replace_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    """Replace ``path`` whole with ``lines`` as JSON lines: written to a file beside it, renamed."""
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    staged.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    staged.replace(path)


def _since_reset(events: list[JournalEvent]) -> list[JournalEvent]:
    """The journal events since the job was last reset (all of them if never)."""
    resets = [n for n, event in enumerate(events) if event.kind == "reset"]
    return events[resets[-1] + 1 :] if resets else events


def _maybe_alive(record: JobRecord, since: list[JournalEvent]) -> str | None:
    """Why a failed ``record``'s task may still be alive: created (by any worker) ``since`` its
    last reset and never ended by the provider (failed, canceled) nor cancelled after a timeout."""
    created = [event for event in since if event.kind == "submitted"]
    ended = record.status in _ENDED_AT_PROVIDER or (record.reason or "").startswith(CANCELLED_AFTER)
    if not created or ended:
        return None
    who = created[-1].worker or "a worker"
    return (
        f"the ledger shows its task {created[-1].detail} created by {who} and never "
        "ended by the provider: it may still be alive"
    )


def _failed_reason(task: TaskRef, exc: TaskFailedError) -> str:
    """A task the provider failed or canceled, in a few words with what it said."""
    update = exc.update
    word = "canceled" if update and update.status is Status.CANCELED else "failed"
    said = (update.message or update.raw_status) if update else None
    return f"{task.provider} {word} the task" + (f": {said}" if said else "")


def _never_sent(record: JobRecord | None) -> bool:
    """True when the journal shows no request was ever sent for the job."""
    if record is None or record.state is JobState.PENDING:
        return True
    refused = (record.reason or "").startswith(REFUSED)
    return record.state is JobState.FAILED and record.task is None and refused


def _expired(result: Result, exc: MediataskError, now: datetime) -> bool:
    """True when a download failed because the result link expired."""
    if isinstance(exc, ExpiredError):
        return True
    past = any(o.expires_at is not None and o.expires_at <= now for o in result.outputs)
    return isinstance(exc, NotFoundError) and past


def _lost(task: TaskRef, exc: NotFoundError) -> str:
    return (
        f"{task.handle} is no longer known to {task.provider} ({exc}); a --sandbox re-run starts "
        "fresh emulators that know no earlier task. Re-run with --resubmit-lost to submit it again"
    )

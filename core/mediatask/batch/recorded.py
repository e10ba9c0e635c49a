"""A submit recorded in a journal: the intent as the request goes on the wire, the handle after.

Used by ``batch`` and by ``run``/``submit``. "On the wire" is the moment the request becomes
complete at the provider: the default transport holds back its last byte until the intent is
journalled (:func:`~mediatask.http.transport.send_submit`), so an upload cut short by a crash, a
Ctrl-C or a broken connection leaves the job pending. A failure after that moment is journalled
*uncertain* when the task may exist (no answer was read, or a 2xx answer could not be read) and
*failed* otherwise. A job that is no longer this writer's (:class:`~mediatask.journal.backend.
LeaseLostError`: another worker of a shared ledger took it over) is not written at all.
"""

from __future__ import annotations

import contextlib

import trio

from mediatask.batch.summary import short_reason
from mediatask.engine.client import Client
from mediatask.engine.uncertain import advice
from mediatask.journal.backend import JournalBackend, LeaseLostError, LedgerError, written
from mediatask.journal.sqlite import JobState
from mediatask.model.errors import MediataskError, PluginError, SubmitUncertainError
from mediatask.model.values import Job, TaskRef


async def submit_recorded(
    client: Client, journal: JournalBackend, job_id: str, job: Job
) -> TaskRef:
    """Submit ``job`` with the intent journalled as it goes on the wire and the handle after.

    Only the exchange on the wire, from the moment the request is complete, is shielded from
    cancellation (by ``send_submit``). Cancelled before it, the job stays pending; a submit that
    failed after it is journalled uncertain when the task may exist (no answer, or a 2xx answer
    that could not be read), else failed.
    """
    await trio.lowlevel.checkpoint_if_cancelled()  # handed its slot after Ctrl-C: not submitted
    marker = journal.marker(job_id)
    on_wire: list[bool] = []

    def going() -> None:
        journal.submitting(job_id, marker)  # raises if the job is no longer this worker's
        on_wire.append(True)  # the intent committed: the last byte goes now

    try:
        task = await client.submit(job, on_wire=going, marker=marker)
    except LeaseLostError:
        raise  # not this worker's to write: nothing was sent
    except MediataskError as exc:
        await _journal_failure(client, journal, job_id, job, exc, sent=bool(on_wire))
        raise
    except trio.Cancelled:
        # Every exchange that began ended in a refusal or certainly unsent (the client raises
        # SubmitUncertainError otherwise): no task exists, so the job is pending again.
        if on_wire:
            with contextlib.suppress(LeaseLostError):  # then it is another worker's to write
                journal.unsent(job_id)
        raise
    answered = client.known_update(task)  # an answer that was final at once (e.g. an edit)
    await written(lambda: journal.submitted(job_id, task, answered))  # the answer in hand: kept
    return task


async def _journal_failure(
    client: Client,
    journal: JournalBackend,
    job_id: str,
    job: Job,
    exc: MediataskError,
    *,
    sent: bool,
) -> None:
    """Journal the submit of ``job_id`` that raised ``exc`` (``sent``: after its intent
    committed): uncertain when the task may exist (no answer, or a 2xx answer that could not
    be read), else failed; nothing when the ledger itself failed after the intent."""
    if isinstance(exc, LedgerError):
        if not sent:
            # The intent may not have committed, so nothing was sent: once the ledger is
            # back, the job is pending again (unless another worker has taken it over).
            with contextlib.suppress(LeaseLostError):
                await written(lambda: journal.unsent(job_id))
        return  # else sent, its answer unknown here: left "submitting", uncertain to the next
    state = JobState.FAILED
    error, reason = str(exc), short_reason(exc)
    if isinstance(exc, SubmitUncertainError):
        state = JobState.UNCERTAIN
        error = f"{exc}; {_advice(client, journal, job_id)}"
        reason = short_reason(f"no answer to the submit: {exc}")
    elif isinstance(exc, PluginError) and sent:
        state = JobState.UNCERTAIN
        error = (
            f"{job.provider} accepted the submit but its answer could not be read ({exc}); "
            f"a task was probably created: {_advice(client, journal, job_id)}"
        )
        reason = f"{job.provider} accepted the submit but its answer was unreadable"
    await written(lambda: journal.ended(job_id, state, error, reason))


def _advice(client: Client, journal: JournalBackend, job_id: str) -> str:
    record = journal.get(job_id)
    return advice(client, record) if record else ""

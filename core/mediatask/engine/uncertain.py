"""Uncertain jobs: a submit that may or may not have created a task, said truly and settled.

A job is uncertain only when its submit was on the wire and no answer was read: the process was
killed then, the connection broke after sending, or the answer could not be read. What the user
can do depends on the provider. One that lists its tasks with the marker the submit carried
(``Capabilities.list``, ``finds_marker``; hook ``mediatask_submit``) is searched for it, page
after page back to the time of the submit (hook ``mediatask_next_page``): found, the job is
followed; not found, it stays uncertain and a later run looks again. Any other gets advice on
what to check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import trio

from mediatask.engine.client import Client
from mediatask.journal.sqlite import JobRecord
from mediatask.model.errors import MediataskError
from mediatask.model.values import TaskRef

LIST_SECONDS = 120.0
"""How long one look at a provider's list of tasks (all its pages) may take."""
LIST_PAGES = 100
"""The most pages of a provider's list read in one look."""
CLOCK_SLACK = timedelta(minutes=10)
"""How far the provider's clock may be behind ours: the list is read back to this long before
the earliest submit looked for."""


def sent_at(record: JobRecord) -> datetime | None:
    """When the job's latest submit went on the wire (timezone-aware), if known."""
    try:
        moment = datetime.fromisoformat(record.sent_at or "")
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def when(record: JobRecord) -> str:
    """When the job's latest submit went on the wire, as ``YYYY-MM-DD HH:MM:SS UTC``."""
    moment = sent_at(record)
    return "an unknown time" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def can_settle(client: Client, record: JobRecord) -> bool:
    """True when the provider's list of the job's operation can be searched for its marker."""
    if not record.marker:
        return False
    info = client.provider(record.job.provider)
    if not info.capabilities.searchable:  # no list, or one whose tasks carry no marker
        return False
    try:
        return client.plugins.list_tasks(info.name, record.job.operation) is not None
    except MediataskError:
        return False


def advice(client: Client, record: JobRecord) -> str:
    """What the user can do about the uncertain ``record`` at its provider, in one sentence."""
    info = client.provider(record.job.provider)
    if can_settle(client, record):
        return (
            f"mediatask looks for it in {info.title}'s list of tasks (marker {record.marker}) "
            "on every run of the same command; --resubmit-uncertain submits it again if it is "
            "still not found"
        )
    if not info.capabilities.list:
        which = "has no list of tasks"
    elif not info.capabilities.searchable:
        which = "keeps no mark of mediatask's on its tasks"
    else:
        which = "lists no such tasks"
    return (
        f"{info.title} {which} to look it up in: check your {info.title} account (its balance "
        f"or history) for a {record.job.operation} task started at {when(record)}; only if "
        "there is none, re-run with --resubmit-uncertain (if there is one, that pays for a "
        "second)"
    )


def risk(client: Client, record: JobRecord) -> str:
    """What submitting the uncertain ``record`` again risks, said before it is done."""
    info = client.provider(record.job.provider)
    looked = (
        f"it was not found in {info.title}'s list, but may still appear there"
        if can_settle(client, record)
        else f"{info.title} cannot be asked whether it was created"
    )
    return (
        f"{record.id}: submitting again to {info.title}; its submit of {when(record)} may have "
        f"created a task ({looked}): if it did, this pays for a second one"
    )


async def settle(
    client: Client, records: Iterable[JobRecord]
) -> dict[str, TaskRef | MediataskError | None]:
    """Look each record's marker up in its provider's list of tasks (one list per operation).

    :returns: per job id the task found, ``None`` when the list does not have it, or the error
        that kept the list from being read.
    """
    wanted: dict[tuple[str, str], list[JobRecord]] = {}
    for record in records:
        wanted.setdefault((record.job.provider, record.job.operation), []).append(record)
    found: dict[str, TaskRef | MediataskError | None] = {}
    for (provider, operation), group in wanted.items():
        found.update(await _look_up(client, provider, operation, group))
    return found


def _since(group: Iterable[JobRecord]) -> datetime | None:
    """How far back the list is read for ``group``: :data:`CLOCK_SLACK` before its earliest
    submit, when the time of each is known (else to the bound on pages)."""
    moments = [sent_at(record) for record in group]
    known = [moment for moment in moments if moment is not None]
    return min(known) - CLOCK_SLACK if known and len(known) == len(moments) else None


async def _look_up(
    client: Client, provider: str, operation: str, group: list[JobRecord]
) -> dict[str, TaskRef | MediataskError | None]:
    """:func:`settle` for the records of one provider's operation: one look at its list."""
    since = _since(group)
    try:
        with trio.fail_after(LIST_SECONDS):
            listing = await client.listing(provider, operation, pages=LIST_PAGES, since=since)
            listed = listing.tasks
    except trio.TooSlowError:
        error = MediataskError(f"{provider}'s list did not answer in {LIST_SECONDS:g} s")
        return {record.id: error for record in group}
    except MediataskError as exc:
        return {record.id: exc for record in group}
    by_marker: Mapping[str, TaskRef] = {
        task.extra["marker"]: task for task in reversed(listed) if "marker" in task.extra
    }
    return {record.id: by_marker.get(record.marker or "") for record in group}

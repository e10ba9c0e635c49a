"""A submit's intent is journalled as its request becomes complete at the provider.

The transport holds back the request's last byte and calls the client's hook first
(``on_commit``, see :class:`~mediatask.http.transport.Transport`). A job whose request broke off
before that, an upload cut short or a Ctrl-C while it is on its way, stays pending, never
uncertain: the provider never held the whole request, so sending it again cannot pay twice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from mediatask import Client, Job, JobState, Journal, PluginManager, RetryPolicy, Settings
from mediatask.batch.runner import submit_recorded
from mediatask.http.messages import Request, Response
from mediatask.http.transport import current_transport
from mediatask.journal.sqlite import LeaseLostError
from mediatask.model.errors import SubmitUncertainError, UnavailableError
from mediatask.testing import reply

JOB = Job("fake", "upscale", ["https://in.test/cat.png"])
CREATED = reply(200, {"id": "t1", "state": "queued"})


@attrs.define
class CommittingTransport:
    """Plays each step in turn: ``cut`` breaks off before the commit, ``lost`` after it, and
    ``ok`` commits and answers; it records which job states the journal held at each commit."""

    steps: list[str]
    journal: Journal
    at_commit: list[str | None] = attrs.field(factory=list)

    async def send(
        self, request: Request, *, on_commit: Callable[[], None] | None = None
    ) -> Response:
        assert on_commit is not None  # a submit
        step = self.steps.pop(0)
        await trio.lowlevel.checkpoint()
        if step == "cut":
            raise UnavailableError(
                "the connection to https://api.fake.test failed before the request was "
                "complete: connection reset",
                connected=True,
            )
        on_commit()
        record = self.journal.get("j1")
        self.at_commit.append(record.state.value if record else None)
        if step == "lost":
            raise UnavailableError("connection reset", maybe_sent=True)
        return CREATED

    def open_stream(self, request: Request) -> Any:
        raise AssertionError("a submit is no stream")

    async def aclose(self) -> None:
        pass


def make_client(plugins: PluginManager, transport: object) -> Client:
    return Client(
        plugins=plugins,
        settings=Settings(environ={"MEDIATASK_FAKE_KEY": "sk-test-key"}),
        transport=transport,  # type: ignore[arg-type]  # a test double
        retry=RetryPolicy(base_delay=1, max_delay=30, jitter=0),
    )


def test_the_default_transport_takes_the_commit_hook_as_it_is() -> None:
    from mediatask.http.http11 import Http11Transport

    transport = Http11Transport()
    assert current_transport(transport) is transport  # no adapter, no warning


async def test_an_upload_cut_short_is_sent_again_and_journalled_once(
    fake_plugins: PluginManager, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    with Journal(tmp_path / "journal.sqlite") as journal:
        journal.register("j1", JOB)
        transport = CommittingTransport(["cut", "cut", "ok"], journal)
        async with make_client(fake_plugins, transport) as client:
            task = await submit_recorded(client, journal, "j1", JOB)
        record = journal.get("j1")
    assert task.task_id == "t1"
    assert transport.at_commit == ["submitting"]  # the intent only once the request was whole
    assert record is not None
    assert record.state is JobState.SUBMITTED


async def test_a_submit_lost_after_its_commit_is_uncertain(
    fake_plugins: PluginManager, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    with Journal(tmp_path / "journal.sqlite") as journal:
        journal.register("j1", JOB)
        transport = CommittingTransport(["cut", "lost"], journal)
        async with make_client(fake_plugins, transport) as client:
            with pytest.raises(SubmitUncertainError):
                await submit_recorded(client, journal, "j1", JOB)
        record = journal.get("j1")
    assert record is not None
    assert record.state is JobState.UNCERTAIN


async def test_a_submit_cancelled_before_its_commit_stays_pending(
    fake_plugins: PluginManager, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    with Journal(tmp_path / "journal.sqlite") as journal:
        journal.register("j1", JOB)
        transport = CommittingTransport(["cut"] * 100, journal)
        async with make_client(fake_plugins, transport) as client:
            with trio.move_on_after(0.5):  # Ctrl-C between the attempts' back-off waits
                await submit_recorded(client, journal, "j1", JOB)
        record = journal.get("j1")
    assert transport.at_commit == []
    assert record is not None
    assert record.state is JobState.PENDING


class LostJournal(Journal):
    """A journal whose writer lost the job to another worker just before its intent."""

    def submitting(self, job_id: str, marker: str | None = None) -> None:
        raise LeaseLostError(f"job {job_id}: another worker has taken it over")


async def test_a_refused_intent_sends_no_last_byte_and_writes_nothing(
    fake_plugins: PluginManager, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    with LostJournal(tmp_path / "journal.sqlite") as journal:
        journal.register("j1", JOB)
        transport = CommittingTransport(["ok"], journal)
        async with make_client(fake_plugins, transport) as client:
            with pytest.raises(LeaseLostError):
                await submit_recorded(client, journal, "j1", JOB)
        record = journal.get("j1")
        history = [event.kind for event in journal.events("j1")]
    assert transport.at_commit == []  # on_commit raised: the request stayed incomplete
    assert record is not None
    assert record.state is JobState.PENDING  # not failed: the job is simply another's now
    assert history == ["registered"]

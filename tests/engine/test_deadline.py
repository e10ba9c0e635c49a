"""The one deadline of the library, the commands and batches (mediatask.engine.deadline), on
trio's virtual clock: it ends the work when it passes, says so in one wording, and asks the
provider to cancel the task when told to, for at most CANCEL_SECONDS."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
import trio

from mediatask.engine.deadline import (
    CANCEL_SECONDS,
    Deadline,
    TimedOut,
    ask_to_cancel,
    human,
    within,
)
from mediatask.model.errors import RejectedError
from mediatask.model.values import TaskRef

TASK = TaskRef("fake", "t1", datetime(2026, 1, 1, tzinfo=UTC))


class _Provider:
    """Stands in for a Client: answers a cancel with ``said``, an error, or never."""

    def __init__(self, said: str | Exception | None) -> None:
        self.said = said
        self.asked: list[TaskRef] = []

    async def cancel(self, task: TaskRef) -> str:
        self.asked.append(task)
        if self.said is None:
            await trio.sleep_forever()
        if isinstance(self.said, Exception):
            raise self.said
        return str(self.said)


def _client(said: str | Exception | None = "canceled fake:t1") -> Any:
    return _Provider(said)


async def test_the_work_is_ended_when_the_deadline_passes(autojump_clock: trio.abc.Clock) -> None:
    start = trio.current_time()
    with Deadline(5.0).start() as countdown:
        assert countdown.remaining() == pytest.approx(5.0)
        await trio.sleep(2.0)
        assert countdown.remaining() == pytest.approx(3.0)
        await trio.sleep(60.0)
    assert countdown.expired
    assert countdown.remaining() == 0.0
    assert trio.current_time() - start == pytest.approx(5.0)


async def test_work_done_in_time_has_not_expired(autojump_clock: trio.abc.Clock) -> None:
    with Deadline(5.0).start() as countdown:
        await trio.sleep(4.0)
    assert not countdown.expired


async def test_no_deadline_never_passes(autojump_clock: trio.abc.Clock) -> None:
    with Deadline().start() as countdown:
        assert countdown.remaining() == math.inf
        await trio.sleep(10_000.0)
    assert not countdown.expired


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.0, "0s"), (0.5, "0.5s"), (1.0, "1s"), (90.0, "1m30s"), (3600.0, "1h"), (5400, "1h30m")],
)
def test_a_passed_deadline_is_said_as_the_user_writes_durations(seconds: float, said: str) -> None:
    assert human(seconds) == said
    assert Deadline(seconds).timed_out == f"timed out after {said}"


async def test_within_returns_the_work_s_value_in_time(autojump_clock: trio.abc.Clock) -> None:
    async def work() -> str:
        await trio.sleep(1.0)
        return "done"

    assert await within(Deadline(5.0), _client(), lambda: TASK, work) == "done"


async def test_within_names_the_task_when_the_deadline_passes(
    autojump_clock: trio.abc.Clock,
) -> None:
    client = _client()
    outcome = await within(Deadline(5.0), client, lambda: TASK, trio.sleep_forever)
    assert outcome == TimedOut(Deadline(5.0), TASK, None)
    assert client.asked == []  # not asked to cancel


async def test_within_cancels_the_task_when_told_to(autojump_clock: trio.abc.Clock) -> None:
    client = _client()
    outcome = await within(Deadline(5.0, cancel=True), client, lambda: TASK, trio.sleep_forever)
    assert outcome == TimedOut(Deadline(5.0, cancel=True), TASK, "canceled fake:t1")
    assert client.asked == [TASK]


async def test_within_cancels_nothing_before_the_submit_answered(
    autojump_clock: trio.abc.Clock,
) -> None:
    client = _client()
    outcome = await within(Deadline(1.0, cancel=True), client, lambda: None, trio.sleep_forever)
    assert outcome == TimedOut(Deadline(1.0, cancel=True), None, None)
    assert client.asked == []


async def test_a_refused_cancel_is_said_with_the_task_going_on(
    autojump_clock: trio.abc.Clock,
) -> None:
    client = _client(RejectedError("cannot cancel a running task"))
    outcome = await within(Deadline(1.0, cancel=True), client, lambda: TASK, trio.sleep_forever)
    assert isinstance(outcome, TimedOut)
    assert outcome.canceled == (
        "could not cancel it (cannot cancel a running task): fake:t1 goes on at the provider"
    )


async def test_an_unanswered_cancel_is_given_up_after_cancel_seconds(
    autojump_clock: trio.abc.Clock,
) -> None:
    start = trio.current_time()
    outcome = await within(
        Deadline(1.0, cancel=True), _client(None), lambda: TASK, trio.sleep_forever
    )
    assert isinstance(outcome, TimedOut)
    assert outcome.canceled == (
        "fake did not take the cancel within 30s: fake:t1 goes on at the provider"
    )
    assert trio.current_time() - start == pytest.approx(1.0 + CANCEL_SECONDS)


async def test_ask_to_cancel_raises_too_slow_for_a_batch_to_record(
    autojump_clock: trio.abc.Clock,
) -> None:
    with pytest.raises(trio.TooSlowError):
        await ask_to_cancel(_client(None), TASK)

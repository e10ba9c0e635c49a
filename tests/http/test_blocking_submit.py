"""A submit the provider may hold (``Capabilities.submit_blocks``, ``Prefer: wait=N``).

It gets as long as the hold to answer, and Ctrl-C while it is held does not wait for the
answer: within a moment the submit is given up as uncertain, and the advice fits what the
provider can do (the queue cannot be asked whether the task exists).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from mediatask.http.messages import Request, Response
from mediatask.http.transport import ABANDON_AFTER, CommitHook, send_submit
from mediatask.model.errors import SubmitAbandonedError
from mediatask.testing import FakeTransport, serving_in_thread

SUBMIT = Request("POST", "https://api.test/draw", json={"prompt": "x"})


class HeldTransport:
    """Commits the submit, then holds its answer for ``hold`` seconds (virtual time)."""

    def __init__(self, hold: float) -> None:
        self.hold = hold

    async def send(
        self, request: Request, *, on_commit: Callable[[], None] | None = None
    ) -> Response:
        await trio.lowlevel.checkpoint()
        if on_commit is not None:
            on_commit()
        await trio.sleep(self.hold)
        return Response(200, {}, b'{"request_id": "r1"}')

    def open_stream(self, request: Request) -> Any:
        raise AssertionError("a submit is no stream")

    async def aclose(self) -> None:
        pass


async def test_a_held_submit_cancelled_is_given_up_as_uncertain_after_a_moment(
    autojump_clock: trio.testing.MockClock,
) -> None:
    committed: list[bool] = []
    with trio.move_on_after(1):
        with pytest.raises(SubmitAbandonedError, match="may have been created"):
            await send_submit(
                HeldTransport(50), SUBMIT, lambda: committed.append(True), abandon_after=0.5
            )
    assert committed == [True]
    assert trio.current_time() == pytest.approx(1 + ABANDON_AFTER)  # not the 50 s hold


async def test_a_held_submit_answered_within_the_moment_keeps_its_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with trio.move_on_after(1):
        answer = await send_submit(HeldTransport(1.2), SUBMIT, lambda: None, abandon_after=0.5)
    assert answer.status == 200  # the task exists: its id is not thrown away


async def test_a_submit_cancelled_before_its_commit_is_simply_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    committed: list[bool] = []
    with trio.CancelScope() as scope:
        scope.cancel()
        await send_submit(
            HeldTransport(50), SUBMIT, lambda: committed.append(True), abandon_after=0.5
        )
    assert scope.cancelled_caught
    assert committed == []


def test_ctrl_c_before_the_commit_stops_the_submit_at_once() -> None:
    """KeyboardInterrupt (trio's default Ctrl-C) in the task waiting for the submit, as for a
    cancellation: nothing is at the provider yet, so the exchange stops now."""
    stopped: list[bool] = []

    class Uploading(FakeTransport):
        async def send(self, request: Request, *, on_commit: CommitHook | None = None) -> Response:
            # Raised from trio's run loop, the signal reaches the waiting (main) task.
            trio.lowlevel.current_trio_token().run_sync_soon(signal.raise_signal, signal.SIGINT)
            try:
                await trio.sleep(10)  # the upload, still on its way
            except trio.Cancelled:
                stopped.append(True)
                raise
            raise AssertionError("the upload went on after Ctrl-C")

    # Ctrl-C as in a terminal: a runner may start the tests with SIGINT ignored (a background
    # job of a shell without job control), and then trio.run leaves it so. Put back after.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with pytest.raises(KeyboardInterrupt):
        trio.run(send_submit, Uploading(), SUBMIT, lambda: None)
    assert stopped == [True]


def test_ctrl_c_while_a_cancelled_submit_waits_for_its_answer_stops_it_at_once() -> None:
    """A submit complete at the provider whose caller was cancelled (a deadline) waits for its
    answer; a Ctrl-C then stops that wait as well, raised as it is."""
    stopped: list[bool] = []
    caller = trio.CancelScope()

    class Answering(FakeTransport):
        async def send(self, request: Request, *, on_commit: CommitHook | None = None) -> Response:
            assert on_commit is not None
            on_commit()  # the request is complete at the provider
            caller.cancel()  # the caller's deadline passes
            await trio.testing.wait_all_tasks_blocked()  # the caller waits for the answer
            trio.lowlevel.current_trio_token().run_sync_soon(signal.raise_signal, signal.SIGINT)
            try:
                await trio.sleep(10)  # the answer, slow to come
            except trio.Cancelled:
                stopped.append(True)
                raise
            raise AssertionError("the submit waited for its answer after Ctrl-C")

    async def main() -> None:
        with caller:
            await send_submit(Answering(), SUBMIT, lambda: None)

    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (see above)
    with pytest.raises(KeyboardInterrupt):  # not in an exception group
        trio.run(main)
    assert stopped == [True]


class _Holding(http.server.BaseHTTPRequestHandler):
    """A queue API that holds every submit until the test releases it."""

    arrived = threading.Event()
    release = threading.Event()
    prefer: list[str | None] = []  # noqa: RUF012  # one test's record

    def do_POST(self) -> None:  # the stdlib's name
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).prefer.append(self.headers.get("Prefer"))
        type(self).arrived.set()
        type(self).release.wait(120)
        body = b'{"request_id": "r1", "status": "IN_QUEUE"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # the client gave up on it, as it should
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # stdlib's name
        pass


@pytest.fixture
def holding_queue() -> Iterator[str]:
    _Holding.arrived.clear()
    _Holding.release.clear()
    _Holding.prefer.clear()
    with serving_in_thread(_Holding) as url:
        try:
            yield url
        finally:
            _Holding.release.set()


@pytest.mark.subprocess
def test_ctrl_c_during_a_held_submit_ends_uncertain_with_advice_that_fits(
    holding_queue: str, tmp_path: Any
) -> None:
    env = {**os.environ, "MEDIATASK_QUEUE_BASE_URL": holding_queue, "MEDIATASK_QUEUE_KEY": "k"}
    command = [sys.executable, "-m", "mediatask", "run", "queue", "draw", "-p", "prompt=x"]
    command += ["-p", "wait=50", "-o", str(tmp_path / "out")]
    run = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert _Holding.arrived.wait(60), "the submit never arrived"
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)  # a bound for a broken test, not a measure
    finally:
        if run.poll() is None:
            run.kill()

    assert not _Holding.release.is_set()  # it ended while the provider still held the submit
    assert _Holding.prefer == ["wait=50"]
    assert run.returncode == 130, stderr
    said = stderr.strip().splitlines()[-1]
    assert said.startswith("interrupted: no answer to the submit within 0.5 s")
    assert "has no list of tasks to look it up in" in said
    assert "--resubmit-uncertain" in said
    listed = subprocess.run(
        [sys.executable, "-m", "mediatask", "jobs", "list", "--json"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert [job["state"] for job in json.loads(listed.stdout)] == ["uncertain"]


def test_a_submit_that_may_be_held_gets_the_hold_and_the_usual_read_timeout() -> None:
    from mediatask.engine.client import held_long_enough
    from mediatask.http.transport import READ_TIMEOUT
    from mediatask.model.values import Capabilities, ProviderInfo

    info = ProviderInfo("p", "P", "https://p.test", "Bearer", [])
    held = attrs.evolve(info, capabilities=Capabilities(submit_blocks=50))

    assert held_long_enough(held, SUBMIT).timeout == 50 + READ_TIMEOUT
    assert held_long_enough(info, SUBMIT).timeout is None
    assert held_long_enough(held, attrs.evolve(SUBMIT, timeout=5)).timeout == 5  # its own

"""Rate limits shared through the ledger: N workers with one key stay within what one would."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from mediatask.batch import shared_limits
from mediatask.batch.shared_limits import SharedRateLimiter
from mediatask.journal.postgres import Admission, OffLoop, PostgresJournal
from mediatask.journal.postgres.shared_rates import SharedRates
from mediatask.testing import Standalone, standalone_emulator

pytestmark = pytest.mark.postgres

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"
CLAID_WINDOWS = ((4, 1.0), (120, 60.0))  # as documented, and as its emulator enforces them
HOUR_WINDOWS = ((4, 3600.0), (6, 7200.0))  # windows no test outlives: no clock in the asserts


def test_every_window_counts_every_workers_requests(postgres_url: str) -> None:
    with PostgresJournal(postgres_url) as one, PostgresJournal(postgres_url) as two:
        for ledger in (one, two, one, two):
            admitted = ledger.rates.admit("claid:abc", HOUR_WINDOWS, 0.5)
            assert admitted.entry is not None
            assert admitted.wait == 0
        refused = two.rates.admit("claid:abc", HOUR_WINDOWS, 0.5)
        assert refused.entry is None  # the fifth in the first window, whoever asks
        assert 3000 < refused.wait <= 3600.5
        other = one.rates.admit("claid:other-key", HOUR_WINDOWS, 0.5)
        assert other.entry is not None  # another key has windows of its own


def test_a_pause_holds_every_worker(postgres_url: str) -> None:
    with PostgresJournal(postgres_url) as one, PostgresJournal(postgres_url) as two:
        one.rates.pause("a1d:abc", 3600)
        refused = two.rates.admit("a1d:abc", HOUR_WINDOWS, 0.5)
        assert refused.entry is None
        assert refused.wait > 3000
        assert refused.exact


def test_a_wait_is_exact_once_the_request_it_rests_on_is_answered(postgres_url: str) -> None:
    windows = ((1, 3600.0),)
    with PostgresJournal(postgres_url) as one, PostgresJournal(postgres_url) as two:
        sent = one.rates.admit("claid:abc", windows, 600.0).entry
        assert sent is not None
        in_flight = two.rates.admit("claid:abc", windows, 600.0)
        assert in_flight.entry is None
        assert not in_flight.exact  # counted at its upper bound: its answer frees room sooner
        assert in_flight.wait > 3600 + 500
        one.rates.answered(sent)
        answered = two.rates.admit("claid:abc", windows, 600.0)
        assert answered.entry is None
        assert answered.exact  # counted at its answer: room frees exactly then
        assert 3500 < answered.wait <= 3600


async def test_the_limiter_admits_and_logs_the_answer(postgres_url: str) -> None:
    with PostgresJournal(postgres_url) as ledger:
        limiter = SharedRateLimiter(
            ledger.rates, OffLoop(ledger), "claid:abc", HOUR_WINDOWS, count_within=3600.0
        )
        async with limiter.request():
            pass  # answered: logged at the answer, not an hour from now
        rows = ledger._rows("SELECT counted_at, extract(epoch from now()) AS now FROM rate_log")
        assert rows[0]["counted_at"] < float(rows[0]["now"]) + 60
        for _ in range(3):
            async with limiter.request():
                pass
        with trio.move_on_after(0.2) as waited:
            async with limiter.request():
                pytest.fail("a fifth request in the hour's window was admitted")
        assert waited.cancelled_caught


@attrs.define
class Counting(SharedRates):
    """Rate logs that count how often a limiter asks them for room."""

    asked: int = 0

    def admit(
        self, scope: str, windows: Sequence[tuple[int, float]], count_within: float
    ) -> Admission:
        self.asked += 1
        return super().admit(scope, windows, count_within)


async def test_a_wait_on_an_answered_request_is_slept_whole(postgres_url: str) -> None:
    with PostgresJournal(postgres_url) as ledger:
        ledger.rates = counting = Counting(ledger.rates.db)
        limiter = SharedRateLimiter(ledger.rates, OffLoop(ledger), "claid:abc", ((1, 0.5),))
        async with limiter.request():
            pass
        async with limiter.request():  # room frees 0.5 s after the answer: one sleep, not ten
            pass
    assert counting.asked == 3


async def test_a_waiting_request_wakes_on_this_workers_own_answer(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_limits, "RECHECK_SECONDS", 3600.0)  # no asking again by time
    with PostgresJournal(postgres_url) as ledger, ledger.sibling() as side:
        limiter = SharedRateLimiter(
            ledger.rates, OffLoop(side), "claid:abc", ((1, 0.2),), count_within=600.0
        )
        admitted = trio.Event()

        async def second() -> None:
            async with limiter.request():
                admitted.set()

        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                async with limiter.request():
                    nursery.start_soon(second)
                    await trio.testing.wait_all_tasks_blocked()  # asked while it is in flight
                await admitted.wait()  # woken by the answer, not an hour's recheck


@attrs.define
class HeldAdmission(SharedRates):
    """Holds its second admission's answer (already read from the log) until ``gate`` opens."""

    asked: int = 0
    read: threading.Event = attrs.field(factory=threading.Event)
    gate: threading.Event = attrs.field(factory=threading.Event)

    def admit(self, *args: Any, **kwargs: Any) -> Admission:
        admission = super().admit(*args, **kwargs)
        self.asked += 1
        if self.asked == 2:
            self.read.set()
            self.gate.wait(timeout=30)
        return admission


async def test_an_answer_that_comes_while_a_request_asks_still_wakes_it(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_limits, "RECHECK_SECONDS", 3600.0)  # no asking again by time
    with PostgresJournal(postgres_url) as ledger, PostgresJournal(postgres_url) as side:
        side.rates = held = HeldAdmission(side.rates.db)
        limiter = SharedRateLimiter(
            ledger.rates, OffLoop(side), "claid:abc", ((1, 0.2),), count_within=600.0
        )
        admitted = trio.Event()

        async def second() -> None:
            async with limiter.request():
                admitted.set()

        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                async with limiter.request():
                    nursery.start_soon(second)
                    await trio.to_thread.run_sync(held.read.wait)  # it saw the first in flight
                held.gate.set()  # its answer arrives after the first's was written
                await admitted.wait()  # not lost: the answer it missed still counts


@pytest.mark.slow
def test_three_workers_on_claids_default_windows_draw_no_429(
    postgres_url: str, tmp_path: Path, mediatask_home: Path
) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.png")
    resize = {"operations": {"resizing": {"width": 32}}, "output": {"format": "png"}}
    lines = [
        {"id": f"r{n:02d}", "provider": "claid", "operation": "edit", "input": "in.png",
         "params": resize}
        for n in range(24)
    ]  # fmt: skip
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with standalone_emulator("claid", "pg-limits-claid-key", 0.3) as claid:
        env = {**os.environ, "MEDIATASK_HOME": str(mediatask_home), **claid.env}
        command = [sys.executable, "-m", "mediatask", "batch", "jobs.jsonl", "-o", "out"]
        command += ["--journal", postgres_url, "--concurrency", "8", "--json"]
        workers = [
            subprocess.Popen(  # our own command, no shell
                command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(3)
        ]
        outcomes = [worker.communicate(timeout=180) for worker in workers]
        stats = claid.stats()
        arrivals = claid.request_times()
    print(f"claid emulator: {stats}")
    for worker, (_, err) in zip(workers, outcomes, strict=True):
        assert worker.returncode == 0, err.decode()[-2000:]
    assert stats.get("submissions", 0) + stats.get("uploads", 0) == 24
    assert stats.get("rate_limited", 0) == 0  # the emulator answers 429 beyond 4/s or 120/min
    # The emulator's own log of arrivals: no window ever held more than its limit.
    assert len(arrivals) == stats["requests"]
    for limit, seconds in CLAID_WINDOWS:
        crowded = [
            (arrivals[k - limit], arrivals[k])
            for k in range(limit, len(arrivals))
            if arrivals[k] - arrivals[k - limit] < seconds  # as the emulator counts
        ]
        assert not crowded, (limit, seconds, crowded)


@contextlib.contextmanager
def a1d_allowing(in_flight: int, key: str) -> Iterator[Standalone]:
    """``mediatask emulate a1d`` answering 429 beyond ``in_flight`` tasks in progress per key."""
    command = [sys.executable, "-m", "mediatask", "emulate", "a1d", "--key", key]
    command += ["--processing-seconds", "0.5", "--max-in-flight", str(in_flight)]
    with subprocess.Popen(  # our own command, no shell
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        assert process.stdout is not None
        found = re.search(r"listening on (\S+)", process.stdout.readline())
        assert found is not None
        try:
            yield Standalone("a1d", found.group(1), key)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)


@pytest.mark.slow
def test_two_workers_share_one_in_flight_ceiling(
    postgres_url: str, tmp_path: Path, mediatask_home: Path
) -> None:
    lines = [
        {"id": f"f{n:02d}", "provider": "a1d", "operation": "image-generator",
         "params": {"prompt": f"sky {n}"}}
        for n in range(12)
    ]  # fmt: skip
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    key = "pg-flight-a1d-key"
    with a1d_allowing(2, key) as a1d:
        env = {**os.environ, "MEDIATASK_HOME": str(mediatask_home), **a1d.env}
        command = [sys.executable, "-m", "mediatask", "batch", "jobs.jsonl", "-o", "out"]
        command += ["--journal", postgres_url, "--max-in-flight", "a1d=2", "--json"]
        workers = [
            subprocess.Popen(  # our own command, no shell
                command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        outcomes = [worker.communicate(timeout=180) for worker in workers]
        counted = a1d.stats()
    print(f"a1d emulator: {counted}")
    for worker, (_, err) in zip(workers, outcomes, strict=True):
        assert worker.returncode == 0, err.decode()[-2000:]
    assert counted["submissions"] == 12
    assert counted.get("busy_refusals", 0) == 0  # together never more than 2 in progress


async def test_a_worker_keeps_to_the_windows_its_answers_list(postgres_url: str) -> None:
    """Declared 100 an hour, the provider's answers list 2 an hour: the shared log is asked with
    the learned windows, so after two requests there is no room for a third."""
    with PostgresJournal(postgres_url) as ledger:
        limiter = SharedRateLimiter(
            ledger.rates, OffLoop(ledger), "claid:learned", ((100, 3600.0),), count_within=3600.0
        )
        limiter.learn(((2, 3600.0),))
        assert limiter.windows == ((2, 3600.0),)
        async with limiter.request(), limiter.request():
            pass
        assert ledger.rates.admit("claid:learned", limiter.windows, 3600.0).entry is None
        assert ledger.rates.admit("claid:learned", ((100, 3600.0),), 3600.0).entry is not None

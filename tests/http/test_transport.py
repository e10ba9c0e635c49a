"""The transport on real loopback sockets: cancellation reaches blocked reads, a refused
connection sent nothing; the engine at a thousand jobs at once; the retired urllib3 transport
says what to use instead."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from mediatask import Client, Job, Outcome
from mediatask.engine.policy import PollPolicy
from mediatask.http.http11 import Http11Transport
from mediatask.http.messages import Request
from mediatask.model.errors import UnavailableError
from mediatask.settings.config import Settings
from mediatask.testing import Standalone


@asynccontextmanager
async def stalling_server(head: bytes) -> AsyncIterator[str]:
    """A server that answers every connection with ``head`` and then never sends more."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.send_all(head)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        yield f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: {}\n\n"


async def test_cancel_reaches_a_blocked_stream_read() -> None:
    transport = Http11Transport()
    async with stalling_server(SSE_HEAD) as url:
        with trio.fail_after(3):  # the read would otherwise block for the 60 s read timeout
            async with transport.open_stream(Request("GET", url + "/sse")) as body:
                assert await body.read() == b"data: {}\n\n"
                with trio.move_on_after(0.2) as scope:
                    await body.read()  # nothing more comes
                assert scope.cancelled_caught
    await transport.aclose()


async def test_cancel_reaches_a_blocked_get() -> None:
    transport = Http11Transport()
    async with stalling_server(b"") as url:  # never answers at all
        with trio.fail_after(3), trio.move_on_after(0.2) as scope:
            await transport.send(Request("GET", url + "/task/1"))
        assert scope.cancelled_caught
    await transport.aclose()


async def test_connection_refused_is_unavailable_and_nothing_was_sent() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # now nothing listens there
    with pytest.raises(UnavailableError, match="connection refused") as caught:
        await Http11Transport().send(Request("POST", f"http://127.0.0.1:{port}/x", json={}))
    assert caught.value.maybe_sent is False


# -- a thousand jobs at once against an emulator -----------------------------------------------


def _a1d_client(emulator: Standalone, transport: Any) -> Client:
    settings = Settings(environ=emulator.env)
    polling = PollPolicy(initial=0.2, maximum=1.0)
    return Client(settings=settings, transport=transport, polling=polling)


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_thousand_jobs_at_concurrency_a_thousand_all_finish(
    start_a1d: Callable[[str, float], Standalone], tmp_path: Path
) -> None:
    """Through ``run_many``. Where a provider still declares a cap (A1D's guessed 4) this runs
    that many at once; with the caps gone, all 1,000 are in flight and this is the deadlock
    test the issue asks for."""
    emulator = start_a1d("sk-thousand", 0.05)
    jobs = [Job("a1d", "image-generator", (), {"prompt": f"p{n}"}) for n in range(1000)]

    async def main() -> list[Outcome]:
        async with _a1d_client(emulator, Http11Transport()) as client:
            with trio.fail_after(600):  # a guard against a deadlock, not a timing
                async with client.run_many(jobs, tmp_path, concurrency=1000) as outcomes:
                    return [outcome async for outcome in outcomes]

    outcomes = trio.run(main)
    assert [o.error for o in outcomes if not o.ok] == []
    assert len(outcomes) == 1000
    assert emulator.stats()["submissions"] == 1000


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_thousand_tasks_in_flight_at_once_all_finish(
    start_a1d: Callable[[str, float], Standalone], tmp_path: Path
) -> None:
    """1,000 ``Client.run`` at once, no provider cap in the way: 1,000 SSE streams, submits and
    downloads share the transport's pools at the same time."""
    emulator = start_a1d("sk-thousand", 0.5)

    async def main() -> int:
        done = 0
        async with _a1d_client(emulator, Http11Transport()) as client:

            async def one(n: int) -> None:
                nonlocal done
                job = Job("a1d", "image-generator", (), {"prompt": f"p{n}"})
                await client.run(job, tmp_path / str(n))
                done += 1

            with trio.fail_after(600):  # a guard against a deadlock, not a timing
                async with trio.open_nursery() as nursery:
                    for n in range(1000):
                        nursery.start_soon(one, n)
        return done

    assert trio.run(main) == 1000
    assert emulator.stats()["submissions"] == 1000


async def test_jobs_cancelled_at_random_points_leave_the_engines_pools_sound(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    """Whole jobs (submit, SSE, downloads) cut off at seeded random moments; then every pool
    is idle and consistent, and the next jobs on the same client succeed."""
    _, client = mediatask_sandbox
    assert isinstance(client.transport, Http11Transport)
    rng = random.Random(9)  # noqa: S311  # test data, not secrets
    cut = 0

    async def one(n: int) -> None:
        nonlocal cut
        job = Job("a1d", "image-generator", (), {"prompt": f"p{n}"})
        with trio.move_on_after(rng.uniform(0, 0.4)) as scope:  # a cancellation, not a wait
            await client.run(job, tmp_path / f"cut{n}")
        cut += scope.cancelled_caught

    async with trio.open_nursery() as nursery:
        for n in range(40):
            nursery.start_soon(one, n)
    assert cut > 5
    for origin, stats in client.transport.pool_stats().items():
        assert stats.consistent, (origin, stats)
        assert (stats.busy, stats.streams) == (0, 0), (origin, stats)
        assert stats.free_slots == client.transport.max_connections
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for n in range(5):
                job = Job("a1d", "image-generator", (), {"prompt": f"after{n}"})
                nursery.start_soon(client.run, job, tmp_path / f"after{n}")


def test_the_retired_urllib3_transport_says_what_to_use_instead() -> None:
    with pytest.raises(ImportError, match="UrllibTransport was retired: leave transport= out"):
        from mediatask.http.urllib3_transport import UrllibTransport  # noqa: F401

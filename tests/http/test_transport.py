"""The urllib3 transport on real loopback sockets: cancellation, errors, streaming; and both
transports under the engine at a thousand jobs at once."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from mediatask import Client, Job, Outcome
from mediatask.engine.policy import PollPolicy
from mediatask.http import bodies
from mediatask.http.http11 import Http11Transport
from mediatask.http.messages import Request
from mediatask.http.urllib3_transport import UrllibTransport
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
    transport = UrllibTransport()
    async with stalling_server(SSE_HEAD) as url:
        with trio.fail_after(3):  # the read would otherwise block for the 60 s read timeout
            async with transport.open_stream(Request("GET", url + "/sse")) as body:
                assert await body.read() == b"data: {}\n\n"
                with trio.move_on_after(0.2) as scope:
                    await body.read()  # nothing more comes
                assert scope.cancelled_caught
    transport.close()


async def test_cancel_reaches_a_blocked_get() -> None:
    transport = UrllibTransport()
    async with stalling_server(b"") as url:  # never answers at all
        with trio.fail_after(3), trio.move_on_after(0.2) as scope:
            await transport.send(Request("GET", url + "/task/1"))
        assert scope.cancelled_caught
    transport.close()


async def test_connection_refused_is_unavailable_and_nothing_was_sent() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()  # now nothing listens there
    with pytest.raises(UnavailableError, match="connection refused") as caught:
        await UrllibTransport().send(Request("POST", f"http://127.0.0.1:{port}/x", json={}))
    assert caught.value.maybe_sent is False


# -- the urllib3 transport's two old bugs ------------------------------------------------------


@asynccontextmanager
async def sse_and_answers() -> AsyncIterator[str]:
    """``/sse`` sends one event and stalls; any other path is answered ``ok`` (keep-alive)."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = await stream.receive_some(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            if b" /sse " in head:
                await stream.send_all(SSE_HEAD)
                await trio.sleep_forever()
            await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        yield f"http://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


async def test_urllib3_streams_beyond_the_pool_size_do_not_starve_requests() -> None:
    transport = UrllibTransport(max_connections=2)
    all_open = trio.Event()
    async with sse_and_answers() as url, trio.open_nursery() as nursery:
        opened = 0

        async def follow() -> None:
            nonlocal opened
            async with transport.open_stream(Request("GET", url + "/sse")) as body:
                assert await body.read() == b"data: {}\n\n"
                opened += 1
                if opened == 5:
                    all_open.set()
                await body.read()  # blocks: nothing more comes

        for _ in range(5):  # more streams than connections and threads for requests
            nursery.start_soon(follow)
        with trio.fail_after(20):  # a guard: before the fix this never finished
            await all_open.wait()
            assert (await transport.send(Request("GET", url + "/poll"))).body == b"ok"
        nursery.cancel_scope.cancel()
    transport.close()


async def test_urllib3_cancelled_stream_reads_leave_the_pools_sound() -> None:
    transport = UrllibTransport(max_connections=2)
    async with sse_and_answers() as url:
        for _ in range(20):
            async with transport.open_stream(Request("GET", url + "/sse")) as body:
                await body.read()
                with trio.move_on_after(0.01):  # a deadline that cancels a blocked read
                    await body.read()
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                for _ in range(10):  # a connection released twice would be shared here
                    nursery.start_soon(transport.send, Request("GET", url + "/poll"))
    transport.close()


async def test_urllib3_uploads_a_file_without_reading_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = tmp_path / "clip.bin"
    upload.write_bytes(b"x" * (3 * 256 * 1024 + 5))
    reads: list[int] = []
    real_chunks = bodies.file_chunks

    def spy(part: bodies.FilePart) -> Iterator[bytes]:
        for chunk in real_chunks(part):
            reads.append(len(chunk))
            yield chunk

    monkeypatch.setattr(bodies, "file_chunks", spy)
    transport = UrllibTransport()
    async with sse_and_answers() as url:
        response = await transport.send(Request("PUT", url + "/upload", upload=upload))
    assert response.body == b"ok"
    assert reads == [256 * 1024] * 3 + [5]
    transport.close()


# -- a thousand jobs at once against an emulator -----------------------------------------------


def _a1d_client(emulator: Standalone, transport: Any) -> Client:
    settings = Settings(environ=emulator.env)
    polling = PollPolicy(initial=0.2, maximum=1.0)
    return Client(settings=settings, transport=transport, polling=polling)


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("transport", [Http11Transport, UrllibTransport])
def test_a_thousand_jobs_at_concurrency_a_thousand_all_finish(
    start_a1d: Callable[[str, float], Standalone], transport: type[Any], tmp_path: Path
) -> None:
    """Through ``run_many``. Where a provider still declares a cap (A1D's guessed 4) this runs
    that many at once; with the caps gone, all 1,000 are in flight and this is the deadlock
    test the issue asks for."""
    emulator = start_a1d("sk-thousand", 0.05)
    jobs = [Job("a1d", "image-generator", (), {"prompt": f"p{n}"}) for n in range(1000)]

    async def main() -> list[Outcome]:
        async with _a1d_client(emulator, transport()) as client:
            with trio.fail_after(600):  # a guard against a deadlock, not a timing
                async with client.run_many(jobs, tmp_path, concurrency=1000) as outcomes:
                    return [outcome async for outcome in outcomes]

    outcomes = trio.run(main)
    assert [o.error for o in outcomes if not o.ok] == []
    assert len(outcomes) == 1000
    assert emulator.stats()["submissions"] == 1000


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("transport", [Http11Transport, UrllibTransport])
def test_a_thousand_tasks_in_flight_at_once_all_finish(
    start_a1d: Callable[[str, float], Standalone], transport: type[Any], tmp_path: Path
) -> None:
    """1,000 ``Client.run`` at once, no provider cap in the way: 1,000 SSE streams, submits and
    downloads share the transport's pools at the same time."""
    emulator = start_a1d("sk-thousand", 0.5)

    async def main() -> int:
        done = 0
        async with _a1d_client(emulator, transport()) as client:

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

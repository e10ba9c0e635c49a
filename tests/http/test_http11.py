"""The h11 transport against loopback servers written in the test, byte for byte.

Each server counts the connections it accepted, so keep-alive and reuse are checked from the
server's side. Timeouts run on trio's autojump clock: no test waits in real time.
"""

from __future__ import annotations

import math
import random
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import trustme

from mediatask.http.http11 import Http11Transport
from mediatask.http.messages import Request
from mediatask.http.pool import Pool, PoolStats
from mediatask.http.transport import send_submit
from mediatask.model.errors import UnavailableError, UsageError


@attrs.define
class Received:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@attrs.define
class Exchange:
    """What a handler sees: the request, and the stream to answer on."""

    request: Received
    stream: trio.abc.Stream
    connection: int
    """The number of the connection it came on (1, 2, …)."""


Handler = Callable[[Exchange], Awaitable[bool]]
"""Answers one request; returns False to close the connection afterwards."""


@attrs.define
class Server:
    url: str
    connections: int = 0
    received: list[Received] = attrs.field(factory=list)


async def _read_request(stream: trio.abc.Stream, buffer: bytearray) -> Received | None:
    while b"\r\n\r\n" not in buffer:
        data = await stream.receive_some(65536)
        if not data:
            return None
        buffer += data
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = bytearray(rest)
    while len(body) < length:
        data = await stream.receive_some(65536)
        if not data:
            return None
        body += data
    buffer[:] = body[length:]
    return Received(method, target, headers, bytes(body[:length]))


@asynccontextmanager
async def serving(
    handler: Handler, *, tls: trustme.CA | None = None, sni: list[str] | None = None
) -> AsyncIterator[Server]:
    """Serve ``handler`` on loopback (keep-alive until it returns False); yields the server."""
    listeners: list[trio.abc.Listener[trio.abc.Stream]]
    tcp = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = tcp[0].socket.getsockname()[1]
    scheme, host = "http", "127.0.0.1"
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.issue_cert("localhost").configure_cert(context)
        if sni is not None:
            context.sni_callback = lambda _obj, name, _ctx: sni.append(name or "")
        listeners = [trio.SSLListener(listener, context, https_compatible=True) for listener in tcp]
        scheme, host = "https", "localhost"
    else:
        listeners = list(tcp)
    server = Server(f"{scheme}://{host}:{port}")

    async def handle(stream: trio.abc.Stream) -> None:
        server.connections += 1
        number = server.connections
        buffer = bytearray()
        async with stream:
            while True:
                try:
                    request = await _read_request(stream, buffer)
                except trio.BrokenResourceError:
                    return
                if request is None:
                    return
                server.received.append(request)
                try:
                    if not await handler(Exchange(request, stream, number)):
                        return
                except trio.BrokenResourceError:
                    return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        yield server
        nursery.cancel_scope.cancel()


def answer(status: int, body: bytes = b"", *headers: str) -> bytes:
    """A Content-Length framed answer."""
    lines = [f"HTTP/1.1 {status} X", f"content-length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def echo(exchange: Exchange) -> bool:
    """Answer with the method, target and body it got, on keep-alive."""
    request = exchange.request
    body = f"{request.method} {request.target} ".encode() + request.body
    await exchange.stream.send_all(answer(200, body, "content-type: text/plain"))
    return True


@pytest.fixture
def http() -> Iterator[Callable[..., Http11Transport]]:
    """Makes transports, and closes their idle connections after the test."""
    made: list[Http11Transport] = []

    def make(**options: Any) -> Http11Transport:
        made.append(Http11Transport(**options))
        return made[-1]

    yield make
    for transport in made:
        transport.close()


def sound(stats: PoolStats) -> None:
    """Nothing is lent out and the bookkeeping adds up."""
    assert stats.consistent, stats
    assert (stats.busy, stats.streams) == (0, 0), stats


# -- keep-alive, bodies ------------------------------------------------------------------------


async def test_sequential_requests_reuse_one_connection(
    http: Callable[..., Http11Transport],
) -> None:
    transport = http()
    async with serving(echo) as server:
        for n in range(5):
            response = await transport.send(Request("GET", f"{server.url}/task/{n}"))
            assert response.body == f"GET /task/{n} ".encode()
        assert server.connections == 1
    (stats,) = transport.pool_stats().values()
    sound(stats)
    assert stats.idle == 1


async def test_concurrent_requests_stay_within_the_pool_bound(
    http: Callable[..., Http11Transport],
) -> None:
    transport = http(max_connections=3)
    release = trio.Event()

    async def slow(exchange: Exchange) -> bool:
        await release.wait()
        return await echo(exchange)

    async with serving(slow) as server:
        bodies: list[bytes] = []

        async def get(n: int) -> None:
            bodies.append((await transport.send(Request("GET", f"{server.url}/{n}"))).body)

        async with trio.open_nursery() as nursery:
            for n in range(20):
                nursery.start_soon(get, n)
            await trio.testing.wait_all_tasks_blocked()
            assert server.connections == 3  # the other 17 wait for a connection
            release.set()
        assert sorted(bodies) == sorted(f"GET /{n} ".encode() for n in range(20))
        assert server.connections == 3
    sound(next(iter(transport.pool_stats().values())))


async def test_chunked_and_close_delimited_bodies(http: Callable[..., Http11Transport]) -> None:
    async def handler(exchange: Exchange) -> bool:
        if exchange.request.target == "/chunked":
            await exchange.stream.send_all(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
            return True
        await exchange.stream.send_all(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
        return False  # the end of the body is the end of the connection

    transport = http()
    async with serving(handler) as server:
        assert (await transport.send(Request("GET", server.url + "/chunked"))).body == (
            b"hello world"
        )
        assert (await transport.send(Request("GET", server.url + "/close"))).body == (
            b"until the end"
        )
        assert (await transport.send(Request("GET", server.url + "/chunked"))).body == (
            b"hello world"
        )
        assert server.connections == 2  # kept after chunked, not after close-delimited
        async with transport.open_stream(Request("GET", server.url + "/chunked")) as body:
            pieces = [await body.read(), await body.read(), await body.read()]
        assert b"".join(pieces) == b"hello world"
        assert pieces[-1] == b""
    sound(next(iter(transport.pool_stats().values())))


async def test_a_stream_whose_end_has_arrived_keeps_its_connection(
    http: Callable[..., Http11Transport],
) -> None:
    async def handler(exchange: Exchange) -> bool:
        if exchange.request.target == "/sse":
            await exchange.stream.send_all(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                b"d\r\ndata: final\n\n\r\n0\r\n\r\n"
            )
            return True
        return await echo(exchange)

    transport = http()
    async with serving(handler) as server:
        async with transport.open_stream(Request("GET", server.url + "/sse")) as body:
            # The answer came in one write, so its end is read with its head.
            assert await body.read() == b"data: final\n\n"  # and the follower stops here
        assert (await transport.send(Request("GET", server.url + "/next"))).body == b"GET /next "
        assert server.connections == 1
    sound(next(iter(transport.pool_stats().values())))


async def test_a_half_read_stream_does_not_go_back_to_the_pool(
    http: Callable[..., Http11Transport],
) -> None:
    async def handler(exchange: Exchange) -> bool:
        await exchange.stream.send_all(answer(200, b"x" * 100_000))
        return True

    transport = http()
    async with serving(handler) as server:
        async with transport.open_stream(Request("GET", server.url + "/big")) as body:
            assert await body.read(10) == b"x" * 10
        response = await transport.send(Request("GET", server.url + "/big"))
        assert len(response.body) == 100_000
        assert server.connections == 2
    (stats,) = transport.pool_stats().values()
    sound(stats)
    assert stats.closed == 1


async def test_a_large_download_arrives_whole_and_a_cut_one_is_an_error(
    http: Callable[..., Http11Transport],
) -> None:
    content = bytes(range(256)) * (12 * 1024)  # 3 MiB: read past h11, straight from the socket

    async def handler(exchange: Exchange) -> bool:
        if exchange.request.target == "/cut":
            head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(content)}\r\n\r\n"
            await exchange.stream.send_all(head.encode() + content[:-1])
            return False
        await exchange.stream.send_all(answer(200, content))
        return True

    transport = http()
    async with serving(handler) as server:
        async with transport.open_stream(Request("GET", server.url + "/file")) as body:
            pieces = []
            while piece := await body.read(256 * 1024):
                assert len(piece) <= 256 * 1024
                pieces.append(piece)
        assert b"".join(pieces) == content
        async with transport.open_stream(Request("GET", server.url + "/cut")) as body:
            got = len(await body.read(len(content)))
            while got < len(content) - 1:
                got += len(await body.read(len(content)))
            with pytest.raises(UnavailableError, match="the server closed the connection"):
                await body.read(256 * 1024)
    (stats,) = transport.pool_stats().values()
    sound(stats)
    assert stats.closed == 2  # h11 did not see the end of either


async def test_a_connection_given_back_twice_is_refused() -> None:
    pool = Pool(2, connect_timeout=5, ssl_context=ssl.create_default_context)
    async with serving(echo) as server:
        origin = ("http", "127.0.0.1", int(server.url.rsplit(":", 1)[1]))
        connection = await pool.lend(origin, stream=False)
        pool.give_back(connection, reusable=False)
        with pytest.raises(RuntimeError, match="given back to the pool twice"):
            pool.give_back(connection, reusable=False)
    stats = pool.stats(origin)
    sound(stats)
    assert (stats.closed, stats.free_slots) == (1, 2)


# -- redirects ---------------------------------------------------------------------------------


async def test_redirects_are_followed_and_a_303_becomes_a_get(
    http: Callable[..., Http11Transport],
) -> None:
    async def handler(exchange: Exchange) -> bool:
        target = exchange.request.target
        if target == "/old":
            await exchange.stream.send_all(answer(302, b"", "location: /new"))
        elif target == "/submit":
            await exchange.stream.send_all(answer(303, b"moved", "location: /result?x=1"))
        else:
            return await echo(exchange)
        return True

    transport = http()
    async with serving(handler) as server:
        moved = await transport.send(Request("POST", server.url + "/old", json={"a": 1}))
        assert moved.body == b'POST /new {"a":1}'  # 302 keeps method and body, as urllib3 did
        seen = await transport.send(Request("POST", server.url + "/submit", json={"a": 1}))
        assert seen.body == b"GET /result?x=1 "
        assert "content-type" not in server.received[-1].headers
        assert server.connections == 1


async def test_credentials_are_not_carried_to_another_origin(
    http: Callable[..., Http11Transport],
) -> None:
    transport = http()
    async with serving(echo) as other:

        async def handler(exchange: Exchange) -> bool:
            await exchange.stream.send_all(answer(307, b"", f"location: {other.url}/there"))
            return True

        async with serving(handler) as server:
            request = Request("GET", server.url + "/here", headers={"Authorization": "Bearer k"})
            assert (await transport.send(request)).body == b"GET /there "
        assert server.received[0].headers["authorization"] == "Bearer k"
        assert "authorization" not in other.received[0].headers


async def test_a_stream_follows_redirects_and_keeps_the_redirecting_connection(
    http: Callable[..., Http11Transport],
) -> None:
    async def handler(exchange: Exchange) -> bool:
        if exchange.request.target == "/output":
            await exchange.stream.send_all(answer(302, b"see /file", "location: /file"))
            return True
        return await echo(exchange)

    transport = http()
    async with serving(handler) as server:
        async with transport.open_stream(Request("GET", server.url + "/output")) as body:
            assert body.status == 200
            assert await body.read() == b"GET /file "
        assert server.connections == 1
    sound(next(iter(transport.pool_stats().values())))


async def test_endless_redirects_end(http: Callable[..., Http11Transport]) -> None:
    async def handler(exchange: Exchange) -> bool:
        await exchange.stream.send_all(answer(302, b"", "location: /again"))
        return True

    async with serving(handler) as server:
        with pytest.raises(UnavailableError, match="redirected more than 10 times") as caught:
            await http().send(Request("GET", server.url + "/"))
    assert caught.value.connected  # the address is right: not "check the base URL"


# -- timeouts (virtual time) -------------------------------------------------------------------


async def never_answer(exchange: Exchange) -> bool:
    await trio.sleep_forever()
    raise AssertionError("unreachable")


async def once_all_wait(clock: trio.testing.MockClock, *steps: float) -> None:
    """Move the clock on by each of ``steps`` in turn, once every task waits.

    With real sockets, time moves only so: never while bytes may still be on their way, as an
    autojump clock might.
    """
    for seconds in steps:
        await trio.testing.wait_all_tasks_blocked()
        clock.jump(seconds)


async def cancel_once_all_wait(scope: trio.CancelScope) -> None:
    """Cancel ``scope`` once every task waits."""
    await trio.testing.wait_all_tasks_blocked()
    scope.cancel()


async def test_read_timeout_fails_the_request_as_maybe_sent(
    http: Callable[..., Http11Transport],
    mock_clock: trio.testing.MockClock,
) -> None:
    async with serving(never_answer) as server, trio.open_nursery() as nursery:
        nursery.start_soon(once_all_wait, mock_clock, 29.5, 1, 3600)
        with pytest.raises(UnavailableError, match="timed out waiting for an answer") as caught:
            await http(read_timeout=30).send(Request("POST", server.url + "/x"))
        assert trio.current_time() == 30.5  # not at 29.5, nor an hour later
        assert caught.value.maybe_sent is True
        nursery.cancel_scope.cancel()


async def test_a_request_s_own_timeout_replaces_the_transport_s(
    http: Callable[..., Http11Transport],
    mock_clock: trio.testing.MockClock,
) -> None:
    async with serving(never_answer) as server, trio.open_nursery() as nursery:
        nursery.start_soon(once_all_wait, mock_clock, 30.5, 59, 1, 3600)
        with pytest.raises(UnavailableError, match="timed out waiting for an answer"):
            await http(read_timeout=30).send(Request("POST", server.url + "/x", timeout=90))
        assert trio.current_time() == 90.5  # not at the transport's 30 s, nor an hour later
        nursery.cancel_scope.cancel()


async def test_read_timeout_on_a_stream(
    http: Callable[..., Http11Transport], mock_clock: trio.testing.MockClock
) -> None:
    async def head_only(exchange: Exchange) -> bool:
        await exchange.stream.send_all(b"HTTP/1.1 200 OK\r\n\r\ndata: 1\n\n")
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    transport = http(read_timeout=30)
    request = Request("GET", "/sse")
    async with (
        serving(head_only) as server,
        transport.open_stream(request.joined(server.url)) as body,
    ):
        assert await body.read() == b"data: 1\n\n"
        async with trio.open_nursery() as nursery:
            nursery.start_soon(once_all_wait, mock_clock, 30)
            with pytest.raises(UnavailableError, match=r"stream from .* broke: timed out"):
                await body.read()
    sound(next(iter(transport.pool_stats().values())))


async def test_connect_timeout_says_nothing_was_sent(
    http: Callable[..., Http11Transport],
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def unreachable(host: str, port: int) -> trio.SocketStream:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    monkeypatch.setattr(trio, "open_tcp_stream", unreachable)
    transport = http(connect_timeout=5)
    with pytest.raises(UnavailableError, match=r"cannot reach .*: timed out connecting") as caught:
        await transport.send(Request("POST", "http://unreachable.test:8000/x", json={}))
    assert caught.value.maybe_sent is False
    assert trio.current_time() == pytest.approx(5)
    (stats,) = transport.pool_stats().values()
    assert stats.free_slots == transport.max_connections
    sound(stats)


async def test_cancellation_reaches_a_blocked_read(http: Callable[..., Http11Transport]) -> None:
    transport = http()
    async with serving(never_answer) as server:
        with trio.move_on_after(0.05) as scope:  # a deadline, not synchronisation
            await transport.send(Request("GET", server.url + "/x"))
        assert scope.cancelled_caught
    sound(next(iter(transport.pool_stats().values())))


# -- errors ------------------------------------------------------------------------------------


async def test_refused_connection_is_not_sent(http: Callable[..., Http11Transport]) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await listeners[0].aclose()
    with pytest.raises(UnavailableError) as caught:
        await http().send(Request("POST", f"http://127.0.0.1:{port}/x", json={}))
    assert str(caught.value) == f"cannot reach http://127.0.0.1:{port}: connection refused"
    assert caught.value.maybe_sent is False


async def test_a_server_that_hangs_up_after_the_request_may_have_got_it(
    http: Callable[..., Http11Transport],
) -> None:
    async def hang_up(exchange: Exchange) -> bool:
        return False

    async with serving(hang_up) as server:
        with pytest.raises(UnavailableError) as caught:
            await http().send(Request("POST", server.url + "/jobs", json={}))
    assert str(caught.value) == (
        f"the connection to {server.url} failed during the request: "
        "the server closed the connection"
    )
    assert caught.value.maybe_sent is True


async def test_an_answer_that_is_not_http_is_a_short_error(
    http: Callable[..., Http11Transport],
) -> None:
    async def garbage(exchange: Exchange) -> bool:
        await exchange.stream.send_all(b"<html>\r\n\r\nnot http at all</html>")
        return False

    async with serving(garbage) as server:
        with pytest.raises(UnavailableError, match=r"the answer is not valid HTTP/1\.1$") as caught:
            await http().send(Request("GET", server.url + "/"))
    assert "<html>" not in str(caught.value)


async def test_a_bad_url_is_a_usage_error(http: Callable[..., Http11Transport]) -> None:
    with pytest.raises(UsageError, match="not an http"):
        await http().send(Request("GET", "ftp://example.com/x"))


# -- stale kept-alive connections --------------------------------------------------------------


async def test_a_connection_the_server_closed_while_idle_is_not_used(
    http: Callable[..., Http11Transport],
) -> None:
    closed = trio.Event()

    async def once(exchange: Exchange) -> bool:
        await echo(exchange)
        if exchange.connection == 1:
            await exchange.stream.aclose()  # the server's idle timeout, right away
            closed.set()
            return False
        return True

    transport = http()
    async with serving(once) as server:
        await transport.send(Request("GET", server.url + "/first"))
        await closed.wait()
        # We can tell the connection is dead before writing, so even a POST is fine.
        response = await transport.send(Request("POST", server.url + "/jobs", json={"n": 1}))
        assert response.body == b'POST /jobs {"n":1}'
        assert server.connections == 2
        assert [r.target for r in server.received] == ["/first", "/jobs"]


async def test_connections_idle_longer_than_servers_keep_them_are_not_reused(
    http: Callable[..., Http11Transport], mock_clock: trio.testing.MockClock
) -> None:
    transport = http(idle_expiry=4)
    async with serving(echo) as server:
        await transport.send(Request("GET", server.url + "/first"))
        mock_clock.jump(3)
        await transport.send(Request("POST", server.url + "/soon", json={}))
        assert server.connections == 1
        mock_clock.jump(4.5)  # a server with a 5 s keep-alive may be closing it right now
        await transport.send(Request("POST", server.url + "/later", json={}))
        assert server.connections == 2
    (stats,) = transport.pool_stats().values()
    sound(stats)
    assert stats.closed == 1


async def test_a_get_on_a_connection_closed_as_we_wrote_is_retried_once_anew(
    http: Callable[..., Http11Transport],
) -> None:
    async def drop_second(exchange: Exchange) -> bool:
        if exchange.connection == 1 and exchange.request.target != "/first":
            return False  # it read the request and hung up, as a server timing out does
        return await echo(exchange)

    transport = http()
    async with serving(drop_second) as server:
        await transport.send(Request("GET", server.url + "/first"))
        response = await transport.send(Request("GET", server.url + "/again"))
        assert response.body == b"GET /again "
        assert server.connections == 2


async def test_a_post_on_a_connection_closed_as_we_wrote_may_have_been_sent(
    http: Callable[..., Http11Transport],
) -> None:
    async def drop_second(exchange: Exchange) -> bool:
        if exchange.connection == 1 and exchange.request.target != "/first":
            return False
        return await echo(exchange)

    transport = http()
    async with serving(drop_second) as server:
        await transport.send(Request("GET", server.url + "/first"))
        with pytest.raises(UnavailableError) as caught:
            await transport.send(Request("POST", server.url + "/jobs", json={}))
        assert caught.value.maybe_sent is True
        assert server.connections == 1  # not resent


# -- TLS ---------------------------------------------------------------------------------------


async def test_https_with_a_trusted_certificate_and_sni(
    http: Callable[..., Http11Transport],
) -> None:
    ca = trustme.CA()
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    names: list[str] = []
    transport = http(ssl_context=client_context)
    async with serving(echo, tls=ca, sni=names) as server:
        assert (await transport.send(Request("GET", server.url + "/a"))).body == b"GET /a "
        assert (await transport.send(Request("GET", server.url + "/b"))).body == b"GET /b "
        assert server.connections == 1
    assert names == ["localhost"]


async def test_https_rejects_an_untrusted_certificate(http: Callable[..., Http11Transport]) -> None:
    async with serving(echo, tls=trustme.CA()) as server:
        with pytest.raises(UnavailableError, match="TLS certificate was not accepted") as caught:
            await http().send(Request("POST", server.url + "/jobs", json={}))
    assert caught.value.maybe_sent is False


# -- uploads -----------------------------------------------------------------------------------


async def sink(exchange: Exchange) -> bool:
    """Answer with the length of the body and of the Content-Length header."""
    request = exchange.request
    said = request.headers.get("content-length")
    await exchange.stream.send_all(answer(200, f"{len(request.body)} {said}".encode()))
    return True


async def test_an_upload_is_streamed_from_disk(
    http: Callable[..., Http11Transport], tmp_path: Path
) -> None:
    size = 24 * 1024 * 1024
    upload = tmp_path / "clip.bin"
    with upload.open("wb") as file:
        file.truncate(size)

    received = 0

    async def count(exchange: Exchange) -> bool:
        raise AssertionError("the streaming server below answers instead")

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        nonlocal received
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(65536)
        received = len(head.partition(b"\r\n\r\n")[2])
        while received < size:
            received += len(await stream.receive_some(65536))
        await stream.send_all(answer(200, b"ok"))

    transport = http()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        tracemalloc.start()
        try:
            url = f"http://127.0.0.1:{port}/upload"
            response = await transport.send(Request("PUT", url, upload=upload))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        nursery.cancel_scope.cancel()
    assert response.body == b"ok"
    assert received == size
    assert peak < 4 * 1024 * 1024  # never the whole 24 MiB file at once


async def test_a_multipart_form_with_files(
    http: Callable[..., Http11Transport], tmp_path: Path
) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG" + bytes(range(256)) * 40)
    transport = http()
    async with serving(sink) as server:
        request = Request(
            "POST", server.url + "/upload", fields={"mode": "fast"}, files={"image": image}
        )
        response = await transport.send(request)
        got = server.received[0]
    length = len(got.body)
    assert response.body == f"{length} {length}".encode()  # Content-Length computed up front
    boundary = got.headers["content-type"].split("boundary=")[1]
    assert got.body.startswith(f"--{boundary}\r\n".encode())
    assert b'name="mode"\r\n\r\nfast\r\n' in got.body
    assert b'name="image"; filename="cat.png"\r\nContent-Type: image/png\r\n\r\n' in got.body
    assert image.read_bytes() in got.body
    assert got.body.endswith(f"--{boundary}--\r\n".encode())


async def test_a_missing_upload_is_a_usage_error(
    http: Callable[..., Http11Transport], tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="input file not found"):
        await http().send(Request("PUT", "http://127.0.0.1:9/", upload=tmp_path / "no"))


# -- a submit's commit point -------------------------------------------------------------------


async def test_a_submit_is_complete_at_the_server_only_after_its_commit_hook(
    http: Callable[..., Http11Transport], tmp_path: Path
) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG" + bytes(range(256)) * 4000)
    commits: list[int] = []
    seen_complete_before_commit: list[int] = []
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def handle(stream: trio.SocketStream) -> None:
        data = b""
        while True:
            data += await stream.receive_some(65536)
            head, sep, body = data.partition(b"\r\n\r\n")
            if not sep:
                continue
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(body) == length:
                break
        if not commits:
            seen_complete_before_commit.append(len(data))
        await stream.send_all(answer(201, b"{}"))

    request = Request("POST", f"http://127.0.0.1:{port}/jobs", files={"image": image})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        response = await http().send(request, on_commit=lambda: commits.append(1))
        nursery.cancel_scope.cancel()
    assert response.status == 201
    assert commits == [1]
    assert seen_complete_before_commit == []


@pytest.mark.parametrize(
    "error",
    [LookupError("the journal refused the intent"), OSError(28, "No space left on device")],
    ids=["refused", "os-error"],  # an OSError of the hook's own is not the connection's
)
async def test_a_commit_hook_that_raises_leaves_the_request_incomplete(
    http: Callable[..., Http11Transport], error: Exception
) -> None:
    received: list[bytes] = []
    closed = trio.Event()
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def record(stream: trio.SocketStream) -> None:
        while data := await stream.receive_some(65536):
            received.append(data)
        closed.set()  # the client closed the connection: nothing more will come

    def refuse() -> None:
        raise error

    transport = http()
    body = b'{"prompt": "a lighthouse"}'
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, record, listeners)
        request = Request("POST", f"http://127.0.0.1:{port}/jobs", content=body)
        with pytest.raises(type(error)) as raised:
            await transport.send(request, on_commit=refuse)
        assert raised.value is error  # as the hook raised it
        await closed.wait()
        nursery.cancel_scope.cancel()
    assert b"".join(received).endswith(body[:-1])  # all but the last byte, never that
    sound(next(iter(transport.pool_stats().values())))


async def test_an_upload_cut_short_by_the_server_was_not_sent(
    http: Callable[..., Http11Transport], tmp_path: Path
) -> None:
    upload = tmp_path / "clip.bin"
    with upload.open("wb") as file:
        file.truncate(24 * 1024 * 1024)  # more than loopback buffers: the writes must fail
    commits: list[int] = []
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def hang_up_after_the_head(stream: trio.SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(65536)
        await stream.aclose()

    transport = http()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, hang_up_after_the_head, listeners)
        url = f"http://127.0.0.1:{port}/upload"
        with pytest.raises(UnavailableError) as caught:
            await transport.send(
                Request("POST", url, upload=upload), on_commit=lambda: commits.append(1)
            )
        nursery.cancel_scope.cancel()
    assert commits == []
    assert caught.value.maybe_sent is False
    assert caught.value.connected is True
    assert "failed before the request was complete" in str(caught.value)
    sound(next(iter(transport.pool_stats().values())))


async def test_a_submit_cancelled_during_its_upload_is_not_committed(
    http: Callable[..., Http11Transport], tmp_path: Path
) -> None:
    upload = tmp_path / "clip.bin"
    with upload.open("wb") as file:
        file.truncate(24 * 1024 * 1024)
    commits: list[int] = []

    transport = http()
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def read_the_head_only(stream: trio.SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(65536)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, read_the_head_only, listeners)
        with trio.CancelScope() as scope:  # Ctrl-C once the body is stuck on its way
            nursery.start_soon(cancel_once_all_wait, scope)
            await transport.send(
                Request("POST", f"http://127.0.0.1:{port}/upload", upload=upload),
                on_commit=lambda: commits.append(1),
            )
        nursery.cancel_scope.cancel()
    assert scope.cancelled_caught
    assert commits == []
    sound(next(iter(transport.pool_stats().values())))


async def test_a_submit_cancelled_once_committed_still_reads_its_answer(
    http: Callable[..., Http11Transport],
) -> None:
    async def created(exchange: Exchange) -> bool:
        await exchange.stream.send_all(answer(201, b'{"id": "t1"}'))
        return True

    async with serving(created) as server:
        with trio.CancelScope() as scope:
            response = await send_submit(
                http(), Request("POST", server.url + "/jobs", json={"a": 1}), scope.cancel
            )
            assert response.body == b'{"id": "t1"}'  # the task's id was not lost
        assert scope.cancelled_caught is False  # no checkpoint came after the answer


# -- streams do not starve requests ------------------------------------------------------------


async def test_open_streams_never_starve_requests(http: Callable[..., Http11Transport]) -> None:
    async def handler(exchange: Exchange) -> bool:
        if exchange.request.target == "/sse":
            await exchange.stream.send_all(b"HTTP/1.1 200 OK\r\n\r\ndata: open\n\n")
            await trio.sleep_forever()
        return await echo(exchange)

    transport = http(max_connections=2)
    async with serving(handler) as server, trio.open_nursery() as nursery:
        opened = 0

        async def follow() -> None:
            nonlocal opened
            async with transport.open_stream(Request("GET", server.url + "/sse")) as body:
                await body.read()
                opened += 1
                await body.read()

        for _ in range(6):  # three times the request budget
            nursery.start_soon(follow)
        await trio.testing.wait_all_tasks_blocked()
        assert opened == 6
        assert (await transport.send(Request("GET", server.url + "/poll"))).body == b"GET /poll "
        nursery.cancel_scope.cancel()
    sound(next(iter(transport.pool_stats().values())))


# -- cancellation at random points -------------------------------------------------------------


async def busy_server(exchange: Exchange) -> bool:
    """SSE that trickles events, downloads that trickle bytes, submits that echo: slowly."""
    request, stream = exchange.request, exchange.stream
    if request.target.startswith("/sse"):
        await stream.send_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for n in range(5):
            await trio.sleep(0.01)
            event = f"data: {request.target} {n}\n\n".encode()
            await stream.send_all(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        await stream.send_all(b"0\r\n\r\n")
        return True
    if request.target.startswith("/download"):
        piece = request.target.encode().ljust(64 * 1024, b".")
        await stream.send_all(
            f"HTTP/1.1 200 OK\r\ncontent-length: {8 * len(piece)}\r\n\r\n".encode()
        )
        for _ in range(8):
            await trio.sleep(0.005)
            await stream.send_all(piece)
        return True
    await trio.sleep(0.003)
    return await echo(exchange)


async def test_cancellation_at_random_points_leaves_the_pool_sound(
    http: Callable[..., Http11Transport],
) -> None:
    """On the real clock (the sockets are real): every fourth request has no deadline, so both
    outcomes occur however loaded the machine."""
    rng = random.Random(20261129)  # noqa: S311  # test data, not secrets
    transport = http(max_connections=4)
    outcomes = {"done": 0, "cancelled": 0}

    async def stream_one(url: str) -> None:
        async with transport.open_stream(Request("GET", url)) as body:
            data = b""
            while chunk := await body.read():
                data += chunk
        assert data.count(url.split("/", 3)[3].encode()) in (5, 8)  # SSE events or pieces

    async def submit(url: str) -> None:
        response = await transport.send(Request("POST", url, json={"url": url}))
        assert response.body == f'POST /{url.split("/", 3)[3]} {{"url":"{url}"}}'.encode()

    async def one(n: int, base: str) -> None:
        kind = rng.choice(["sse", "download", "submit"])
        url = f"{base}/{kind}/{n}"
        work = submit(url) if kind == "submit" else stream_one(url)
        with trio.move_on_after(math.inf if n % 4 == 0 else rng.uniform(0, 0.08)) as scope:
            await work
        outcomes["cancelled" if scope.cancelled_caught else "done"] += 1

    async with serving(busy_server) as server:
        for _ in range(4):
            async with trio.open_nursery() as nursery:
                for n in range(60):
                    nursery.start_soon(one, n, server.url)
        (stats,) = transport.pool_stats().values()
        sound(stats)
        assert stats.free_slots == 4
        assert outcomes["cancelled"] > 30
        assert outcomes["done"] > 30
        # Later requests on the same pool all succeed, each with its own answer.
        async with trio.open_nursery() as nursery:
            for n in range(40):
                nursery.start_soon(submit, f"{server.url}/after/{n}")
    sound(next(iter(transport.pool_stats().values())))

"""The urllib3 transport on real loopback sockets: cancellation, errors, streaming."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from mediatask.errors import UnavailableError
from mediatask.http import Request
from mediatask.urllib3_transport import UrllibTransport


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

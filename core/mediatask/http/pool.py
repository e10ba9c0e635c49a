"""Keep-alive HTTP/1.1 connections on trio streams, pooled per origin with exact bookkeeping.

A :class:`Pool` lends a :class:`Connection` for one exchange (a request and its whole answer)
or for the life of a stream (SSE, a download) and takes it back exactly once: kept idle when
the exchange ended cleanly, closed otherwise (an error, a cancellation, a half-read body).

Requests share ``limit`` connections per origin and wait for one when all are busy. A stream
takes a connection outside that budget and never waits: it holds it for as long as it is
open, so if streams counted against the budget, enough open streams would starve the
requests their own tasks need, and nothing would move again. Streams are bounded by how many
tasks the caller runs at once, not here.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import ssl
from collections.abc import Callable

import attrs
import h11
import trio

from mediatask.http.failures import WireError, wire_errors
from mediatask.model.errors import UnavailableError

Origin = tuple[str, str, int]
"""``(scheme, host, port)``."""


def _raw_socket(stream: trio.abc.Stream) -> trio.socket.SocketType:
    while isinstance(stream, trio.SSLStream):
        stream = stream.transport_stream
    assert isinstance(stream, trio.SocketStream)  # noqa: S101  # we only ever make these
    return stream.socket


@attrs.define(eq=False)
class Connection:
    """One open connection: a trio stream (TLS or not) and its h11 state machine."""

    origin: Origin
    stream: trio.abc.Stream
    protocol: h11.Connection = attrs.field(factory=lambda: h11.Connection(h11.CLIENT))
    reused: bool = False
    """True once it has carried a whole exchange: the server may since have closed it."""
    idle_since: float = 0.0
    """When it last went back to the pool (trio's clock)."""

    def close(self) -> None:
        """Close the socket now, without a TLS goodbye (the server sees end of file)."""
        sock = _raw_socket(self.stream)
        try:
            sock.close()
        except RuntimeError:  # outside a trio run there is no waiter to tell: just close it
            fd = sock.detach()
            if fd >= 0:
                os.close(fd)

    def looks_closed(self) -> bool:
        """True when an idle connection has become readable: the server closed it (or sent
        something unasked, which makes it unusable too). Checked before each reuse, so a
        request is never written to a connection we can tell is dead."""
        return _raw_socket(self.stream).is_readable()


@attrs.frozen
class PoolStats:
    """A snapshot of one origin's bookkeeping, for tests and diagnostics."""

    idle: int
    busy: int
    """Connections lent out for requests."""
    streams: int
    """Connections lent out for streams."""
    free_slots: int
    """How many more requests could take a connection without waiting."""
    opened: int
    closed: int

    @property
    def consistent(self) -> bool:
        """Every connection opened is idle, lent out or closed, exactly once."""
        return self.opened == self.idle + self.busy + self.streams + self.closed


@attrs.define(eq=False)
class _OriginPool:
    limit: int
    slots: trio.Semaphore
    idle: list[Connection] = attrs.field(factory=list)
    lent: dict[Connection, bool] = attrs.field(factory=dict)
    """Each lent connection, and whether it holds one of the request slots."""
    opened: int = 0
    closed: int = 0

    def stats(self) -> PoolStats:
        streams = sum(1 for holds_slot in self.lent.values() if not holds_slot)
        return PoolStats(
            idle=len(self.idle),
            busy=len(self.lent) - streams,
            streams=streams,
            free_slots=self.slots.value,
            opened=self.opened,
            closed=self.closed,
        )


@attrs.define(eq=False)
class Pool:
    """Connections per origin: at most ``limit`` lent to requests at once (streams aside), and
    at most ``limit`` kept idle. The most recently used idle connection is reused first."""

    limit: int
    connect_timeout: float
    ssl_context: Callable[[], ssl.SSLContext]
    idle_expiry: float = 4.0
    """Idle connections older than this are closed, not reused. Servers close idle ones after
    their own timeout (5 s for uvicorn, hypercorn, Node); a busy server may decide to close
    one just as our request arrives, and then resets it, and a POST there may have been
    received. Staying under the shortest common timeout avoids that race."""
    _origins: dict[Origin, _OriginPool] = attrs.field(factory=dict)

    def _origin(self, origin: Origin) -> _OriginPool:
        pool = self._origins.get(origin)
        if pool is None:
            pool = self._origins[origin] = _OriginPool(self.limit, trio.Semaphore(self.limit))
        return pool

    async def lend(self, origin: Origin, *, stream: bool, fresh: bool = False) -> Connection:
        """A connection to ``origin``: an idle one unless ``fresh``, else a new one.

        A request waits for a free slot first; a stream never waits. Connection failures
        are :class:`UnavailableError` with ``maybe_sent`` false.
        """
        pool = self._origin(origin)
        if not stream:
            try:
                pool.slots.acquire_nowait()
            except trio.WouldBlock:
                await pool.slots.acquire()
        try:
            connection = None if fresh else self._idle(pool)
            if connection is None:
                connection = Connection(origin, await self._connect(origin))
                pool.opened += 1
        except BaseException:
            if not stream:
                pool.slots.release()
            raise
        pool.lent[connection] = not stream
        return connection

    def _idle(self, pool: _OriginPool) -> Connection | None:
        oldest = trio.current_time() - self.idle_expiry
        while pool.idle:
            connection = pool.idle.pop()  # the most recently used: the least likely closed
            if connection.idle_since > oldest and not connection.looks_closed():
                return connection
            connection.close()
            pool.closed += 1
        return None

    def give_back(self, connection: Connection, *, reusable: bool) -> None:
        """Take ``connection`` back: idle if ``reusable`` (the exchange ended cleanly and both
        sides may go on), else closed. Giving one back twice is a bug and raises."""
        pool = self._origins[connection.origin]
        holds_slot = pool.lent.pop(connection, None)
        if holds_slot is None:
            raise RuntimeError("a connection was given back to the pool twice")
        protocol = connection.protocol
        if (
            reusable
            and len(pool.idle) < pool.limit
            and protocol.our_state is h11.DONE
            and protocol.their_state is h11.DONE
        ):
            protocol.start_next_cycle()
            connection.reused = True
            connection.idle_since = trio.current_time()
            pool.idle.append(connection)
        else:
            connection.close()
            pool.closed += 1
        if holds_slot:
            pool.slots.release()

    async def _connect(self, origin: Origin) -> trio.abc.Stream:
        scheme, host, port = origin
        label = f"{scheme}://{host}:{port}"
        stream: trio.abc.Stream | None = None
        try:
            with wire_errors(), trio.fail_after(self.connect_timeout):
                stream = await _open_tcp(host, port)
                if scheme == "https":
                    stream = trio.SSLStream(
                        stream, self.ssl_context(), server_hostname=host, https_compatible=True
                    )
                    await stream.do_handshake()
        except BaseException as exc:
            if stream is not None:
                _raw_socket(stream).close()
            if isinstance(exc, trio.TooSlowError):
                raise UnavailableError(f"cannot reach {label}: timed out connecting") from None
            if isinstance(exc, WireError):
                raise UnavailableError(f"cannot reach {label}: {exc.reason}") from None
            raise
        return stream

    def close_idle(self) -> None:
        """Close every idle connection (lent ones are closed or kept as they come back)."""
        for pool in self._origins.values():
            while pool.idle:
                pool.idle.pop().close()
                pool.closed += 1

    def stats(self, origin: Origin) -> PoolStats:
        """The bookkeeping of ``origin``'s connections."""
        return self._origin(origin).stats()

    def all_stats(self) -> dict[Origin, PoolStats]:
        """The bookkeeping of every origin this pool has served."""
        return {origin: pool.stats() for origin, pool in self._origins.items()}


@functools.lru_cache(maxsize=64)
def _address_family(host: str) -> socket.AddressFamily | None:
    """The family of a literal IP address, None for a host name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


async def _open_tcp(host: str, port: int) -> trio.SocketStream:
    """``trio.open_tcp_stream``, minus its nursery and task per connection where the host is a
    literal IP address: one address, so nothing for happy eyeballs to race."""
    family = _address_family(host)
    if family is None:
        return await trio.open_tcp_stream(host, port)
    sock = trio.socket.socket(family, socket.SOCK_STREAM)
    try:
        await sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)

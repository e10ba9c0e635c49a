"""The default transport: HTTP/1.1 with h11 on trio streams, no thread per request or stream.

h11 is the HTTP/1.1 state machine (framing, Content-Length, chunked and read-until-close bodies,
keep-alive rules); this module feeds it bytes from trio sockets (TLS through ``trio.SSLStream``,
verified, with SNI) and keeps connections in a :class:`~mediatask.http.pool.Pool`.

Worker threads are left only where the OS has no non-blocking call: a host name lookup for a new
connection, and reading an upload's file a chunk at a time.

Every exchange either ends cleanly, and its connection goes back to the pool, or its connection
is closed: an error, a timeout or a cancellation at any await leaves nothing half-read for the
next request. Timeouts are trio deadlines: one for connecting, one for each read or write.
"""

from __future__ import annotations

import functools
import logging
import re
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from urllib.parse import quote, urljoin, urlsplit

import attrs
import h11
import trio

from mediatask.http.bodies import EMPTY, EncodedBody, FilePart, encode_body, file_chunks
from mediatask.http.messages import Request, Response, redact_headers
from mediatask.http.pool import Connection, Origin, Pool, PoolStats
from mediatask.http.transport import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    SAFE_METHODS,
    Body,
    full_url,
)
from mediatask.model.errors import UnavailableError, UsageError

log = logging.getLogger("mediatask.http.messages")

MAX_CONNECTIONS = 100
"""Connections per origin for requests (streams aside). Requests are short, so even the
issue's 200 tasks at once polling a provider keep far fewer busy; aiohttp and httpx default to
100 too. A provider that wants fewer answers 429, which the engine's concurrency obeys."""
MAX_REDIRECTS = 10
MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The largest answer ``send`` reads into memory (status calls are small; files are streamed)."""
RECEIVE_BYTES = 256 * 1024
DIRECT_MIN_BYTES = 1024 * 1024
"""Stream bodies at least this large (by Content-Length) are read past h11, see _StreamBody."""
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SECRET_ON_REDIRECT = ("authorization", "cookie", "proxy-authorization")
_CONTENT_HEADERS = ("content-type", "content-length", "transfer-encoding")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TARGET_OK = re.compile(r"[!-~]*\Z")  # printable ASCII: what a request target holds as is
USER_AGENT = "mediatask"


class _BrokenError(Exception):
    """The connection failed mid-exchange; ``stale`` when a reused connection never answered,
    ``unsent`` when the request's last byte was held back (it never became complete)."""

    def __init__(self, reason: str, *, stale: bool, unsent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stale = stale
        self.unsent = unsent


@attrs.define(eq=False)
class _RequestWriter:
    """Writes one request; with ``on_commit``, its last byte waits for :meth:`finish`.

    So a crash, a cancellation or a broken connection before ``on_commit`` has run leaves the
    server holding an incomplete request, which it does not act on.
    """

    stream: trio.abc.Stream
    on_commit: Callable[[], None] | None
    on_shield: Callable[[trio.CancelScope], None] | None = None
    """Given the scope shielded at the commit point: its owner may lift the shield (a submit
    abandoned after Ctrl-C, see :func:`~mediatask.http.transport.send_submit`)."""
    committed: bool = False
    _held: bytes = b""

    async def write(self, data: bytes) -> None:
        """Send ``data`` (all but its last byte, if held back)."""
        if self.on_commit is None:
            if data:
                await self.stream.send_all(data)
            return
        data = self._held + data
        if len(data) > 1:
            await self.stream.send_all(data[:-1])
        self._held = data[-1:]

    async def finish(self, timer: trio.CancelScope) -> None:
        """Complete the request: run ``on_commit``, shield the rest of the exchange, send."""
        if self.on_commit is not None:
            self.on_commit()
            self.committed = True
            timer.shield = True  # its own deadline still applies; outside cancellation waits
            if self.on_shield is not None:
                self.on_shield(timer)
            await self.stream.send_all(self._held)


@attrs.frozen
class _Writing:
    """How one request is written: its commit and shield hooks and its read timeout."""

    on_commit: Callable[[], None] | None
    on_shield: Callable[[trio.CancelScope], None] | None
    timeout: float


def _default_ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, h11.RemoteProtocolError):
        if "closed" in str(exc).lower():  # h11: "peer unexpectedly closed", "ConnectionClosed"
            return "the server closed the connection"
        return "the answer is not valid HTTP/1.1"
    cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
    if isinstance(cause, ConnectionResetError):
        return "the server reset the connection"
    if isinstance(cause, BrokenPipeError):
        return "the server closed the connection"
    if isinstance(cause, ssl.SSLError):
        return f"TLS failed ({cause.reason or 'unknown reason'})"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    return "the connection broke"


@attrs.frozen
class _Target:
    """Where one request goes: its origin, the ``Host`` header and the request target."""

    origin: Origin
    host: str
    path: str

    @property
    def label(self) -> str:
        """The origin as people write it, for messages."""
        return f"{self.origin[0]}://{self.host}"

    @classmethod
    def of(cls, url: str) -> _Target:
        """The target of ``url``; :class:`UsageError` when it is not an http(s) URL."""
        parts = urlsplit(url)
        found = _origin(parts.scheme, parts.netloc)
        if found is None:
            shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
            raise UsageError(f"not an http(s) URL with a host and port: {shown}")
        origin, host = found
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        if not _TARGET_OK.match(path):
            path = quote(path, safe="!#$%&'()*+,/:;=?@[]~")  # spaces, non-ASCII
        return cls(origin, host, path)


@functools.lru_cache(maxsize=256)
def _origin(scheme: str, netloc: str) -> tuple[Origin, str] | None:
    """``(origin, Host header)`` for a URL's scheme and netloc, None if not http(s): cached,
    as a client talks to few origins."""
    parts = urlsplit(f"{scheme}://{netloc}")
    scheme = scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return (scheme, parts.hostname, port), netloc.rpartition("@")[2]


@attrs.define(eq=False)
class _Exchange:
    """One request on one connection, up to the answer's head."""

    connection: Connection
    response: h11.Response
    headers: dict[str, str]
    method: str
    body: bytes | None = None
    """The whole body, when it was read with the head (``send``)."""


def _headers(response: h11.Response) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in response.headers:
        name, value = raw_name.decode("ascii"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


@attrs.define
class Http11Transport:
    """HTTP/1.1 on trio: keep-alive pools per origin, TLS, redirects, streamed uploads.

    :param max_connections: connections per origin for requests; streams take their own.
    :param ssl_context: for ``https``; the default verifies certificates against the system's
        trust store (``ssl.create_default_context()``).
    """

    max_connections: int = MAX_CONNECTIONS
    connect_timeout: float = CONNECT_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    """The longest wait for any one read or write; a slow but moving download is fine."""
    ssl_context: ssl.SSLContext | None = None
    idle_expiry: float = 4.0
    """Idle connections are reused for this long (see :attr:`Pool.idle_expiry`)."""
    _pool: Pool = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._pool = Pool(self.max_connections, self.connect_timeout, self._tls, self.idle_expiry)

    def _tls(self) -> ssl.SSLContext:
        if self.ssl_context is None:
            self.ssl_context = _default_ssl_context()
        return self.ssl_context

    def close(self) -> None:
        """Close every idle connection."""
        self._pool.close_idle()

    def pool_stats(self) -> dict[Origin, PoolStats]:
        """The pool's bookkeeping per origin (tests check it is sound)."""
        return self._pool.all_stats()

    async def send(self, request: Request) -> Response:
        """Send ``request`` (following redirects) and read the whole answer."""
        return await self._send(request, None)

    async def send_committing(
        self,
        request: Request,
        on_commit: Callable[[], None],
        on_shield: Callable[[trio.CancelScope], None] | None = None,
    ) -> Response:
        """Send ``request``, holding back its last byte until ``on_commit`` has run.

        See :class:`~mediatask.http.transport.CommitReporting`: a submit's intent is journalled in
        ``on_commit``, so a job whose upload was cut short is known not to have arrived.
        """
        return await self._send(request, on_commit, on_shield)

    async def _send(
        self,
        request: Request,
        on_commit: Callable[[], None] | None,
        on_shield: Callable[[trio.CancelScope], None] | None = None,
    ) -> Response:
        exchange, _ = await self._open(
            request, stream=False, on_commit=on_commit, on_shield=on_shield
        )
        self._pool.give_back(exchange.connection, reusable=True)
        status = exchange.response.status_code
        log.debug("%s %s -> %s", request.method, request.url, status)
        return Response(status, exchange.headers, exchange.body or b"", url=request.url)

    @asynccontextmanager
    async def open_stream(self, request: Request) -> AsyncIterator[Body]:
        """Send ``request`` and yield the answer for reading as it arrives (SSE, downloads).

        The connection is the stream's until the block ends; it goes back to the pool only
        if the whole body was read.
        """
        exchange, target = await self._open(request, stream=True)
        body = _StreamBody(exchange, request.timeout or self.read_timeout, target.label)
        try:
            yield body
        except BaseException:
            self._pool.give_back(exchange.connection, reusable=False)
            raise
        self._pool.give_back(exchange.connection, reusable=body.ended_in_buffer())

    async def _open(
        self,
        request: Request,
        *,
        stream: bool,
        on_commit: Callable[[], None] | None = None,
        on_shield: Callable[[trio.CancelScope], None] | None = None,
    ) -> tuple[_Exchange, _Target]:
        """Send ``request``, follow redirects, and return the final answer (its head, or all
        of it unless ``stream``) and where it came from; its connection is the caller's."""
        method, url = request.method, full_url(request)
        body = encode_body(request)
        headers = dict(request.headers)
        writing = _Writing(on_commit, on_shield, request.timeout or self.read_timeout)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s headers=%s", method, url, redact_headers(headers))
        for _ in range(MAX_REDIRECTS + 1):
            target = _Target.of(url)
            exchange = await self._request(target, method, headers, body, writing, stream=stream)
            if not _is_redirect(exchange):
                return exchange, target
            location = exchange.headers["location"]
            self._pool.give_back(exchange.connection, reusable=True)  # its body was read
            if exchange.response.status_code == 303 and method != "HEAD":
                method, body = "GET", EMPTY
                headers = {k: v for k, v in headers.items() if k.lower() not in _CONTENT_HEADERS}
            url, headers = _redirected(url, location, headers, target)
        label = _Target.of(url).label
        raise UnavailableError(
            f"{label} redirected more than {MAX_REDIRECTS} times", connected=True
        )

    async def _request(
        self,
        target: _Target,
        method: str,
        headers: Mapping[str, str],
        body: EncodedBody,
        writing: _Writing,
        *,
        stream: bool,
    ) -> _Exchange:
        """One request on a pooled connection; a stale one is replaced once where safe (the
        method is idempotent, or the request's last byte was never sent)."""
        fresh = False
        while True:
            connection = await self._pool.lend(target.origin, stream=stream, fresh=fresh)
            writer = _RequestWriter(connection.stream, writing.on_commit, writing.on_shield)
            try:
                return await self._exchange(
                    connection, target, method, headers, body, writer, writing.timeout,
                    whole=not stream,
                )  # fmt: skip
            except _BrokenError as exc:
                self._pool.give_back(connection, reusable=False)
                if exc.stale and (method in SAFE_METHODS or exc.unsent) and not fresh:
                    fresh = True  # the server closed a kept-alive connection: once more, anew
                    continue
                if exc.unsent:
                    raise UnavailableError(
                        f"the connection to {target.label} failed before the request was "
                        f"complete: {exc.reason}",
                        connected=True,
                    ) from None
                raise UnavailableError(
                    f"the connection to {target.label} failed during the request: {exc.reason}",
                    maybe_sent=True,
                ) from None
            except BaseException:
                self._pool.give_back(connection, reusable=False)
                raise

    async def _exchange(
        self,
        connection: Connection,
        target: _Target,
        method: str,
        headers: Mapping[str, str],
        body: EncodedBody,
        writer: _RequestWriter,
        read_timeout: float,
        *,
        whole: bool,
    ) -> _Exchange:
        """Write the request and read the answer's head, and its body too if ``whole`` or
        the answer is a redirect.

        :class:`_BrokenError` if the wire fails; every read or write may take up to the read
        timeout (one cancel scope per exchange, its deadline moved on before each). Every
        byte of the request goes through ``writer``.
        """
        protocol, stream = connection.protocol, connection.stream
        received = False
        answer: _Exchange | None = None
        chunks: list[bytes] = []
        size = 0
        with trio.CancelScope() as timer:
            try:
                timer.deadline = trio.current_time() + read_timeout
                out = protocol.send(_head(target, method, headers, body))
                assert out is not None  # noqa: S101  # h11 returns bytes for a Request
                for part in body.parts:
                    if isinstance(part, bytes):
                        out += protocol.send(h11.Data(data=part)) or b""
                        continue
                    await writer.write(out)
                    out = b""
                    await self._send_file(connection, writer, part, timer, read_timeout)
                out += protocol.send(h11.EndOfMessage()) or b""
                await writer.write(out)
                await writer.finish(timer)
                while True:
                    event = protocol.next_event()
                    if type(event) is h11.Data:
                        chunks.append(event.data)
                        size += len(event.data)
                        if size > MAX_ANSWER_BYTES:
                            raise UnavailableError(
                                f"the answer from {target.label} is larger than "
                                f"{MAX_ANSWER_BYTES // 2**20} MiB",
                                maybe_sent=True,
                            )
                    elif event is h11.NEED_DATA:
                        timer.deadline = trio.current_time() + read_timeout
                        data = await stream.receive_some(RECEIVE_BYTES)
                        received = received or bool(data)
                        protocol.receive_data(data)  # type: ignore[arg-type]  # any bytes-like
                    elif type(event) is h11.EndOfMessage and answer is not None:
                        answer.body = b"".join(chunks)
                        return answer
                    elif type(event) is h11.Response:
                        answer = _Exchange(connection, event, _headers(event), method)
                        if not whole and not _is_redirect(answer):
                            return answer  # a stream: its body is read as it is used
                    elif type(event) is not h11.InformationalResponse:
                        raise h11.RemoteProtocolError("unexpected event")
            except h11.LocalProtocolError:
                raise UsageError(
                    f"cannot send {method} to {target.label}: a header is not valid HTTP"
                ) from None
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                stale = connection.reused and not received
                raise _BrokenError(_reason(exc), stale=stale, unsent=_unsent(writer)) from None
            except h11.RemoteProtocolError as exc:
                stale = connection.reused and not received
                raise _BrokenError(_reason(exc), stale=stale, unsent=_unsent(writer)) from None
        raise _BrokenError("timed out waiting for an answer", stale=False, unsent=_unsent(writer))

    async def _send_file(
        self,
        connection: Connection,
        writer: _RequestWriter,
        part: FilePart,
        timer: trio.CancelScope,
        read_timeout: float,
    ) -> None:
        chunks = file_chunks(part)
        try:
            while chunk := await trio.to_thread.run_sync(next, chunks, b""):
                data = connection.protocol.send(h11.Data(data=chunk))
                timer.deadline = trio.current_time() + read_timeout
                await writer.write(data or b"")
        finally:
            chunks.close()


def _unsent(writer: _RequestWriter) -> bool:
    """True when the writer held back the request's last byte and never sent it."""
    return writer.on_commit is not None and not writer.committed


def _is_redirect(exchange: _Exchange) -> bool:
    return exchange.response.status_code in REDIRECTS and "location" in exchange.headers


def _head(
    target: _Target, method: str, headers: Mapping[str, str], body: EncodedBody
) -> h11.Request:
    lines = [("Host", target.host)]
    given = set()
    for name, value in headers.items():
        lowered = name.lower()
        if lowered == "host":
            lines[0] = ("Host", value)
        else:
            lines.append((name, value))
            given.add(lowered)
    if "user-agent" not in given:
        lines.append(("User-Agent", USER_AGENT))
    for name, value in body.headers:
        if name.lower() not in given:
            lines.append((name, value))
    framed = "content-length" in given or "transfer-encoding" in given
    if not framed and (body is not EMPTY or method in ("POST", "PUT", "PATCH")):
        lines.append(("Content-Length", str(body.length)))
    return h11.Request(method=method, target=target.path, headers=lines)


def _redirected(
    url: str, location: str, headers: dict[str, str], target: _Target
) -> tuple[str, dict[str, str]]:
    """Where a redirect leads, and the headers to send there: as urllib3 did, credentials
    are dropped when the origin changes (and a 303 has already become a GET)."""
    new_url = urljoin(url, location)
    if _Target.of(new_url).origin != target.origin:
        headers = {k: v for k, v in headers.items() if k.lower() not in _SECRET_ON_REDIRECT}
    return new_url, headers


def _direct_length(exchange: _Exchange) -> int | None:
    """The body's length when it is large and framed by Content-Length alone, else None."""
    headers, status = exchange.headers, exchange.response.status_code
    length = headers.get("content-length", "")
    if exchange.method == "HEAD" or status in (204, 304) or "transfer-encoding" in headers:
        return None
    if not length.isdigit() or int(length) < DIRECT_MIN_BYTES:
        return None
    return int(length)


@attrs.define(eq=False)
class _StreamBody:
    """An answer read as it arrives; :meth:`read` returns whatever is there, up to a chunk.

    A large body framed by Content-Length (a download) is read straight from the socket once
    h11 has handed over what it had buffered: h11 would copy every byte three times. Its
    connection is then closed at the end rather than kept (h11 did not see the end).
    """

    _exchange: _Exchange
    _read_timeout: float
    _label: str
    finished: bool = False
    _pending: bytes = b""
    _direct: int | None = attrs.field(init=False)
    """The declared length when the body may be read past h11; then the bytes still to come."""
    _direct_on: bool = False

    def __attrs_post_init__(self) -> None:
        self._direct = _direct_length(self._exchange)

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self._exchange.response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers, names lower-cased."""
        return self._exchange.headers

    async def read(self, max_bytes: int = 65536) -> bytes:
        """Return the bytes that have arrived (at most ``max_bytes``); ``b""`` at the end."""
        if self._pending:
            data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
            return data
        if self.finished:
            return b""
        if self._direct_on:
            return await self._read_direct(max_bytes)
        protocol, stream = self._exchange.connection.protocol, self._exchange.connection.stream
        try:
            while True:
                event = protocol.next_event()
                if type(event) is h11.Data:
                    data = bytes(event.data)
                    if self._direct is not None:
                        self._direct -= len(data)
                    if len(data) > max_bytes:
                        data, self._pending = data[:max_bytes], data[max_bytes:]
                    return data
                if event is h11.NEED_DATA:
                    if self._direct is not None:
                        self._direct_on = True  # h11's buffer is empty: the rest is raw body
                        return await self._read_direct(max_bytes)
                    with trio.move_on_after(self._read_timeout):
                        arrived = await stream.receive_some(max(max_bytes, 65536))
                        protocol.receive_data(arrived)  # type: ignore[arg-type]  # any bytes-like
                        continue
                    reason = "timed out waiting for data"
                    break
                if type(event) is h11.EndOfMessage:
                    self.finished = True
                    return b""
                raise h11.RemoteProtocolError("unexpected event")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            reason = _reason(exc)
        except h11.RemoteProtocolError as exc:
            reason = _reason(exc)
        raise UnavailableError(f"the stream from {self._label} broke: {reason}", connected=True)

    def ended_in_buffer(self) -> bool:
        """True if the body was read to its end, or its end has already arrived (an event
        stream the server closed right after the final event): the connection can be reused."""
        if self.finished or self._pending or self._direct_on:
            return self.finished
        protocol = self._exchange.connection.protocol
        try:
            while type(event := protocol.next_event()) is h11.Data:
                pass
        except h11.RemoteProtocolError:
            return False
        self.finished = type(event) is h11.EndOfMessage
        return self.finished

    async def _read_direct(self, max_bytes: int) -> bytes:
        left = self._direct
        assert left is not None  # noqa: S101  # only called in direct mode
        if left <= 0:
            self.finished = True
            return b""
        reason = "timed out waiting for data"
        with trio.move_on_after(self._read_timeout):
            try:
                data = await self._exchange.connection.stream.receive_some(min(max_bytes, left))
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                reason = _reason(exc)
            else:
                if data:
                    self._direct = left - len(data)
                    return bytes(data)
                reason = "the server closed the connection"
        raise UnavailableError(f"the stream from {self._label} broke: {reason}", connected=True)

"""The pluggable alternative transport: urllib3 in trio worker threads.

Kept for anyone who wants urllib3's behaviour (``Client(transport=UrllibTransport())``); the
default is :class:`~mediatask.http.http11.Http11Transport`. It cannot deadlock or corrupt its pools:

- Requests and streams never compete. Requests take one of ``max_connections`` thread tokens
  and a connection from their own pool of the same size, so a request holding a token always
  gets a connection. Streams (SSE, downloads) take connections from a second pool that never
  blocks, and run their reads under a limiter of their own.
- A cancelled stream read is woken with ``HTTPResponse.shutdown()`` and waited for (briefly,
  shielded); a stream that ends by an error or cancellation is closed and never released from
  the trio side, so a connection is never released twice (the old bug: an abandoned read and
  the trio side both released it, and two requests then shared one connection).

What it lacks, and why the default is the h11 one: every blocking call is a thread round trip
(a request, each chunk of a stream or download), which costs CPU and caps open streams at
``max_stream_threads`` reading at once; a stale kept-alive connection fails a POST as "maybe
sent" where the h11 transport can often tell that nothing was sent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import trio
import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error

from mediatask.http.bodies import encode_body, iter_chunks
from mediatask.http.messages import Request, Response, redact_headers
from mediatask.http.transport import CONNECT_TIMEOUT, READ_TIMEOUT, SAFE_METHODS, Body, full_url
from mediatask.http.transport import origin_label as _origin
from mediatask.model.errors import UnavailableError

log = logging.getLogger("mediatask.http.messages")

WAKE_TIMEOUT = 5.0
"""How long a cancelled stream read may take to notice ``shutdown()`` before we give up on it."""


def _body_arguments(request: Request) -> dict[str, Any]:
    headers = dict(request.headers)
    body = encode_body(request)
    if not body.parts:
        return {"headers": headers}
    given = {name.lower() for name in headers}
    for name, value in body.headers:
        if name.lower() not in given:
            headers[name] = value
    headers.setdefault("Content-Length", str(body.length))
    only = body.parts[0] if len(body.parts) == 1 else None
    # Files are read a chunk at a time in the worker thread, never whole into memory.
    return {"body": only if isinstance(only, bytes) else iter_chunks(body), "headers": headers}


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if isinstance(exc, ReadTimeoutError):
        return "timed out waiting for an answer"
    return text.split(": ", 1)[-1][:200] if text else type(exc).__name__


def transport_error(request: Request, exc: Urllib3Error | OSError) -> UnavailableError:
    """Map a urllib3 failure to our error, saying whether the request may have arrived."""
    origin = _origin(request.url)
    if isinstance(exc, NewConnectionError | ConnectTimeoutError):
        return UnavailableError(f"cannot reach {origin}: {_describe(exc)}")
    return UnavailableError(
        f"the connection to {origin} failed during the request: {_describe(exc)}",
        maybe_sent=True,
    )


def _timeout(request: Request) -> dict[str, Any]:
    """The request's own read timeout, where it sets one (else the pool's)."""
    if request.timeout is None:
        return {}
    return {"timeout": urllib3.Timeout(connect=CONNECT_TIMEOUT, read=request.timeout)}


def _pool_manager(size: int, *, block: bool, read_timeout: float) -> urllib3.PoolManager:
    return urllib3.PoolManager(
        num_pools=32,
        maxsize=size,
        block=block,
        retries=False,  # retrying is policy: it lives in the engine, in trio
        timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout),
    )


@attrs.define
class UrllibTransport:
    """urllib3 pools; every blocking call runs in a trio worker thread.

    :param max_connections: threads and pooled connections per host for requests.
    :param max_stream_threads: stream reads (SSE, downloads) blocked at once; more open
        streams than this take turns reading.
    """

    max_connections: int = 16
    read_timeout: float = READ_TIMEOUT
    max_stream_threads: int = 64
    _requests: urllib3.PoolManager = attrs.field(init=False)
    _streams: urllib3.PoolManager = attrs.field(init=False)
    _limiter: trio.CapacityLimiter = attrs.field(init=False)
    _stream_limiter: trio.CapacityLimiter = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        size, timeout = self.max_connections, self.read_timeout
        self._requests = _pool_manager(size, block=True, read_timeout=timeout)
        self._streams = _pool_manager(size, block=False, read_timeout=timeout)
        self._limiter = trio.CapacityLimiter(size)
        self._stream_limiter = trio.CapacityLimiter(self.max_stream_threads)

    def close(self) -> None:
        """Close every pooled connection."""
        self._requests.clear()
        self._streams.clear()

    def _request(self, request: Request, *, stream: bool) -> urllib3.BaseHTTPResponse:
        log.debug(
            "%s %s headers=%s", request.method, full_url(request), redact_headers(request.headers)
        )
        pool = self._streams if stream else self._requests
        return pool.request(
            request.method,
            full_url(request),
            preload_content=not stream,
            redirect=True,
            **_body_arguments(request),
            **_timeout(request),
        )

    async def send(self, request: Request) -> Response:
        """Send ``request`` and read the whole answer.

        A cancelled GET (or other safe method) is abandoned to finish in its thread, which
        releases its own connection; a POST is not: a submit must end (or fail) so we know
        whether it arrived. The socket timeout bounds both.
        """
        encode_body(request)  # a missing file is a UsageError here, before any thread
        try:
            raw = await trio.to_thread.run_sync(
                partial(self._request, request, stream=False),
                limiter=self._limiter,
                abandon_on_cancel=request.method in SAFE_METHODS,
            )
        except (Urllib3Error, OSError) as exc:
            raise transport_error(request, exc) from None
        response = Response(raw.status, dict(raw.headers), raw.data, url=request.url)
        log.debug("%s %s -> %s", request.method, request.url, raw.status)
        return response

    @asynccontextmanager
    async def open_stream(self, request: Request) -> AsyncIterator[Body]:
        """Send ``request`` and yield the answer for reading in chunks (SSE, downloads)."""
        encode_body(request)
        try:
            raw = await trio.to_thread.run_sync(
                partial(self._request, request, stream=True), limiter=self._stream_limiter
            )
        except (Urllib3Error, OSError) as exc:
            raise transport_error(request, exc) from None
        try:
            yield _UrllibBody(raw, self._stream_limiter, request.url)
        except BaseException:
            # A read thread may still hold the response (one that ignored shutdown): close
            # it, and leave the releasing to urllib3. The stream pool never blocks, so a
            # connection it does not get back costs nothing but a new one later.
            raw.close()
            raise
        raw.close()  # an unfinished body cannot be reused...
        raw.release_conn()  # ...but its slot goes back to the pool


@attrs.define
class _UrllibBody:
    _response: urllib3.BaseHTTPResponse
    _limiter: trio.CapacityLimiter
    _url: str

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return {k.lower(): v for k, v in self._response.headers.items()}

    async def read(self, max_bytes: int = 65536) -> bytes:
        """Return the bytes that have arrived (``read1`` does not wait to fill a buffer)."""
        lock = threading.Lock()
        state = {"started": False, "cancelled": False}
        finished = trio.Event()
        token = trio.lowlevel.current_trio_token()

        def read_in_thread() -> bytes:
            with lock:
                if state["cancelled"]:
                    return b""  # cancelled before it began: leave the response alone
                state["started"] = True
            try:
                return self._response.read1(max_bytes)
            finally:
                with contextlib.suppress(trio.RunFinishedError):
                    token.run_sync_soon(finished.set)

        try:
            return await trio.to_thread.run_sync(
                read_in_thread, limiter=self._limiter, abandon_on_cancel=True
            )
        except trio.Cancelled:
            with lock:
                state["cancelled"] = True
                started = state["started"]
            if started:
                # Wake the thread now (SHUT_RD), not at the read timeout, and let it end
                # before the response is closed and its connection released.
                with contextlib.suppress(OSError, RuntimeError, ValueError, AttributeError):
                    self._response.shutdown()
                with trio.CancelScope(shield=True), trio.move_on_after(WAKE_TIMEOUT):
                    await finished.wait()
            raise
        except (Urllib3Error, OSError) as exc:
            raise UnavailableError(
                f"the stream from {_origin(self._url)} broke: {_describe(exc)}"
            ) from None

"""The one place that touches sockets: urllib3 in trio worker threads.

One ``PoolManager`` serves every task; a ``CapacityLimiter`` bounds the threads. Small answers are
read whole (:meth:`UrllibTransport.send`); streams (SSE, downloads) are read in chunks, and a
cancelled chunk read is woken at once with ``HTTPResponse.shutdown()``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs
import trio
import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error

from mediatask.errors import UnavailableError, UsageError
from mediatask.http import Request, Response, redact_headers

log = logging.getLogger("mediatask.http")

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods whose resending cannot create a second task (PUT and DELETE are idempotent)."""


class Body(Protocol):
    """An open streaming answer: status and headers now, the body chunk by chunk."""

    @property
    def status(self) -> int:
        """The HTTP status."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers, names lower-cased."""
        ...

    async def read(self, max_bytes: int = 65536) -> bytes:
        """Return the next bytes that have arrived; ``b""`` at the end."""
        ...


class Transport(Protocol):
    """What the engine needs from HTTP; tests pass fakes that script answers."""

    async def send(self, request: Request) -> Response:
        """Send ``request`` and read the whole answer."""
        ...

    def open_stream(self, request: Request) -> contextlib.AbstractAsyncContextManager[Body]:
        """Send ``request`` and open the answer for reading in chunks."""
        ...


def full_url(request: Request) -> str:
    """The request's URL with its query parameters appended."""
    if not request.params:
        return request.url
    parts = urlsplit(request.url)
    query = "&".join(q for q in (parts.query, urlencode(dict(request.params))) if q)
    return urlunsplit(parts._replace(query=query))


def _body_arguments(request: Request) -> dict[str, Any]:
    headers = dict(request.headers)
    if request.json is not None:
        return {"json": request.json, "headers": headers}
    if request.content is not None:
        return {"body": request.content, "headers": headers}
    if request.upload is not None:
        # Read here, in the worker thread; uploads are media files of modest size.
        return {"body": request.upload.read_bytes(), "headers": headers}
    if request.fields or request.files:
        fields: dict[str, Any] = dict(request.fields)
        for name, path in request.files.items():
            fields[name] = (path.name, path.read_bytes())
        return {"fields": fields, "headers": headers, "encode_multipart": True}
    return {"headers": headers}


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "Connection refused" in text or "Errno 111" in text:
        return "connection refused"
    if isinstance(exc, ReadTimeoutError):
        return "timed out waiting for an answer"
    return text.split(": ", 1)[-1][:200] if text else type(exc).__name__


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def transport_error(request: Request, exc: Urllib3Error | OSError) -> UnavailableError:
    """Map a urllib3 failure to our error, saying whether the request may have arrived."""
    origin = _origin(request.url)
    if isinstance(exc, NewConnectionError | ConnectTimeoutError):
        return UnavailableError(f"cannot reach {origin}: {_describe(exc)}")
    return UnavailableError(
        f"the connection to {origin} failed during the request: {_describe(exc)}",
        maybe_sent=True,
    )


@attrs.define
class UrllibTransport:
    """One shared urllib3 pool; every blocking call runs in a trio worker thread."""

    max_connections: int = 16
    read_timeout: float = READ_TIMEOUT
    _pool: urllib3.PoolManager = attrs.field(init=False)
    _limiter: trio.CapacityLimiter = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._pool = urllib3.PoolManager(
            num_pools=32,
            maxsize=self.max_connections,
            block=True,
            retries=False,  # retrying is policy: it lives in the engine, in trio
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=self.read_timeout),
        )
        self._limiter = trio.CapacityLimiter(self.max_connections)

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.clear()

    def _request(self, request: Request, *, stream: bool) -> urllib3.BaseHTTPResponse:
        if request.upload is not None and not request.upload.is_file():
            raise UsageError(f"input file not found: {request.upload}")
        log.debug(
            "%s %s headers=%s", request.method, full_url(request), redact_headers(request.headers)
        )
        return self._pool.request(
            request.method,
            full_url(request),
            preload_content=not stream,
            redirect=True,
            **_body_arguments(request),
        )

    async def send(self, request: Request) -> Response:
        """Send ``request`` and read the whole answer.

        A cancelled GET (or other safe method) is abandoned to finish in its thread; a POST is
        not: a submit must end (or fail) so we know whether it arrived. The socket timeout
        bounds both.
        """
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
        try:
            raw = await trio.to_thread.run_sync(
                partial(self._request, request, stream=True), limiter=self._limiter
            )
        except (Urllib3Error, OSError) as exc:
            raise transport_error(request, exc) from None
        try:
            yield _UrllibBody(raw, self._limiter, request.url)
        finally:
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
        try:
            return await trio.to_thread.run_sync(
                partial(self._response.read1, max_bytes),
                limiter=self._limiter,
                abandon_on_cancel=True,
            )
        except trio.Cancelled:
            # Wake the abandoned thread now (SHUT_RD), not at the read timeout; harmless if
            # the read has just ended and released the connection.
            with contextlib.suppress(OSError, RuntimeError, ValueError, AttributeError):
                self._response.shutdown()
            raise
        except (Urllib3Error, OSError) as exc:
            raise UnavailableError(
                f"the stream from {_origin(self._url)} broke: {_describe(exc)}"
            ) from None

"""The default transport: HTTP/1.1 with h11 on trio streams, no thread per request or stream.

h11 is the HTTP/1.1 state machine (framing, Content-Length, chunked and read-until-close bodies,
keep-alive rules); this module follows redirects and retries stale connections, one
:class:`~mediatask.http.exchange.Exchange` per request on a connection of a
:class:`~mediatask.http.pool.Pool` (trio sockets; TLS through ``trio.SSLStream``, verified, with
SNI).

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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote, urljoin, urlsplit

import attrs

from mediatask._moved import moved_names
from mediatask.http.bodies import EMPTY, encode_body
from mediatask.http.exchange import Answer, BrokenError, Exchange, Outgoing, StreamBody
from mediatask.http.messages import Request, Response, redact_headers
from mediatask.http.pool import Origin, Pool, PoolStats
from mediatask.http.transport import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    SAFE_METHODS,
    Body,
    CommitHook,
    full_url,
)
from mediatask.model.errors import UnavailableError, UsageError

log = logging.getLogger("mediatask.http.messages")

MAX_CONNECTIONS = 100
"""Connections per origin for requests (streams aside). Requests are short, so even the
issue's 200 tasks at once polling a provider keep far fewer busy; aiohttp and httpx default to
100 too. A provider that wants fewer answers 429, which the engine's concurrency obeys."""
MAX_REDIRECTS = 10
_SECRET_ON_REDIRECT = ("authorization", "cookie", "proxy-authorization")
_CONTENT_HEADERS = ("content-type", "content-length", "transfer-encoding")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TARGET_OK = re.compile(r"[!-~]*\Z")  # printable ASCII: what a request target holds as is


def _default_ssl_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


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
        """Close every idle connection (lent ones are closed or kept as they come back)."""
        self._pool.close_idle()

    async def aclose(self) -> None:
        """Close every idle connection, as the client closes."""
        self.close()

    def pool_stats(self) -> dict[Origin, PoolStats]:
        """The pool's bookkeeping per origin (tests check it is sound)."""
        return self._pool.all_stats()

    async def send(self, request: Request, *, on_commit: CommitHook | None = None) -> Response:
        """Send ``request`` (following redirects) and read the whole answer.

        With ``on_commit`` (a submit, see :class:`~mediatask.http.transport.Transport`), the
        request's last byte is held back until the hook has run: a job whose upload was cut
        short is known not to have arrived.
        """
        answer, _ = await self._open(request, stream=False, on_commit=on_commit)
        self._pool.give_back(answer.connection, reusable=True)
        status = answer.response.status_code
        log.debug("%s %s -> %s", request.method, request.url, status)
        return Response(status, answer.headers, answer.body or b"", url=request.url)

    @asynccontextmanager
    async def open_stream(self, request: Request) -> AsyncIterator[Body]:
        """Send ``request`` and yield the answer for reading as it arrives (SSE, downloads).

        The connection is the stream's until the block ends; it goes back to the pool only
        if the whole body was read.
        """
        answer, target = await self._open(request, stream=True)
        body = StreamBody(answer, request.timeout or self.read_timeout, target.label)
        try:
            yield body
        except BaseException:
            self._pool.give_back(answer.connection, reusable=False)
            raise
        self._pool.give_back(answer.connection, reusable=body.ended_in_buffer())

    async def _open(
        self, request: Request, *, stream: bool, on_commit: CommitHook | None = None
    ) -> tuple[Answer, _Target]:
        """Send ``request``, follow redirects, and return the final answer (its head, or all
        of it unless ``stream``) and where it came from; its connection is the caller's."""
        method, url = request.method, full_url(request)
        body = encode_body(request)
        headers = dict(request.headers)
        read_timeout = request.timeout or self.read_timeout
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s headers=%s", method, url, redact_headers(headers))
        for _ in range(MAX_REDIRECTS + 1):
            target = _Target.of(url)
            outgoing = Outgoing(method, target.host, target.path, headers, body, target.label)
            answer = await self._request(target, outgoing, read_timeout, on_commit, stream=stream)
            if not answer.is_redirect:
                return answer, target
            self._pool.give_back(answer.connection, reusable=True)  # its body was read
            if answer.response.status_code == 303 and method != "HEAD":
                method, body = "GET", EMPTY
                headers = {k: v for k, v in headers.items() if k.lower() not in _CONTENT_HEADERS}
            url, headers = _redirected(url, answer.headers["location"], headers, target)
        label = _Target.of(url).label
        raise UnavailableError(
            f"{label} redirected more than {MAX_REDIRECTS} times", connected=True
        )

    async def _request(
        self,
        target: _Target,
        outgoing: Outgoing,
        read_timeout: float,
        on_commit: CommitHook | None,
        *,
        stream: bool,
    ) -> Answer:
        """One request on a pooled connection; a stale one is replaced once where safe (the
        method is idempotent, or the request's last byte was never sent)."""
        fresh = False
        while True:
            connection = await self._pool.lend(target.origin, stream=stream, fresh=fresh)
            exchange = Exchange(connection, outgoing, read_timeout, on_commit)
            try:
                return await exchange.run(whole=not stream)
            except BrokenError as exc:
                self._pool.give_back(connection, reusable=False)
                safe = outgoing.method in SAFE_METHODS or exc.unsent
                if exc.stale and safe and not fresh:
                    fresh = True  # the server closed a kept-alive connection: once more, anew
                    continue
                raise exc.unavailable(target.label) from None
            except BaseException:
                self._pool.give_back(connection, reusable=False)
                raise


def _redirected(
    url: str, location: str, headers: dict[str, str], target: _Target
) -> tuple[str, dict[str, str]]:
    """Where a redirect leads, and the headers to send there: as urllib3 did, credentials
    are dropped when the origin changes (and a 303 has already become a GET)."""
    new_url = urljoin(url, location)
    if _Target.of(new_url).origin != target.origin:
        headers = {k: v for k, v in headers.items() if k.lower() not in _SECRET_ON_REDIRECT}
    return new_url, headers


__getattr__ = moved_names(__name__)  # names the module's old path had elsewhere

"""What the engine needs from HTTP: the :class:`Transport` protocol and helpers its makers share.

Two transports implement it: :class:`~mediatask.http11.Http11Transport` (the default: h11 on
trio sockets, no threads) and :class:`~mediatask.urllib3_transport.UrllibTransport` (urllib3 in
worker threads, kept as a pluggable alternative). Tests pass fakes that script answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from mediatask.http import Request, Response

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


def origin_label(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, for messages (any ``user:password@`` left out)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

"""What the engine needs from HTTP: the :class:`Transport` protocol and helpers its makers share.

Two transports implement it: :class:`~mediatask.http.http11.Http11Transport` (the default: h11 on
trio sockets, no threads) and :class:`~mediatask.http.urllib3_transport.UrllibTransport` (urllib3 in
worker threads, kept as a pluggable alternative). Tests pass fakes that script answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable
from urllib.parse import urlencode, urlsplit, urlunsplit

import trio

from mediatask.http.messages import Request, Response
from mediatask.model.errors import SubmitAbandonedError

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


@runtime_checkable
class CommitReporting(Protocol):
    """A transport that can tell when a request becomes complete at the server.

    :class:`~mediatask.http.http11.Http11Transport` is one: it holds back a request's last byte,
    calls ``on_commit``, then sends that byte. Until then the server holds at most part of the
    request, which no HTTP server acts on, so a failure or a crash before ``on_commit`` means
    the request did not arrive.
    """

    async def send_committing(
        self,
        request: Request,
        on_commit: Callable[[], None],
        on_shield: Callable[[trio.CancelScope], None] | None = None,
    ) -> Response:
        """Send ``request`` like ``send``; ``on_commit`` runs just before its last byte goes.

        From ``on_commit`` on, the exchange is shielded from cancellation (the answer says
        whether a task was created); before it, a cancellation or a broken connection leaves
        nothing at the server (a broken connection is :class:`UnavailableError` with
        ``maybe_sent`` false). ``on_shield`` is given the shielded scope, whose shield its
        caller may lift to give the exchange up.
        """
        ...


ABANDON_AFTER = 0.5
"""Seconds a submit that may block (``Capabilities.submit_blocks``) still waits for its answer
once cancelled with its request complete, before it is given up as uncertain."""


async def send_submit(
    transport: Transport,
    request: Request,
    on_commit: Callable[[], None],
    *,
    abandon_after: float | None = None,
) -> Response:
    """Send a request that may create (and charge for) a task; ``on_commit`` marks the moment.

    Where the transport reports it (:class:`CommitReporting`), ``on_commit`` runs as the request
    becomes complete at the server and only the rest of the exchange is shielded; elsewhere it
    runs before the first byte and the whole exchange is shielded, which may call a request
    "on the wire" that never arrived but never the reverse.

    :param abandon_after: for a submit the provider may hold for long: once cancelled with the
        request complete, wait this many seconds more for the answer, then give the exchange up
        and raise :class:`~mediatask.model.errors.SubmitAbandonedError` (the task may exist).
        ``None``: the shielded exchange runs to its answer or its read timeout.
    """
    if abandon_after is not None:
        return await _abandonable(transport, request, on_commit, abandon_after)
    if isinstance(transport, CommitReporting):
        return await transport.send_committing(request, on_commit)
    on_commit()
    with trio.CancelScope(shield=True):
        response = await transport.send(request)
    return response


async def _abandonable(
    transport: Transport, request: Request, on_commit: Callable[[], None], grace: float
) -> Response:
    """:func:`send_submit`, the exchange in a task of its own whose shield can be lifted."""
    shields: list[trio.CancelScope] = []
    answers: list[Response] = []
    failures: list[BaseException] = []
    committed, done = trio.Event(), trio.Event()

    def commit() -> None:
        committed.set()
        on_commit()

    async def exchange() -> None:
        try:
            if isinstance(transport, CommitReporting):
                answers.append(await transport.send_committing(request, commit, shields.append))
            else:
                commit()
                with trio.CancelScope(shield=True) as shield:
                    shields.append(shield)
                    answers.append(await transport.send(request))
        except BaseException as exc:  # noqa: BLE001  # handed to the waiting task, which raises it
            failures.append(exc)
        finally:
            done.set()

    abandoned = False
    async with trio.open_nursery() as nursery:
        nursery.start_soon(exchange)
        try:
            await done.wait()
        except trio.Cancelled:  # raised again below, once the exchange has ended
            with trio.CancelScope(shield=True):
                if committed.is_set():
                    with trio.move_on_after(grace):
                        await done.wait()
                abandoned = committed.is_set() and not done.is_set()
                for shield in shields:
                    shield.shield = False  # the exchange is cancelled now, its answer unread
                await done.wait()
    if answers:
        return answers[0]
    if abandoned:
        raise SubmitAbandonedError(
            f"no answer to the submit within {grace:g} s of the interruption; the task may "
            "have been created"
        )
    await trio.lowlevel.checkpoint_if_cancelled()  # cancelled before the commit: Cancelled
    raise failures[0]


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

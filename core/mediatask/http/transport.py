"""What the engine needs from HTTP: the :class:`Transport` protocol and helpers its makers share.

:class:`~mediatask.http.http11.Http11Transport` implements it (h11 on trio sockets, no threads);
tests pass fakes (:class:`mediatask.testing.ScriptedTransport`), and a user may pass their own
(``Client(transport=...)``). :func:`send_submit` sends a request that may create a task.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs
import trio

from mediatask._moved import moved_names
from mediatask.http.messages import Request, Response
from mediatask.model.errors import SubmitAbandonedError

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods whose resending cannot create a second task (PUT and DELETE are idempotent)."""

CommitHook = Callable[[], None]
"""Called once as a submit's request becomes complete at the server (see :class:`Transport`)."""


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
    """What the engine needs from HTTP: send, open a stream, close.

    A request that may create (and charge for) a task, a submit, comes with ``on_commit``: the
    transport calls it once, at the moment the request becomes complete at the server. One that
    can hold the request's last byte back (:class:`~mediatask.http.http11.Http11Transport`)
    calls it just before that byte: until then the server holds at most part of the request,
    which no HTTP server acts on, so a failure or a crash before the hook means the request did
    not arrive. A transport that cannot hold a byte back must call it before the request's
    first byte: it may then call a request sent that never arrived, never the reverse. The
    hook may raise (the journal refused the intent): the transport then sends nothing more and
    lets that error through. A failure before the hook is
    :class:`~mediatask.model.errors.UnavailableError` with ``maybe_sent`` false; the caller
    (:func:`send_submit`) shields the exchange from cancellation from the hook on.
    """

    async def send(self, request: Request, *, on_commit: CommitHook | None = None) -> Response:
        """Send ``request`` and read the whole answer; ``on_commit``: see the class."""
        ...

    def open_stream(self, request: Request) -> contextlib.AbstractAsyncContextManager[Body]:
        """Send ``request`` and open the answer for reading in chunks."""
        ...

    async def aclose(self) -> None:
        """Close the idle connections; called once, as the client closes."""
        ...


class OlderTransport(Protocol):
    """The protocol's earlier shape: ``send`` without ``on_commit``, no ``aclose`` (a
    ``close()`` was called when there was one). Still accepted, with a warning."""

    async def send(self, request: Request) -> Response:
        """Send ``request`` and read the whole answer."""
        ...

    def open_stream(self, request: Request) -> contextlib.AbstractAsyncContextManager[Body]:
        """Send ``request`` and open the answer for reading in chunks."""
        ...


def current_transport(transport: Transport | OlderTransport) -> Transport:
    """``transport`` as :class:`Transport` has it now: one written against its earlier shape
    (see :class:`OlderTransport`) is adapted, with a :class:`DeprecationWarning`."""
    if _takes_commit_hook(transport) and callable(getattr(transport, "aclose", None)):
        return transport  # type: ignore[return-value]  # checked just above
    warnings.warn(
        f"{type(transport).__name__} is written against mediatask's older Transport protocol; "
        "give its send() an on_commit=None keyword argument (call it just before the "
        "request's first byte) and an async aclose() method",
        DeprecationWarning,
        stacklevel=3,  # the Client(transport=...) call, through attrs' __init__
    )
    return _Adapted(transport)


def _takes_commit_hook(transport: object) -> bool:
    send = getattr(transport, "send", None)
    try:
        parameters = inspect.signature(send).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):  # not a callable: the first send says so
        return True
    return any(p.name == "on_commit" or p.kind is p.VAR_KEYWORD for p in parameters)


@attrs.frozen
class _Adapted:
    """A transport of the protocol's earlier shape, seen through the current one."""

    inner: Any

    async def send(self, request: Request, *, on_commit: CommitHook | None = None) -> Response:
        """Call ``on_commit`` before the first byte (it cannot know the last), then send."""
        if on_commit is not None:
            on_commit()
        response: Response = await self.inner.send(request)
        return response

    def open_stream(self, request: Request) -> contextlib.AbstractAsyncContextManager[Body]:
        """The wrapped transport's stream."""
        stream: contextlib.AbstractAsyncContextManager[Body] = self.inner.open_stream(request)
        return stream

    async def aclose(self) -> None:
        """Its ``aclose()`` or ``close()``, whichever it has (awaited if it is async)."""
        close = getattr(self.inner, "aclose", None) or getattr(self.inner, "close", None)
        closed = close() if close is not None else None
        if inspect.isawaitable(closed):
            await closed


ABANDON_AFTER = 0.5
"""Seconds a submit that may block (``Capabilities.submit_blocks``) still waits for its answer
once cancelled with its request complete, before it is given up as uncertain."""


async def send_submit(
    transport: Transport,
    request: Request,
    on_commit: CommitHook,
    *,
    abandon_after: float | None = None,
) -> Response:
    """Send a request that may create (and charge for) a task; ``on_commit`` marks the moment.

    The transport calls ``on_commit`` as the request becomes complete at the server (or, where
    it cannot tell, before its first byte: see :class:`Transport`). A cancellation before that
    stops the exchange at once; from then on the exchange is shielded, as its answer says
    whether a task was created.

    :param abandon_after: for a submit the provider may hold for long: once cancelled with the
        request complete, wait this many seconds more for the answer, then give the exchange up
        and raise :class:`~mediatask.model.errors.SubmitAbandonedError` (the task may exist).
        ``None``: the shielded exchange runs to its answer or its read timeout.
    """
    submit = _Submit(transport, request, on_commit)
    interrupted: KeyboardInterrupt | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(submit.run)
        try:
            await submit.done.wait()
        except trio.Cancelled:  # raised again by submit.outcome(), once the exchange has ended
            try:
                await submit.settle(abandon_after)
            except KeyboardInterrupt as exc:  # Ctrl-C while it waits for a committed answer
                await submit.settle(0)
                interrupted = exc
        except KeyboardInterrupt as exc:  # Ctrl-C where trio raises it: the exchange stops now
            await submit.settle(0)
            interrupted = exc  # raised as it is, not in the nursery's group
    if interrupted is not None:
        raise interrupted
    return await submit.outcome(abandon_after)


@attrs.define(eq=False)
class _Submit:
    """One submit's exchange, in a task of its own under a shield its caller controls."""

    transport: Transport
    request: Request
    on_commit: CommitHook
    committed: trio.Event = attrs.field(factory=trio.Event)
    done: trio.Event = attrs.field(factory=trio.Event)
    abandoned: bool = False
    _shield: trio.CancelScope = attrs.field(factory=lambda: trio.CancelScope(shield=True))
    _answer: Response | None = None
    _failure: BaseException | None = None

    def _commit(self) -> None:
        self.on_commit()
        self.committed.set()

    async def run(self) -> None:
        """Send the request; keep its answer or its failure for :meth:`outcome`."""
        try:
            with self._shield:
                self._answer = await self.transport.send(self.request, on_commit=self._commit)
        except BaseException as exc:  # noqa: BLE001  # handed to the waiting task, which raises it
            self._failure = exc
        finally:
            self.done.set()

    async def settle(self, grace: float | None) -> None:
        """The caller was cancelled: before the commit, stop the exchange now; after it, let
        it run to its answer (within ``grace`` seconds, when given)."""
        with trio.CancelScope(shield=True):
            if self.committed.is_set():
                with trio.move_on_after(math.inf if grace is None else grace):
                    await self.done.wait()
            self.abandoned = self.committed.is_set() and not self.done.is_set()
            self._shield.cancel()  # the exchange stops now, its answer unread
            await self.done.wait()

    async def outcome(self, grace: float | None) -> Response:
        """The answer; else the reason there is none (the caller's cancellation included)."""
        if self._answer is not None:
            return self._answer
        if self.abandoned:
            raise SubmitAbandonedError(
                f"no answer to the submit within {grace:g} s of the interruption; the task may "
                "have been created"
            )
        if self._failure is None or not self.committed.is_set():
            await trio.lowlevel.checkpoint_if_cancelled()  # cancelled before the commit
        assert self._failure is not None  # noqa: S101  # the exchange ended without an answer
        raise self._failure  # once committed, it says more than the cancellation would


def full_url(request: Request) -> str:
    """The request's URL with its query parameters appended."""
    if not request.params:
        return request.url
    parts = urlsplit(request.url)
    query = "&".join(q for q in (parts.query, urlencode(dict(request.params))) if q)
    return urlunsplit(parts._replace(query=query))


__getattr__ = moved_names(__name__)  # names the module's old path had elsewhere

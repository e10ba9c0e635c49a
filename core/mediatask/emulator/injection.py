"""The ASGI middleware around every emulator: counts requests and submits, injects faults.

It sees each request before the provider's routes do and each answer before it leaves, so
every provider gets the faults of :class:`~mediatask.emulator.faults.RandomFaults` without a
line of its own: which request is a submit, a poll, a stream or a download is told by its
method, its ``Accept`` header and the ``/storage/`` prefix (:func:`request_kind`).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import attrs
import trio
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediatask.emulator.faults import RandomFaults, RequestKind
from mediatask.emulator.submissions import Submission, current_submission, job_identity

if TYPE_CHECKING:
    from mediatask.emulator.toolkit import Emulator

STORAGE_PREFIX = "/storage/"
ADMIN_PREFIX = "/_emulator/"
SLOW_DOWNLOAD_PIECES = 8
"""A slow download sends its file in this many pieces, ``stall / pieces`` seconds apart."""
NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
"""What a proxy in front of an API answers when the API behind it is down."""


def request_kind(scope: Scope) -> RequestKind:
    """What a request asks for, told by its path, method and ``Accept`` header."""
    if scope["path"].startswith(STORAGE_PREFIX):
        return RequestKind.DOWNLOAD
    method = scope["method"]
    accept = b",".join(value for name, value in scope["headers"] if name == b"accept")
    if method == "GET" and b"text/event-stream" in accept:
        return RequestKind.STREAM
    if method in ("POST", "PUT", "PATCH"):
        return RequestKind.SUBMIT
    return RequestKind.STATUS


class _StreamCutError(Exception):
    """Raised into an event stream's app to stop it at once when the stream is cut."""


@attrs.define
class FaultInjection:
    """ASGI middleware: counts requests, records submits, injects the emulator's faults.

    API requests (not ``/storage/`` or ``/_emulator/``) count as ``stats["requests"]`` and get
    the ``Faults.error_status`` answers first. Every submit is recorded in the emulator's
    :class:`~mediatask.emulator.submissions.SubmitLedger` by job identity. Then, when
    ``Faults.random_faults`` is set, one draw per request decides its fault.
    """

    app: ASGIApp
    emulator: Emulator
    _rng: random.Random = attrs.field(init=False, factory=random.Random)
    _seeded_for: RandomFaults | None = attrs.field(init=False, default=None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request (ASGI)."""
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        kind = request_kind(scope)
        if kind is not RequestKind.DOWNLOAD:
            self.emulator.stats["requests"] += 1
            self.emulator.request_times.append(trio.current_time())
            status = self.emulator.faults.take_injected_error()
            if status is not None:
                await self._error(status, self.emulator.faults.retry_after)(scope, receive, send)
                self.emulator.stats["injected_errors"] += 1
                return
        submission: Submission | None = None
        if kind is RequestKind.SUBMIT:
            body = await _read_body(receive)
            if body is None:
                return  # the client went away mid-request: no server acts on half a request
            receive = _replaying(body, receive)
            submission = Submission(job_identity(body, _header(scope, b"content-type")))
            self.emulator.submits.arrived(submission)
        token = current_submission.set(submission)
        try:
            await self._answer(kind, scope, receive, send)
        finally:
            current_submission.reset(token)

    def _draw(self, kind: RequestKind) -> tuple[str | None, RandomFaults | None]:
        chaos = self.emulator.faults.random_faults
        if chaos is None:
            return None, None
        if chaos is not self._seeded_for:  # a new setting starts its own reproducible sequence
            self._rng, self._seeded_for = random.Random(chaos.seed), chaos  # noqa: S311  # not secret
        fault = chaos.draw(kind, self._rng)
        if fault is not None:
            self.emulator.stats[f"fault {fault}"] += 1
        return fault, chaos

    async def _answer(self, kind: RequestKind, scope: Scope, receive: Receive, send: Send) -> None:
        fault, chaos = self._draw(kind)
        if fault is None or chaos is None:
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(fault, kind, chaos)
        if refusal is not None:
            await refusal(scope, receive, send)
        else:
            await self._disturbed(fault, chaos, scope, receive, send)

    def _refusal(self, fault: str, kind: RequestKind, chaos: RandomFaults) -> ASGIApp | None:
        """What answers a request drawn ``fault`` in the provider's place, if the fault is one
        the provider never sees."""
        if fault == "5xx":
            status = self._rng.choice((500, 502, 503, 504))
            return self._error(status, None, download=kind is RequestKind.DOWNLOAD)
        if fault == "429":
            return self._error(429, chaos.retry_after_seconds)
        if fault == "html":
            return Response(NGINX_502, 502, media_type="text/html")
        if fault == "reset-before":
            return _hang_up
        return None

    async def _disturbed(
        self, fault: str, chaos: RandomFaults, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Let the provider answer a request drawn ``fault``, the fault around its answer."""
        if fault == "reset-after":
            await self.app(scope, receive, _discard)
            await _hang_up(scope, receive, send)
            return
        if fault == "stream-cut":
            try:
                await self.app(scope, receive, _cutting_after_first_event(send))
            except* _StreamCutError:
                pass  # the connection drops: the answer never ends
            return
        if fault == "stall":
            await trio.sleep(chaos.stall_seconds)
        elif fault == "expired":
            self.emulator.expire_file(scope["path"].removeprefix(STORAGE_PREFIX))
        else:
            send = _SEND_WRAPPERS[fault](send, chaos)
        await self.app(scope, receive, send)

    def _error(self, status: int, retry_after: float | None, *, download: bool = False) -> Response:
        if download:  # a storage host's plain error, not the API's envelope
            response = Response(f"HTTP {status}", status, media_type="text/plain")
        else:
            response = self.emulator.error_response(status, f"injected fault (HTTP {status})")
        if retry_after is not None:
            response.headers["Retry-After"] = f"{retry_after:g}"
        return response


async def _hang_up(scope: Scope, receive: Receive, send: Send) -> None:
    """Close the connection without an answer.

    ASGI has no message for that. An interim ``100`` answer, then the app's end, does it with
    Hypercorn: the answer can never complete, so the server closes the connection; clients skip
    interim answers, so they see the connection closed with no answer at all.
    """
    await send({"type": "http.response.start", "status": 100, "headers": []})


async def _discard(message: Message) -> None:
    """A ``send`` that drops the answer (the provider acted; nobody hears of it)."""


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away before its end."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over ``body`` (already read) first, then the real messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> MutableMapping[str, Any]:
        return pending.pop() if pending else await receive()

    return replay


def _is_body(message: Message) -> bool:
    return bool(message["type"] == "http.response.body")


def _on_events(send: Send, on_event: Callable[[Message, int], Awaitable[None]]) -> Send:
    """A ``send`` that hands each event of a stream (a body message that is not empty) to
    ``on_event``, with how many went before it; other messages go on unchanged."""
    events = 0

    async def sending(message: Message) -> None:
        nonlocal events
        if _is_body(message) and message.get("body"):
            events += 1
            await on_event(message, events - 1)
        else:
            await send(message)

    return sending


def _cutting_after_first_event(send: Send) -> Send:
    async def cut(message: Message, before: int) -> None:
        if before:
            raise _StreamCutError
        await send(message)

    return _on_events(send, cut)


def _stalling_after_first_event(send: Send, chaos: RandomFaults) -> Send:
    async def stall(message: Message, before: int) -> None:
        await send(message)
        if not before:
            await trio.sleep(chaos.stall_seconds)

    return _on_events(send, stall)


def _duplicating_events(send: Send, chaos: RandomFaults) -> Send:
    async def duplicate(message: Message, before: int) -> None:
        # EventStreamResponse sends one event per message: a copy is the same event again.
        await send({**message, "more_body": True})
        await send(message)

    return _on_events(send, duplicate)


def _truncating(send: Send, chaos: RandomFaults) -> Send:
    cut = False

    async def truncate(message: Message) -> None:
        nonlocal cut
        if cut:
            return  # the rest never leaves: the connection closes with the answer half sent
        if _is_body(message):
            body = message.get("body", b"")
            cut = True
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
            return
        await send(message)

    return truncate


def _malforming(send: Send, chaos: RandomFaults) -> Send:
    held: list[Message] = []

    async def malform(message: Message) -> None:
        if message["type"] == "http.response.start":
            held.append(message)
            return
        if not _is_body(message) or message.get("more_body", False) or not held:
            await _flush(held, send)
            await send(message)
            return
        start = held.pop()
        body = message.get("body", b"")
        content_type = dict(start.get("headers", [])).get(b"content-type", b"")
        if 200 <= start["status"] < 300 and b"json" in content_type and len(body) > 1:
            body = body[: len(body) // 2]  # cut mid-document: no JSON parser accepts it
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            start = {**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await send(start)
        await send({**message, "body": body})

    return malform


async def _flush(held: list[Message], send: Send) -> None:
    while held:
        await send(held.pop(0))


def _dribbling(send: Send, chaos: RandomFaults) -> Send:
    async def dribble(message: Message) -> None:
        body = message.get("body", b"") if _is_body(message) else b""
        if not body:
            await send(message)
            return
        size = -(-len(body) // SLOW_DOWNLOAD_PIECES)
        pieces = [body[i : i + size] for i in range(0, len(body), size)]
        for piece in pieces[:-1]:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            await trio.sleep(chaos.stall_seconds / SLOW_DOWNLOAD_PIECES)
        await send({**message, "body": pieces[-1]})

    return dribble


_SEND_WRAPPERS: dict[str, Callable[[Send, RandomFaults], Callable[[Message], Awaitable[None]]]] = {
    "truncated": _truncating,
    "malformed": _malforming,
    "stream-stall": _stalling_after_first_event,
    "stream-duplicate": _duplicating_events,
    "slow-download": _dribbling,
}

"""One HTTP/1.1 exchange on one pooled connection, in steps: write the request, read the
answer's head, read its body (whole, or as it is used: :class:`StreamBody`).

The steps follow httpcore's ``_async/http11.py``; the exchange's :class:`Stage` says what a
failure means for the request (a reused connection that never answered is stale; a request
whose last byte was held back never arrived). What the socket layer raises is mapped in one
place, :func:`~mediatask.http.failures.wire_errors`. Timeouts are trio deadlines: every read or
write may take up to the read timeout.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs
import h11
import trio

from mediatask.http.bodies import EMPTY, EncodedBody, FilePart, file_chunks
from mediatask.http.failures import WireError, wire_errors
from mediatask.http.pool import Connection
from mediatask.http.transport import CommitHook
from mediatask.model.errors import UnavailableError, UsageError

MAX_ANSWER_BYTES = 64 * 1024 * 1024
"""The largest answer read into memory (status calls are small; files are streamed)."""
RECEIVE_BYTES = 256 * 1024
DIRECT_MIN_BYTES = 1024 * 1024
"""Stream bodies at least this large (by Content-Length) are read past h11, see StreamBody."""
REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "mediatask"


class Stage(enum.Enum):
    """Where an exchange stands on its connection."""

    WRITING = "writing the request"
    """With a commit hook, the request's last byte is held back until the hook has run."""
    AWAITING = "waiting for the answer"
    """The request is complete at the server (or its last byte on its way)."""
    READING = "reading the answer"
    """Bytes of the answer have arrived."""


class BrokenError(Exception):
    """The connection failed mid-exchange; ``stale`` when a reused connection never answered,
    ``unsent`` when the request's last byte was held back (it never became complete)."""

    def __init__(self, reason: str, *, stale: bool, unsent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stale = stale
        self.unsent = unsent

    def unavailable(self, label: str) -> UnavailableError:
        """What it means for the request to ``label``: it did not arrive, or it may have."""
        if self.unsent:
            return UnavailableError(
                f"the connection to {label} failed before the request was complete: {self.reason}",
                connected=True,
            )
        return UnavailableError(
            f"the connection to {label} failed during the request: {self.reason}",
            maybe_sent=True,
        )


@attrs.frozen
class Outgoing:
    """One request as it goes to one origin."""

    method: str
    host: str
    """The ``Host`` header (unless ``headers`` names one)."""
    path: str
    """The request target."""
    headers: Mapping[str, str]
    body: EncodedBody
    label: str
    """The origin as people write it, for messages."""


@attrs.define(eq=False)
class Answer:
    """An answer's head, on the connection it arrives on."""

    connection: Connection
    response: h11.Response
    headers: dict[str, str]
    method: str
    body: bytes | None = None
    """The whole body, when it was read with the head."""

    @property
    def is_redirect(self) -> bool:
        """A redirect with somewhere to go."""
        return self.response.status_code in REDIRECTS and "location" in self.headers


@attrs.define(eq=False)
class Exchange:
    """One request on one connection; every byte of it goes through :meth:`_write`."""

    connection: Connection
    outgoing: Outgoing
    timeout: float
    on_commit: CommitHook | None = None
    """Called just before the request's last byte, which waits for it."""
    stage: Stage = Stage.WRITING
    _timer: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    _held: bytes = b""

    async def run(self, *, whole: bool) -> Answer:
        """Write the request and read the answer's head, and its body too if ``whole`` or the
        answer is a redirect. :class:`BrokenError` if the wire fails or times out."""
        with self._timer:
            try:
                with wire_errors():
                    await self._write_request()
                self._commit()  # outside: the hook's own failure goes through as it is
                with wire_errors():
                    await self._send_held()
                    answer = await self._read_head()
                    if whole or answer.is_redirect:
                        answer.body = await self._read_body()
                    return answer
            except WireError as exc:
                raise self._broken(exc.reason) from None
        raise self._broken("timed out waiting for an answer", timed_out=True)

    def _broken(self, reason: str, *, timed_out: bool = False) -> BrokenError:
        stale = not timed_out and self.connection.reused and self.stage is not Stage.READING
        unsent = self.on_commit is not None and self.stage is Stage.WRITING
        return BrokenError(reason, stale=stale, unsent=unsent)

    def _tick(self) -> None:
        """Give the next read or write the whole read timeout."""
        self._timer.deadline = trio.current_time() + self.timeout

    # -- writing the request ---------------------------------------------------------------

    async def _write_request(self) -> None:
        protocol, outgoing = self.connection.protocol, self.outgoing
        try:
            out = protocol.send(request_head(outgoing)) or b""
            for part in outgoing.body.parts:
                if isinstance(part, bytes):
                    out += protocol.send(h11.Data(data=part)) or b""
                    continue
                await self._write(out)
                out = b""
                await self._write_file(part)
            out += protocol.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            raise UsageError(
                f"cannot send {outgoing.method} to {outgoing.label}: a header is not valid HTTP"
            ) from None
        await self._write(out)

    async def _write_file(self, part: FilePart) -> None:
        chunks = file_chunks(part)
        try:
            while chunk := await trio.to_thread.run_sync(next, chunks, b""):
                await self._write(self.connection.protocol.send(h11.Data(data=chunk)) or b"")
        finally:
            chunks.close()

    async def _write(self, data: bytes) -> None:
        """Send ``data``; with a commit hook, all but the request's last byte so far."""
        if self.on_commit is not None:
            data = self._held + data
            data, self._held = data[:-1], data[-1:]
        if data:
            self._tick()
            await self.connection.stream.send_all(data)

    def _commit(self) -> None:
        """Run the commit hook: the request is whole but for its last byte."""
        if self.on_commit is not None:
            self.on_commit()
        self.stage = Stage.AWAITING

    async def _send_held(self) -> None:
        """Send the byte held back for the commit hook."""
        if self._held:
            self._tick()
            await self.connection.stream.send_all(self._held)

    # -- reading the answer ------------------------------------------------------------------

    async def _read_head(self) -> Answer:
        while True:
            event = await self._next_event()
            if type(event) is h11.Response:
                return Answer(self.connection, event, _headers(event), self.outgoing.method)
            if type(event) is not h11.InformationalResponse:
                raise h11.RemoteProtocolError("unexpected event")

    async def _read_body(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while type(event := await self._next_event()) is h11.Data:
            chunks.append(event.data)
            size += len(event.data)
            if size > MAX_ANSWER_BYTES:
                raise UnavailableError(
                    f"the answer from {self.outgoing.label} is larger than "
                    f"{MAX_ANSWER_BYTES // 2**20} MiB",
                    maybe_sent=True,
                )
        if type(event) is not h11.EndOfMessage:
            raise h11.RemoteProtocolError("unexpected event")
        return b"".join(chunks)

    async def _next_event(self) -> h11.Event | type[h11.NEED_DATA | h11.PAUSED]:
        protocol = self.connection.protocol
        while (event := protocol.next_event()) is h11.NEED_DATA:
            self._tick()
            data = await self.connection.stream.receive_some(RECEIVE_BYTES)
            if data:
                self.stage = Stage.READING
            protocol.receive_data(data)  # type: ignore[arg-type]  # any bytes-like
        return event


def request_head(outgoing: Outgoing) -> h11.Request:
    """The request line and headers: ours (``Host``, ``User-Agent``, the body's framing) where
    the request's own headers do not name them."""
    lines = [("Host", outgoing.host)]
    given = set()
    for name, value in outgoing.headers.items():
        lowered = name.lower()
        if lowered == "host":
            lines[0] = ("Host", value)
        else:
            lines.append((name, value))
            given.add(lowered)
    if "user-agent" not in given:
        lines.append(("User-Agent", USER_AGENT))
    body = outgoing.body
    lines.extend((name, value) for name, value in body.headers if name.lower() not in given)
    framed = "content-length" in given or "transfer-encoding" in given
    if not framed and (body is not EMPTY or outgoing.method in ("POST", "PUT", "PATCH")):
        lines.append(("Content-Length", str(body.length)))
    return h11.Request(method=outgoing.method, target=outgoing.path, headers=lines)


def _headers(response: h11.Response) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in response.headers:
        name, value = raw_name.decode("ascii"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _direct_length(answer: Answer) -> int | None:
    """The body's length when it is large and framed by Content-Length alone, else None."""
    headers, status = answer.headers, answer.response.status_code
    length = headers.get("content-length", "")
    if answer.method == "HEAD" or status in (204, 304) or "transfer-encoding" in headers:
        return None
    if not length.isdigit() or int(length) < DIRECT_MIN_BYTES:
        return None
    return int(length)


@attrs.define(eq=False)
class StreamBody:
    """An answer read as it arrives; :meth:`read` returns whatever is there, up to a chunk.

    A large body framed by Content-Length (a download) is read straight from the socket once
    h11 has handed over what it had buffered: h11 would copy every byte three times. Its
    connection is then closed at the end rather than kept (h11 did not see the end).
    """

    _answer: Answer
    _read_timeout: float
    _label: str
    finished: bool = False
    _pending: bytes = b""
    _direct: int | None = attrs.field(init=False)
    """The declared length when the body may be read past h11; then the bytes still to come."""
    _direct_on: bool = False

    def __attrs_post_init__(self) -> None:
        self._direct = _direct_length(self._answer)

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self._answer.response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers, names lower-cased."""
        return self._answer.headers

    async def read(self, max_bytes: int = 65536) -> bytes:
        """Return the bytes that have arrived (at most ``max_bytes``); ``b""`` at the end."""
        if self._pending:
            return self._deliver(b"", max_bytes)
        if self.finished:
            return b""
        try:
            with wire_errors():
                if self._direct_on:
                    return await self._read_direct(max_bytes)
                return await self._read_h11(max_bytes)
        except WireError as exc:
            raise UnavailableError(
                f"the stream from {self._label} broke: {exc.reason}", connected=True
            ) from None

    def _deliver(self, data: bytes, max_bytes: int) -> bytes:
        """``data`` after what was pending, up to ``max_bytes``; the rest is kept."""
        data = self._pending + data
        data, self._pending = data[:max_bytes], data[max_bytes:]
        return data

    async def _read_h11(self, max_bytes: int) -> bytes:
        protocol = self._answer.connection.protocol
        while (event := protocol.next_event()) is h11.NEED_DATA:
            if self._direct is not None:
                self._direct_on = True  # h11's buffer is empty: the rest is raw body
                return await self._read_direct(max_bytes)
            arrived = await self._receive(max(max_bytes, 65536))
            protocol.receive_data(arrived)  # type: ignore[arg-type]  # any bytes-like
        if type(event) is h11.Data:
            data = bytes(event.data)
            if self._direct is not None:
                self._direct -= len(data)
            return self._deliver(data, max_bytes)
        if type(event) is h11.EndOfMessage:
            self.finished = True
            return b""
        raise h11.RemoteProtocolError("unexpected event")

    async def _read_direct(self, max_bytes: int) -> bytes:
        left = self._direct
        assert left is not None  # noqa: S101  # only called in direct mode
        if left <= 0:
            self.finished = True
            return b""
        data = await self._receive(min(max_bytes, left))
        if not data:
            raise WireError("the server closed the connection")
        self._direct = left - len(data)
        return bytes(data)

    async def _receive(self, max_bytes: int) -> bytes | bytearray:
        with trio.move_on_after(self._read_timeout):
            return await self._answer.connection.stream.receive_some(max_bytes)
        raise WireError("timed out waiting for data")

    def ended_in_buffer(self) -> bool:
        """True if the body was read to its end, or its end has already arrived (an event
        stream the server closed right after the final event): the connection can be reused."""
        if self.finished or self._pending or self._direct_on:
            return self.finished
        protocol = self._answer.connection.protocol
        try:
            while type(event := protocol.next_event()) is h11.Data:
                pass
        except h11.RemoteProtocolError:
            return False
        self.finished = type(event) is h11.EndOfMessage
        return self.finished

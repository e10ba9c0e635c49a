"""Server-Sent Events: an incremental decoder and a small encoder.

The decoder follows the WHATWG HTML "event stream interpretation" rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
UTF-8 with an optional leading BOM, lines ended by CRLF, LF or CR, comments, the ``event``,
``data``, ``id`` and ``retry`` fields, and dispatch on an empty line. Bytes can be fed in chunks
of any size, split anywhere (inside a UTF-8 sequence, between the CR and LF of a CRLF); the events
are the same as when the whole stream is fed at once.
"""

from __future__ import annotations

import codecs
import contextlib
import re

import attrs

__all__ = ["Decoder", "Event", "encode_comment", "encode_event"]

_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


@attrs.frozen
class Event:
    """One dispatched event."""

    data: str
    type: str = "message"
    """The ``event`` field, or ``"message"`` when none was given (or it was empty)."""
    id: str = ""
    """The last event ID buffer at dispatch time; it persists across events, as the spec says."""
    retry: int | None = None
    """The reconnection time (ms) in force at dispatch time, if the stream ever set one."""


class Decoder:
    """Feed bytes as they arrive; get events as they complete.

    One decoder interprets one stream (one connection): the BOM is only stripped at its start.
    """

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False  # whether any text was decoded yet (the BOM may only come first)
        self._skip_lf = False  # the last text ended in CR: an LF starting the next one is its CRLF
        self._partial: list[str] = []  # the current line so far, as received (joined at its end)
        self._data: list[str] = []  # the data buffer, as pieces
        self._type = ""
        self._id_buffer = ""
        self._last_event_id = ""
        self._retry: int | None = None
        self._closed = False

    @property
    def last_event_id(self) -> str:
        """The event source's last event ID string, for a reconnection's ``Last-Event-ID``.

        Per spec it takes the ID buffer's value on every empty line (a dispatch), even when no
        event is dispatched because there was no data; an ``id`` field of an event that never
        completed does not count.
        """
        return self._last_event_id

    @property
    def retry(self) -> int | None:
        """The reconnection time in milliseconds set by the latest valid ``retry`` field, if any."""
        return self._retry

    def feed(self, chunk: bytes) -> list[Event]:
        """Decode the next bytes of the stream; return the events they complete, in order.

        Raises ``ValueError`` after :meth:`close`.
        """
        if self._closed:
            raise ValueError("feed() after close()")
        text = self._text(chunk)
        if not text:
            return []
        parts = _LINE_END.split(text)
        rest = parts.pop()
        events: list[Event] = []
        if parts:
            if self._partial:
                self._partial.append(parts[0])
                parts[0] = "".join(self._partial)
                self._partial.clear()
            for line in parts:
                self._line(line, events)
            # A CR ending this text already ended its line; remember to drop the LF of a CRLF.
            self._skip_lf = text.endswith("\r")
        if rest:
            self._partial.append(rest)
        return events

    def _text(self, chunk: bytes) -> str:
        """``chunk`` decoded, less a leading BOM and the LF of a CRLF split across chunks."""
        text = self._utf8.decode(chunk)
        if text and not self._started:
            self._started = True
            text = text.removeprefix(_BOM)
        if text and self._skip_lf:
            self._skip_lf = False
            text = text.removeprefix("\n")
        return text

    def close(self) -> list[Event]:
        """End the stream and return its last events, which are always none.

        Per spec, at the end of the stream a pending event (one not yet ended by an empty line)
        is discarded, and so is an unterminated last line. The method exists so that callers can
        flush uniformly; :attr:`last_event_id` and :attr:`retry` stay readable. Idempotent.
        """
        self._closed = True
        self._partial.clear()
        self._data.clear()
        self._type = ""
        self._skip_lf = False
        self._utf8.reset()
        return []

    def _line(self, line: str, events: list[Event]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line.startswith(":"):
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._field(field, value)

    def _field(self, field: str, value: str) -> None:
        if field == "data":
            self._data.append(value)
            self._data.append("\n")
        elif field == "event":
            self._type = value
        elif field == "id" and "\0" not in value:
            self._id_buffer = value
        elif field == "retry" and value.isascii() and value.isdigit():
            # More digits than int() converts (sys.get_int_max_str_digits()) is no sensible
            # reconnection time either: treated as invalid.
            with contextlib.suppress(ValueError):
                self._retry = int(value)

    def _dispatch(self, events: list[Event]) -> None:
        self._last_event_id = self._id_buffer
        if not self._data:
            self._type = ""
            return
        self._data.pop()  # the data buffer always ends with the "\n" appended after a value
        events.append(
            Event(
                data="".join(self._data),
                type=self._type or "message",
                id=self._id_buffer,
                retry=self._retry,
            )
        )
        self._data.clear()
        self._type = ""


def _field(name: str, value: str) -> str:
    return f"{name}: {value}\n" if value else f"{name}:\n"


def _check_single_line(what: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"an SSE {what} cannot contain a line break: {value!r}")


def encode_event(
    data: str, *, event: str | None = None, id: str | None = None, retry: int | None = None
) -> bytes:
    """Serialise one event: optional ``event:``/``id:``/``retry:`` lines, then data, then a blank.

    Each line of ``data`` becomes one ``data:`` line; CRLF and CR in ``data`` are line breaks too,
    so they come back as LF when decoded. Raises ``ValueError`` for an ``event`` or ``id`` with a
    line break, an ``id`` with NULL (decoders ignore it), or a negative ``retry``.
    """
    out: list[str] = []
    if event is not None:
        _check_single_line("event type", event)
        out.append(_field("event", event))
    if id is not None:
        _check_single_line("id", id)
        if "\0" in id:
            raise ValueError(f"an SSE id cannot contain NULL: {id!r}")
        out.append(_field("id", id))
    if retry is not None:
        if retry < 0:
            raise ValueError(f"an SSE retry must not be negative: {retry}")
        out.append(f"retry: {retry}\n")
    out.extend(_field("data", line) for line in _LINE_END.split(data))
    out.append("\n")
    return "".join(out).encode()


def encode_comment(text: str = "") -> bytes:
    """Serialise a comment (e.g. a keep-alive): ``":" + text + "\\n"``, one per line of ``text``.

    Decoders ignore it, and it does not end an event.
    """
    return "".join(f":{line}\n" for line in _LINE_END.split(text)).encode()

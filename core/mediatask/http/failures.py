"""Connection failures in words: the one place that names what went wrong on the wire.

:func:`wire_errors` is the socket layer's exception map: what trio, the OS, TLS or h11 raise
while connecting, writing or reading becomes a :class:`WireError` whose ``reason`` says it in a
few words (:func:`in_words`). The transport adds where (``cannot reach …``, ``the stream from …
broke``) and what it means for the request. :func:`plain_reason` makes a message that some
other transport wrote one short line with no Python reprs in it.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
from collections.abc import Iterator

import h11
import trio

DETAIL_LIMIT = 200
"""Longest description of an error body or a connection failure kept in a message."""

_FAILURES = (trio.BrokenResourceError, trio.ClosedResourceError, OSError, h11.RemoteProtocolError)
"""What the socket layer raises when the connection fails (``ssl.SSLError`` is an OSError)."""


class WireError(Exception):
    """The connection failed; ``reason`` says how, in words (no reprs, no addresses)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@contextlib.contextmanager
def wire_errors() -> Iterator[None]:
    """Turn a socket, TLS or HTTP-framing failure raised inside into a :class:`WireError`."""
    try:
        yield
    except _FAILURES as exc:
        raise WireError(in_words(exc)) from None


def _root(exc: BaseException) -> BaseException:
    """The failure behind ``exc``: a broken trio stream's cause, or the first address's."""
    if isinstance(exc, trio.BrokenResourceError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, OSError) and isinstance(exc.__cause__, ExceptionGroup):
        exc = exc.__cause__.exceptions[0]  # trio tried every address; say why the first failed
    return exc


_OS_WORDS: tuple[tuple[type[OSError], str], ...] = (
    (socket.gaierror, "the host name could not be resolved"),
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "the server reset the connection"),
    (BrokenPipeError, "the server closed the connection"),
)


def in_words(exc: BaseException) -> str:
    """A short reason for a failure to connect, write or read (no reprs)."""
    cause = _root(exc)
    if isinstance(cause, h11.RemoteProtocolError):
        if "closed" in str(cause).lower():  # h11: "peer unexpectedly closed", "ConnectionClosed"
            return "the server closed the connection"
        return "the answer is not valid HTTP/1.1"
    if isinstance(cause, ssl.SSLError):
        return _tls_words(cause)
    words = next((words for kind, words in _OS_WORDS if isinstance(cause, kind)), None)
    if words is None and isinstance(cause, OSError) and cause.strerror:
        words = cause.strerror.lower()
    return words or "the connection failed"


def _tls_words(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate was not accepted ({exc.verify_message})"
    reason = getattr(exc, "reason", None)  # set by the ssl module, absent on one made by hand
    return f"TLS failed ({reason or 'unknown reason'})"


_REPR = re.compile(r"\('|\b[A-Z]\w*\(|<[\w.]+ object")
"""Where a Python repr starts in a message: ``('…``, ``IncompleteRead(…``, ``<… object``."""
_KNOWN_FAILURES = (
    ("IncompleteRead", "the answer was cut short"),
    ("RemoteDisconnected", "the server closed the connection without answering"),
    ("reset by peer", "the connection was reset"),
    ("ConnectionResetError", "the connection was reset"),
    ("Broken pipe", "the connection was closed while sending"),
    ("timed out", "timed out"),
    ("Connection refused", "connection refused"),
    ("Name or service not known", "the host name is unknown"),
    ("name resolution", "the host name could not be resolved"),
)
"""Failures as Python's ``http.client`` and ``socket`` name them, in words."""


def shorten(text: str, limit: int = DETAIL_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def plain_reason(text: str, limit: int = DETAIL_LIMIT) -> str:
    """``text`` as one short line with no Python reprs (``IncompleteRead(…)`` and the like).

    For a failure message some other transport built (ours speak in words already): a known
    failure is named in words, and anything from the first repr on is dropped.
    """
    line = " ".join(text.split())
    cut = _REPR.search(line)
    if cut is None:
        return shorten(line, limit)
    known = next((words for marker, words in _KNOWN_FAILURES if marker in line), None)
    head = line[: cut.start()].rstrip(" :(,'\"")
    if known and head:
        line = head if head.endswith(known) else f"{head}: {known}"
    else:
        line = head or known or "the connection failed"
    return shorten(line, limit)

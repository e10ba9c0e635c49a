"""Connection failures in words: the socket layer's one exception map and its one wording."""

from __future__ import annotations

import socket
import ssl

import h11
import pytest
import trio

from mediatask.http.failures import WireError, in_words, plain_reason, wire_errors


def broken(cause: BaseException) -> trio.BrokenResourceError:
    """What a trio stream raises for ``cause``."""
    error = trio.BrokenResourceError()
    error.__cause__ = cause
    return error


def every_address_failed(*errors: OSError) -> OSError:
    """What ``trio.open_tcp_stream`` raises when no address could be reached."""
    error = OSError("all attempts to connect failed")
    error.__cause__ = ExceptionGroup("attempts", list(errors))
    return error


@pytest.mark.parametrize(
    ("raised", "words"),
    [
        (socket.gaierror(-2, "Name or service not known"), "the host name could not be resolved"),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (broken(ConnectionResetError(104, "reset")), "the server reset the connection"),
        (broken(BrokenPipeError(32, "Broken pipe")), "the server closed the connection"),
        (broken(ssl.SSLError(1, "[SSL] bad record")), "TLS failed (unknown reason)"),
        (every_address_failed(ConnectionRefusedError(111, "refused")), "connection refused"),
        (OSError(101, "Network is unreachable"), "network is unreachable"),
        (h11.RemoteProtocolError("peer unexpectedly closed"), "the server closed the connection"),
        (h11.RemoteProtocolError("illegal header line"), "the answer is not valid HTTP/1.1"),
        (trio.ClosedResourceError(), "the connection failed"),
    ],
)
def test_the_socket_layer_failures_become_one_wire_error_in_words(
    raised: BaseException, words: str
) -> None:
    with pytest.raises(WireError) as caught, wire_errors():
        raise raised
    assert caught.value.reason == words
    assert in_words(raised) == words


def test_other_errors_pass_through_the_map() -> None:
    with pytest.raises(ValueError, match="not a wire failure"), wire_errors():
        raise ValueError("not a wire failure")


def test_a_message_another_transport_wrote_loses_its_reprs() -> None:
    text = (
        "the connection to https://api.test failed during the request: ('Connection broken: "
        "IncompleteRead(12 bytes read, 88 more expected)', IncompleteRead(12 bytes read))"
    )
    assert plain_reason(text) == (
        "the connection to https://api.test failed during the request: the answer was cut short"
    )

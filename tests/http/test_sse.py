from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediatask.http.sse import Decoder, Event, encode_comment, encode_event


def decode(stream: bytes | str, *chunks_at: int) -> list[Event]:
    """Feed ``stream`` split at the given offsets, then close; return all events."""
    raw = stream.encode() if isinstance(stream, str) else stream
    decoder = Decoder()
    events: list[Event] = []
    bounds = [0, *chunks_at, len(raw)]
    for start, end in itertools.pairwise(bounds):
        events += decoder.feed(raw[start:end])
    events += decoder.close()
    return events


def datas(stream: bytes | str) -> list[str]:
    return [event.data for event in decode(stream)]


# --- the WHATWG examples ---------------------------------------------------------------------


def test_spec_stock_example() -> None:
    assert decode("data: YHOO\ndata: +2\ndata: 10\n\n") == [Event("YHOO\n+2\n10")]


def test_spec_test_stream_example_unterminated() -> None:
    stream = (
        ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n"
    )
    # The last block has no blank line after it: discarded at the end of the stream.
    assert decode(stream) == [Event("first event", id="1"), Event("second event", id="")]


def test_spec_test_stream_example_terminated() -> None:
    stream = (
        ": test stream\n\ndata: first event\nid: 1\n\n"
        "data:second event\nid\n\ndata:  third event\n\n"
    )
    assert decode(stream) == [
        Event("first event", id="1"),
        Event("second event"),
        Event(" third event"),
    ]


def test_spec_empty_data_example() -> None:
    assert decode("data\n\ndata\ndata\n\ndata:") == [Event(""), Event("\n")]


def test_spec_space_after_colon_example() -> None:
    assert datas("data:test\n\ndata: test\n\n") == ["test", "test"]


# --- line ends, BOM, UTF-8 -------------------------------------------------------------------


@pytest.mark.parametrize("end", ["\n", "\r", "\r\n"])
def test_line_ends(end: str) -> None:
    stream = f"event: a{end}data: 1{end}data: 2{end}{end}data: 3{end}{end}"
    assert decode(stream) == [Event("1\n2", type="a"), Event("3")]


def test_mixed_line_ends() -> None:
    assert datas("data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\r") == ["a\nb\nc", "d"]


def test_cr_then_lf_is_one_line_end_not_two() -> None:
    # Were "\r\n" two line ends, "data: a\r\n" would end the event at once.
    assert datas("data: a\r\ndata: b\r\n\r\n") == ["a\nb"]


@pytest.mark.parametrize("stream", ["data: a\r\ndata: b\r\n\r\n", "data: x\r\n\r\ndata: y\r\n\r\n"])
def test_crlf_split_between_cr_and_lf(stream: str) -> None:
    raw = stream.encode()
    whole = decode(raw)
    for i in (m.start() + 1 for m in re.finditer(b"\r\n", raw)):
        assert decode(raw, i) == whole
    assert decode(raw, *range(1, len(raw))) == whole


def test_lone_cr_at_chunk_end_then_data() -> None:
    # The CR ends the line; what follows in the next chunk is not an LF, so nothing is skipped.
    assert decode(b"data: a\r", 8) == []
    assert decode(b"data: a\r\rdata: b\r\r", 8) == [Event("a"), Event("b")]
    decoder = Decoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\n") == []  # the LF of the CRLF, not an empty line
    assert decoder.feed(b"\n") == [Event("a")]


def test_bom_stripped_once() -> None:
    assert datas("\ufeffdata: a\n\n") == ["a"]
    # A second BOM is not stripped: it starts the field name, which is then unknown.
    assert datas("\ufeff\ufeffdata: a\n\ndata: b\n\n") == ["b"]
    assert datas("data: \ufeffa\n\n") == ["\ufeffa"]


def test_bom_split_across_chunks() -> None:
    raw = "\ufeffdata: a\n\n".encode()
    for i in range(1, 4):
        assert decode(raw, i) == [Event("a")]
    assert decode(raw, 1, 2) == [Event("a")]
    # The BOM only counts at the very start, even after an empty first chunk.
    decoder = Decoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(raw) == [Event("a")]


def test_bom_after_start_not_stripped() -> None:
    decoder = Decoder()
    assert decoder.feed(b"\n") == []
    assert decoder.feed("\ufeffdata: a\n\n".encode()) == []


@pytest.mark.parametrize("char", ["é", "€", "🎞"])
def test_multibyte_utf8_split(char: str) -> None:
    raw = f"data: {char}{char}\n\n".encode()
    for i in range(len(raw)):
        assert decode(raw, i) == [Event(char * 2)]
    assert decode(raw, *range(1, len(raw))) == [Event(char * 2)]


def test_invalid_utf8_replaced() -> None:
    assert datas(b"data: a\xffb\n\n") == ["a\ufffdb"]
    assert datas(b"data: \xf0\x9f\n\n") == ["\ufffd"]


# --- fields ----------------------------------------------------------------------------------


def test_multiline_data() -> None:
    assert datas("data: one\ndata:\ndata: three\n\n") == ["one\n\nthree"]


def test_only_one_leading_space_removed() -> None:
    assert datas("data:   x  \n\n") == ["  x  "]
    assert decode("event:  t\ndata: 1\n\n") == [Event("1", type=" t")]


def test_field_without_colon_has_empty_value() -> None:
    assert decode("event\ndata\n\n") == [Event("")]


def test_value_may_contain_colons() -> None:
    assert datas("data: a: b:c\n\n") == ["a: b:c"]


def test_comments_ignored() -> None:
    assert datas(":\n: hello\ndata: a\n:data: b\n\n") == ["a"]


def test_comment_alone_does_not_dispatch() -> None:
    assert decode(": ping\n\n") == []


def test_field_names_case_sensitive_and_unknown_ignored() -> None:
    assert decode("Data: x\nDATA: y\nfoo: bar\ndata : z\ndata: a\n\n") == [Event("a")]


def test_empty_data_buffer_dispatches_nothing_and_resets_type() -> None:
    assert decode("event: a\n\ndata: b\n\n") == [Event("b")]
    assert decode("id: 1\nevent: x\n\n\n\n") == []


def test_event_type_reset_after_dispatch() -> None:
    assert decode("event: add\ndata: 1\n\ndata: 2\n\n") == [
        Event("1", type="add"),
        Event("2", type="message"),
    ]


def test_empty_event_type_is_message() -> None:
    assert decode("event:\ndata: 1\n\n") == [Event("1", type="message")]


def test_last_event_type_wins() -> None:
    assert decode("event: a\nevent: b\ndata: 1\n\n") == [Event("1", type="b")]


def test_id_persists_and_empty_id_resets() -> None:
    stream = "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 8\ndata: d\n\nid:\ndata: e\n\n"
    assert [(e.data, e.id) for e in decode(stream)] == [
        ("a", "7"),
        ("b", "7"),
        ("c", ""),
        ("d", "8"),
        ("e", ""),
    ]


def test_id_with_null_ignored() -> None:
    assert decode("id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [
        Event("a", id="1"),
        Event("b", id="1"),
    ]


def test_id_set_after_data_applies_to_that_event() -> None:
    assert decode("data: a\nid: 5\n\n") == [Event("a", id="5")]


def test_last_event_id_property() -> None:
    decoder = Decoder()
    assert decoder.last_event_id == ""
    decoder.feed(b"id: 1\ndata: a\n\n")
    assert decoder.last_event_id == "1"
    # Set on an empty line even without data; not while the event is still incomplete.
    decoder.feed(b"id: 2\n")
    assert decoder.last_event_id == "1"
    decoder.feed(b"\n")
    assert decoder.last_event_id == "2"
    decoder.feed(b"id: 3\ndata: b\n")
    assert decoder.close() == []
    assert decoder.last_event_id == "2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3000", 3000),
        ("0", 0),
        ("007", 7),
        ("", None),
        (" 1", None),  # two spaces after the colon: one is kept
        ("1.5", None),
        ("-1", None),
        ("+1", None),
        ("1e3", None),
        ("12a", None),
        ("١٢", None),  # Unicode digits are not ASCII digits
        ("²", None),
        ("9" * 5000, None),  # more digits than int() converts: ignored
    ],
)
def test_retry_digits_only(value: str, expected: int | None) -> None:
    decoder = Decoder()
    events = decoder.feed(f"retry: {value}\ndata: x\n\n".encode())
    assert events == [Event("x", retry=expected)]
    assert decoder.retry == expected


def test_retry_persists_and_invalid_keeps_previous() -> None:
    decoder = Decoder()
    assert decoder.retry is None
    events = decoder.feed(b"retry: 10\n\ndata: a\n\nretry: x\ndata: b\n\nretry: 20\ndata: c\n\n")
    assert [e.retry for e in events] == [10, 10, 20]
    assert decoder.retry == 20


def test_trailing_incomplete_event_discarded_on_close() -> None:
    decoder = Decoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [Event("a")]
    assert decoder.close() == []
    assert decoder.close() == []
    with pytest.raises(ValueError, match="after close"):
        decoder.feed(b"\n")


def test_unterminated_last_line_discarded() -> None:
    assert decode("data: a\n\ndata: b\n\n\ndata: c") == [Event("a"), Event("b")]
    assert decode("data: a\n") == []


def test_events_returned_in_order_from_one_feed() -> None:
    stream = "".join(f"data: {i}\n\n" for i in range(100))
    assert datas(stream) == [str(i) for i in range(100)]


def test_long_line_in_many_chunks() -> None:
    raw = b"data: " + b"x" * 100_000 + b"\n\n"
    assert decode(raw, *range(1, len(raw), 7)) == [Event("x" * 100_000)]


# --- encoder ---------------------------------------------------------------------------------


def test_encode_event() -> None:
    assert encode_event("a") == b"data: a\n\n"
    assert encode_event("a\n\nb") == b"data: a\ndata:\ndata: b\n\n"
    assert encode_event("", event="e", id="1", retry=5) == (b"event: e\nid: 1\nretry: 5\ndata:\n\n")
    assert encode_event("x", id="") == b"id:\ndata: x\n\n"


def test_encode_event_cr_in_data_becomes_lf() -> None:
    assert decode(encode_event("a\rb\r\nc")) == [Event("a\nb\nc")]


@pytest.mark.parametrize(
    "kwargs",
    [{"event": "a\nb"}, {"event": "a\r"}, {"id": "1\n"}, {"id": "1\x00"}, {"retry": -1}],
)
def test_encode_event_rejects(kwargs: dict[str, str | int]) -> None:
    with pytest.raises(ValueError, match="SSE"):
        encode_event("x", **kwargs)  # type: ignore[arg-type]


def test_encode_comment() -> None:
    assert encode_comment() == b":\n"
    assert encode_comment("keep-alive") == b":keep-alive\n"
    assert encode_comment("a\nb") == b":a\n:b\n"
    assert decode(encode_comment("ping") + encode_event("a") + encode_comment()) == [Event("a")]


# --- properties ------------------------------------------------------------------------------

_line_text = st.text(st.characters(exclude_characters="\r\n", codec="utf-8"), max_size=8)
_line_end = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def _lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["field", "field", "field", "bare", "comment", "blank"]))
    if kind == "blank":
        return ""
    if kind == "comment":
        return ":" + draw(_line_text)
    name = draw(st.sampled_from(["data", "data", "event", "id", "retry", "foo", ""]))
    if kind == "bare":
        return name
    value = draw(
        st.one_of(
            _line_text,
            st.integers(0, 10**6).map(str),
            st.sampled_from(["\x00", "1\x002", "\ufeff", " "]),
        )
    )
    return name + ":" + draw(st.sampled_from(["", " ", "  "])) + value


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    bom = draw(st.sampled_from(["", "", "\ufeff", "\ufeff\ufeff"]))
    lines = draw(st.lists(st.tuples(_lines(), _line_end), max_size=30))
    text = bom + "".join(line + end for line, end in lines)
    if draw(st.booleans()):
        text += draw(_lines())  # an unterminated last line
    return text.encode()


def _decode_chunks(raw: bytes, cuts: list[int]) -> list[Event]:
    return decode(raw, *sorted(set(cuts)))


def _reference(raw: bytes) -> list[Event]:
    """A deliberately naive, whole-stream reading of the spec, to compare the decoder with."""
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)[:-1]  # the last piece is unterminated: discarded
    events: list[Event] = []
    data: str | None = None
    kind = ""
    last_id = ""
    retry: int | None = None
    for line in lines:
        if line == "":
            if data is not None:
                events.append(Event(data, type=kind or "message", id=last_id, retry=retry))
            data, kind = None, ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data = value if data is None else data + "\n" + value
        elif name == "event":
            kind = value
        elif name == "id" and "\x00" not in value:
            last_id = value
        elif name == "retry" and re.fullmatch(r"[0-9]+", value):
            retry = int(value)
    return events


@settings(max_examples=200, deadline=None)
@given(raw=streams(), data=st.data())
def test_any_chunking_gives_the_same_events(raw: bytes, data: st.DataObject) -> None:
    whole = decode(raw)
    assert whole == _reference(raw)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=40))
    assert _decode_chunks(raw, cuts) == whole


@settings(max_examples=50, deadline=None)
@given(raw=streams())
def test_byte_at_a_time_gives_the_same_events(raw: bytes) -> None:
    assert decode(raw, *range(1, len(raw))) == decode(raw)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=200), data=st.data())
def test_arbitrary_bytes_never_raise_and_chunking_is_invariant(
    raw: bytes, data: st.DataObject
) -> None:
    whole = decode(raw)
    assert whole == _reference(raw)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=20))
    assert _decode_chunks(raw, cuts) == whole


@settings(max_examples=100, deadline=None)
@given(
    raw=st.lists(
        st.sampled_from([b"data", b":", b" ", b"\r", b"\n", b"\r\n", b"x", b"\xc3", b"\xa9"]),
        max_size=40,
    ).map(b"".join),
    data=st.data(),
)
def test_line_end_heavy_bytes_chunking_is_invariant(raw: bytes, data: st.DataObject) -> None:
    whole = decode(raw)
    assert whole == _reference(raw)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=20))
    assert _decode_chunks(raw, cuts) == whole


_single_line = st.text(st.characters(exclude_characters="\r\n\x00", codec="utf-8"))


@settings(max_examples=200, deadline=None)
@given(
    data=st.text(st.characters(exclude_characters="\r", codec="utf-8")),
    event=st.none() | _single_line,
    id=st.none() | _single_line,
    retry=st.none() | st.integers(0, 2**40),
    cut=st.integers(0),
)
def test_encode_decode_round_trip(
    data: str, event: str | None, id: str | None, retry: int | None, cut: int
) -> None:
    raw = encode_event(data, event=event, id=id, retry=retry)
    expected = Event(data, type=event or "message", id=id or "", retry=retry)
    assert decode(raw) == [expected]
    assert decode(raw, cut % (len(raw) + 1)) == [expected]
    # Events are independent: the type resets, the id persists.
    assert decode(raw + encode_event("next")) == [
        expected,
        Event("next", id=id or "", retry=retry),
    ]

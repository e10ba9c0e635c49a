"""Provider values made into file names: never a path outside the folder, still recognisable."""

from __future__ import annotations

import pytest

from mediatask.engine.download import extension, stems
from mediatask.engine.naming import MAX_STEM, safe_extension, safe_name
from mediatask.model.values import Output

HOSTILE = [
    "../../esc-trav",
    "..",
    ".",
    "",
    "/tmp/x",  # noqa: S108  # a hostile id, not a file we use
    "/",
    "a/b",
    "a\\b",
    "C:\\Windows\\x",
    "nul\x00byte",
    "line\nbreak",
    "tab\there",
    "\x1b[31mred",
    "-rf",
    ".hidden",
    "CON",
    "con.txt",
    "LPT1",
    "x" * 300,
    "é" * 300,
    "trailing. ",
    "任务/../../x",
    "a..b",
    "~tilde",
    "\u202eevil",  # right-to-left override
    "\ud800",  # a lone surrogate, as JSON can carry
]


def _is_safe_component(name: str) -> bool:
    return (
        bool(name)
        and "/" not in name
        and "\\" not in name
        and ".." not in name
        and not name.startswith((".", "-"))
        and all(ord(c) >= 32 and c != "\x7f" for c in name)
        and len(name) <= MAX_STEM
        and name.split(".")[0].lower() not in {"con", "prn", "aux", "nul", "lpt1", "com1"}
    )


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_value_becomes_one_safe_component(text: str) -> None:
    name = safe_name(text)
    assert _is_safe_component(name), (text, name)
    assert name.encode("utf-8")  # no lone surrogates left


def test_distinct_hostile_values_never_collide() -> None:
    names = [safe_name(text) for text in HOSTILE]
    assert len(set(names)) == len(HOSTILE)
    # a safe name is never the changed form of another value
    assert safe_name("a_b") != safe_name("a/b")
    assert safe_name("x" * 300) != safe_name("x" * 301)


@pytest.mark.parametrize(
    "text", ["task_abc123", "12345", "upload-1a2b3c4d5e6f", "64f1e0c2a9b7", "résumé", "任务"]
)
def test_a_safe_value_is_kept_as_it_is(text: str) -> None:
    assert safe_name(text) == text


def test_a_changed_name_stays_recognisable() -> None:
    assert safe_name("../../esc-trav").startswith("esc-trav~")
    assert safe_name("/tmp/x").startswith("tmp_x~")  # noqa: S108
    assert safe_name("x" * 300).startswith("x" * 60)


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        (".png", ".png"),
        ("JPG", ".jpg"),
        ("", None),
        (".", None),
        ("./../x", None),
        (".p/g", None),
        (".pn\x00g", None),
        (".é", None),
        (".verylongextension", None),
    ],
)
def test_extensions(suffix: str, expected: str | None) -> None:
    assert safe_extension(suffix) == expected


def test_stems_sanitise_the_task_id_and_the_role() -> None:
    outputs = [
        Output(url="https://cdn.example/a.png", role="../image"),
        Output(url="https://cdn.example/b.png", role="../image"),
    ]
    names = stems("../../esc-trav", outputs)
    assert len(set(names)) == 2
    for name in names:
        assert "/" not in name
        assert ".." not in name
        assert not name.startswith(".")


@pytest.mark.parametrize(
    ("url", "mime", "expected"),
    [
        ("https://cdn.example/x/../../a.png", None, ".png"),
        ("https://cdn.example/a.p%2Fg", None, ".bin"),
        ("https://cdn.example/a", "image/../../x", ".bin"),
        ("https://cdn.example/a", "image/png; charset=../..", ".png"),
        ("https://cdn.example/a.\u0661\u0662", None, ".bin"),  # Arabic-Indic digits: not ASCII
    ],
)
def test_the_extension_from_a_url_or_content_type_is_safe(
    url: str, mime: str | None, expected: str
) -> None:
    assert extension(Output(url=url, role="image", mime_type=mime), None) == expected

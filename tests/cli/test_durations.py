"""Durations from the command line: ``90``, ``30s``, ``5m``, ``1h``, ``1h30m``."""

from __future__ import annotations

import pytest

from mediatask.model.errors import UsageError
from mediatask.model.parsing import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1h0m5s", 3605.0),
        ("2.5m", 150.0),
        (" 10S ", 10.0),
    ],
)
def test_durations_people_write(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5x", "m5", "30m1h", "1h1h", "-5", "1 h", "5m30"])
def test_anything_else_is_a_one_line_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match=r"is not a duration: write e\.g\. 90 \(seconds\)"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0", "0s", "0h0m"])
def test_zero_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="more than 0 seconds"):
        parse_duration(text)

"""The value types refuse a bad value in one line naming the field (``invalid_if``)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import attrs
import pytest

from mediatask.emulator.faults import Faults
from mediatask.model.values import Output, TaskRef, invalid_if


def test_a_naive_time_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^submitted_at must be timezone-aware, got datetime"):
        TaskRef("fake", "1", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match=r"^expires_at must be timezone-aware"):
        Output("https://x/y.png", expires_at=datetime(2026, 1, 1))
    assert Output("https://x/y.png", expires_at=datetime(2026, 1, 1, tzinfo=UTC)).expires_at
    assert Output("https://x/y.png").expires_at is None


def test_invalid_if_refuses_only_what_its_test_says() -> None:
    @attrs.frozen
    class Seconds:
        value: float = attrs.field(validator=invalid_if(lambda v: v < 0, "must not be negative"))

    with pytest.raises(ValueError, match=r"^value must not be negative, got -1$"):
        Seconds(-1)
    assert Seconds(0).value == 0
    assert math.isnan(Seconds(math.nan).value)  # NaN < 0 is false: not refused


def test_the_emulator_knobs_use_it() -> None:
    with pytest.raises(ValueError, match=r"^failure_rate must be between 0 and 1, got 2$"):
        Faults(failure_rate=2)
    with pytest.raises(ValueError, match=r"^error_count must not be negative, got -1$"):
        Faults(error_count=-1)

"""Durations as people write them on a command line: ``90``, ``30s``, ``5m``, ``1h``, ``1h30m``."""

from __future__ import annotations

import re

from mediatask.errors import UsageError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a bare number is seconds; else hours, minutes and seconds in order.

    Raises :class:`UsageError` (one line, with examples) for anything else, and for zero.
    """
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        found = _DURATION.fullmatch(value) if value else None
        if found is None or not any(found.groups()):
            raise UsageError(
                f"{text!r} is not a duration: write e.g. 90, 30s, 5m, 1h or 1h30m"
            ) from None
        seconds = sum(
            float(number) * _UNITS[unit]
            for number, unit in zip(found.groups(), "hms", strict=True)
            if number
        )
    if not seconds > 0 or seconds == float("inf"):
        raise UsageError(f"{text!r} is not a duration: it must be more than zero")
    return seconds

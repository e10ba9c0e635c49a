"""Durations as people write them on a command line: ``90``, ``30s``, ``5m``, ``1h``, ``1h30m``."""

from __future__ import annotations

import re

from mediatask.errors import UsageError

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[hms])+")
_EXAMPLES = "e.g. 90 (seconds), 30s, 5m, 1h or 1h30m"


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a bare number of seconds, or parts with units ``h``, ``m``, ``s``.

    Units go from largest to smallest, each at most once (``1h30m``, not ``30m1h``).

    :raises UsageError: the text is not such a duration, or is zero.
    """
    cleaned = text.strip().lower()
    seconds: float | None = None
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        seconds = float(cleaned)
    elif _WHOLE.fullmatch(cleaned):
        parts = _PART.findall(cleaned)
        units = [unit for _, unit in parts]
        ordered = sorted(units, key=list(_UNITS).index)
        if units == ordered and len(set(units)) == len(units):
            seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if seconds is None:
        raise UsageError(f"{text!r} is not a duration: write {_EXAMPLES}")
    if seconds <= 0:
        raise UsageError(f"a duration must be more than 0 seconds, got {text!r}")
    return seconds

"""Durations as people write them on a command line: ``90``, ``30s``, ``5m``, ``1h``, ``1h30m``;
and rates, requests per window: ``1/s,30/min``."""

from __future__ import annotations

import re

from mediatask.model.errors import UsageError

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


_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0}
_RATE_UNITS |= {"hour": 3600.0, "d": 86400.0, "day": 86400.0}
_WINDOW = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*")


def _window(item: str) -> tuple[int, float]:
    match = _WINDOW.fullmatch(item)
    if match is None:
        raise ValueError(item)
    unit = match[3] if match[3] in _RATE_UNITS else match[3].removesuffix("s")
    requests, seconds = int(match[1]), float(match[2] or 1) * _RATE_UNITS[unit]
    if requests <= 0 or seconds <= 0:
        raise ValueError(item)
    return requests, seconds


def parse_rate(spec: str, *, where: str = "rate") -> tuple[tuple[int, float], ...]:
    """Rate windows from ``1/s,30/min`` (also ``120/60s``, ``1000/h``, ``5000/day``); ``none``
    for no windows at all. :class:`UsageError` names the form when ``spec`` is not one."""
    text = spec.strip().lower()
    if text in ("none", "off", "0"):
        return ()
    try:
        windows = tuple(_window(item) for item in text.split(",") if item.strip())
    except (ValueError, KeyError):
        windows = ()
    if not windows:
        raise UsageError(
            f"{where}: {spec!r} is not a rate: give requests per window, e.g. 1/s,30/min "
            "(units s, min, h, day; 120/60s for a 60-second window), or none"
        )
    return tuple(sorted(windows, key=lambda window: window[1]))

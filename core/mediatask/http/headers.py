"""Reading a provider's wait headers: ``Retry-After`` and ``RateLimit-*``.

Pure functions of a header mapping (names lower-cased, as :class:`~mediatask.http.messages.Response`
keeps them), with no I/O: plugins use them to read error answers, the core to pace requests.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime

MAX_RETRY_AFTER = 300.0
"""Longest ``Retry-After`` (or ``RateLimit-Reset``) we wait out; a provider asking for more is
treated as unavailable: the error is final at once."""


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds, or an HTTP date from ``now``); ``None``
    when absent or unreadable. Not capped: a caller decides what a long wait means."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


_RATE_LIMIT_PREFIXES = ("ratelimit-", "x-ratelimit-")


def _seconds(value: str) -> float | None:
    """The first number of a header that may list several (``1, 120;w=60``), at least 0."""
    try:
        return max(float(value.split(",")[0].split(";")[0]), 0.0)
    except ValueError:
        return None


def parse_rate_limit_reset(headers: Mapping[str, str]) -> float | None:
    """Seconds until the rate-limit window resets, from ``RateLimit-Reset`` (IETF draft; the
    ``X-`` prefixed form too); ``None`` when absent or unreadable. Not capped, like
    :func:`parse_retry_after`."""
    for prefix in _RATE_LIMIT_PREFIXES:
        value = headers.get(prefix + "reset")
        if value is not None:
            return _seconds(value)
    return None


def rate_limit_pause(headers: Mapping[str, str]) -> float | None:
    """Seconds to hold off when ``RateLimit-Remaining`` says the window is used up.

    Reads the ``RateLimit-Remaining`` / ``RateLimit-Reset`` headers (IETF draft; ``X-`` prefixed
    forms too); a missing reset counts as one second, a longer one than
    :data:`MAX_RETRY_AFTER` as that. ``None`` when requests may go on.
    """
    for prefix in _RATE_LIMIT_PREFIXES:
        remaining = headers.get(prefix + "remaining")
        if remaining is None:
            continue
        try:
            if int(remaining.split(",")[0].split(";")[0].strip()) > 0:
                return None
        except ValueError:
            return None
        reset = _seconds(headers.get(prefix + "reset", "1"))
        return None if reset is None else min(reset, MAX_RETRY_AFTER)
    return None


def parse_rate_policies(headers: Mapping[str, str]) -> tuple[tuple[int, float], ...] | None:
    """The windows a provider says it enforces, as (requests, seconds) pairs; ``None`` when
    the answer does not list them.

    Reads the ``n;w=seconds`` items of ``RateLimit-Policy`` or ``RateLimit-Limit`` (IETF draft;
    Claid sends ``RateLimit-Limit: 120, 120;w=60, 4;w=1``: the quota in effect, then every
    policy); a bare number names no window and is skipped.
    """
    for name in ("ratelimit-policy", "ratelimit-limit", "x-ratelimit-limit"):
        value = headers.get(name)
        found = [w for item in value.split(",") if (w := _window(item))] if value else []
        if found:
            return tuple(sorted(set(found), key=lambda pair: pair[1]))
    return None


def _window(item: str) -> tuple[int, float] | None:
    """One ``n;w=seconds`` item as (requests, seconds); ``None`` for one that names no window."""
    quota, *parameters = (part.strip() for part in item.split(";"))
    window = next((p[2:] for p in parameters if p.lower().startswith("w=")), None)
    if window is None:
        return None
    try:
        requests, seconds = int(quota), float(window)
    except ValueError:
        return None
    return (requests, seconds) if requests > 0 and seconds > 0 else None

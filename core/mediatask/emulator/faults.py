"""The knobs every emulator honours: timing, failures and the ways a real API misbehaves."""

from __future__ import annotations

from typing import Any

import attrs


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def _probability(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value!r}")


@attrs.define
class Faults:
    """Knobs every emulator honours. Mutable: a test may change them while the server runs."""

    processing_seconds: float = attrs.field(default=2.0, validator=_non_negative)
    """Real seconds a task takes from submit to its final state (longer if the work is slower)."""
    progress_steps: int = attrs.field(default=4, validator=_non_negative)
    """How many progress updates a task goes through while processing."""
    failure_rate: float = attrs.field(default=0.0, validator=_probability)
    """Probability that a task ends failed (drawn once, at submit)."""
    error_status: int | None = None
    """When set, answer the next ``error_count`` API requests with this HTTP status."""
    error_count: int = attrs.field(default=0, validator=_non_negative)
    """How many API requests still get ``error_status``; counts down as they are answered."""
    retry_after: float | None = attrs.field(default=None, validator=_non_negative)
    """``Retry-After`` seconds sent with every injected error (meant for 429 and 503)."""
    drop_stream_after: int | None = attrs.field(default=None, validator=_non_negative)
    """Close every SSE stream after this many events, never sending the final one."""
    malformed_payloads: bool = False
    """Send unreadable JSON in status answers and stream events."""
    result_ttl_seconds: float = attrs.field(default=24 * 3600, validator=_non_negative)
    """How long result files stay downloadable after the task completed (emulator clock)."""
    seed: int | None = None
    """Seed of the emulator's random generator (task ids, failures), read when it is created."""

    def take_injected_error(self) -> int | None:
        """Return the status to inject into this API request, if any, counting it down."""
        if self.error_status is None or self.error_count <= 0:
            return None
        self.error_count -= 1
        return self.error_status

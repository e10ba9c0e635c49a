"""The knobs every emulator honours: timing, failures and the ways a real API misbehaves."""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from mediatask.model.values import invalid_if

_non_negative = invalid_if(lambda value: value is not None and value < 0, "must not be negative")
_probability = invalid_if(lambda value: not 0.0 <= value <= 1.0, "must be between 0 and 1")


class RequestKind(enum.Enum):
    """What a request asks of an emulator, as far as random faults are concerned."""

    SUBMIT = "submit"
    """A POST, PUT or PATCH to the API (not a stream, not a download): it may create a task."""
    STATUS = "status"
    """Any other API request (a poll, a list, a delete)."""
    STREAM = "stream"
    """An API GET that asks for ``text/event-stream``."""
    DOWNLOAD = "download"
    """A GET of a result file under ``/storage/``."""


_API = frozenset({RequestKind.SUBMIT, RequestKind.STATUS})
_ANY = frozenset(RequestKind)

FAULT_KINDS: Mapping[str, frozenset[RequestKind]] = MappingProxyType(
    {
        "5xx": _ANY,
        "429": _API | {RequestKind.STREAM},
        "reset-before": _ANY,
        "reset-after": _API,
        "truncated": _API | {RequestKind.DOWNLOAD},
        "malformed": _API,
        "html": _ANY,
        "stall": _ANY,
        "stream-cut": frozenset({RequestKind.STREAM}),
        "stream-stall": frozenset({RequestKind.STREAM}),
        "stream-duplicate": frozenset({RequestKind.STREAM}),
        "slow-download": frozenset({RequestKind.DOWNLOAD}),
        "expired": frozenset({RequestKind.DOWNLOAD}),
    }
)
"""Each fault kind and the requests it can hit (see :class:`RandomFaults` for what each does)."""

_SETTINGS = {
    "rate": "rate",
    "seed": "seed",
    "stall-seconds": "stall_seconds",
    "retry-after": "retry_after_seconds",
}


def _rates(value: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(value))


@attrs.frozen
class RandomFaults:
    """Faults drawn at random per request, at a rate per kind, from a seeded generator.

    Written as a spec, ``NAME=VALUE`` pairs separated by commas (:meth:`parse`):
    ``rate=0.1,seed=11`` faults 10 % of all requests, the kind drawn evenly from those that
    can hit the request; ``5xx=0.02,reset-after=0.01`` sets rates per kind (the others stay
    at ``rate``, default 0). ``stall-seconds=S`` (default 2) bounds every stall and slow
    download, ``retry-after=SECONDS`` (default 1) is sent with each injected 429.

    The kinds (``FAULT_KINDS``): ``5xx`` (500/502/503/504, before the provider acts),
    ``429`` (with ``Retry-After``), ``reset-before`` (the connection closes without an answer
    before the provider acts), ``reset-after`` (the provider acts, e.g. creates the task, and
    the connection closes without an answer), ``truncated`` (the answer's body stops halfway
    and the connection closes), ``malformed`` (a 2xx JSON answer whose body is cut to
    unreadable JSON, after the provider acted), ``html`` (a proxy's 502 HTML page, before the
    provider acts), ``stall`` (the request waits ``stall`` seconds first), ``stream-cut`` (an
    event stream's connection drops after its first event), ``stream-stall`` (the stream goes
    quiet for ``stall`` seconds after its first event), ``stream-duplicate`` (every event is
    sent twice), ``slow-download`` (the file dribbles out over ``stall`` seconds) and
    ``expired`` (the result file is deleted as if its link expired; it stays gone).

    The same seed and the same order of requests give the same faults.
    """

    rate: float = attrs.field(default=0.0, validator=_probability)
    """The share of requests faulted by kinds without an explicit rate, spread evenly."""
    rates: Mapping[str, float] = attrs.field(factory=dict, converter=_rates, hash=False)
    """Rate per fault kind set explicitly (each between 0 and 1)."""
    seed: int | None = None
    """Seed of the fault draws (``None``: a fresh one each run)."""
    stall_seconds: float = attrs.field(default=2.0, validator=_non_negative)
    """How long a stall, a stream stall or a slow download lasts."""
    retry_after_seconds: float = attrs.field(default=1.0, validator=_non_negative)
    """``Retry-After`` of an injected 429."""

    @rates.validator
    def _check_rates(self, attribute: attrs.Attribute[Any], value: Mapping[str, float]) -> None:
        for kind, rate in value.items():
            if kind not in FAULT_KINDS:
                raise ValueError(f"no fault kind {kind!r}; the kinds: {', '.join(FAULT_KINDS)}")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"the rate of {kind} must be between 0 and 1, got {rate!r}")
        for request in RequestKind:
            if sum(self.rates_for(request, value).values()) > 1.0:
                raise ValueError(f"the fault rates of a {request.value} request add up to over 1")

    @classmethod
    def parse(cls, spec: str) -> RandomFaults:
        """Read a spec such as ``rate=0.1,seed=11`` or ``5xx=0.02,stall-seconds=1``.

        Raises ``ValueError`` with a one-line message naming what is wrong.
        """
        settings: dict[str, Any] = {}
        rates: dict[str, float] = {}
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            name, sep, value = (text.strip() for text in item.partition("="))
            if not sep or name not in (*_SETTINGS, *FAULT_KINDS):
                raise ValueError(
                    f"{item!r} is not NAME=VALUE with NAME one of "
                    f"{', '.join((*_SETTINGS, *FAULT_KINDS))}"
                )
            try:
                number = int(value) if name == "seed" else float(value)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {value!r}") from None
            if name in FAULT_KINDS:
                rates[name] = number
            else:
                settings[_SETTINGS[name]] = number
        return cls(rates=rates, **settings)

    def rates_for(
        self, request: RequestKind, explicit: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """The rate of each fault kind that can hit ``request`` (zero rates left out)."""
        explicit = self.rates if explicit is None else explicit
        kinds = [kind for kind, hits in FAULT_KINDS.items() if request in hits]
        implicit = [kind for kind in kinds if kind not in explicit]
        share = self.rate / len(implicit) if implicit else 0.0
        rates = {kind: explicit.get(kind, share) for kind in kinds}
        return {kind: rate for kind, rate in rates.items() if rate > 0}

    def draw(self, request: RequestKind, rng: random.Random) -> str | None:
        """The fault kind to inject into ``request``, or ``None`` (one draw from ``rng``)."""
        point = rng.random()
        for kind, rate in self.rates_for(request).items():
            if point < rate:
                return kind
            point -= rate
        return None

    def spec(self) -> str:
        """The spec this value was parsed from, normalised (for messages and the admin API)."""
        parts = [f"rate={self.rate:g}"] if self.rate else []
        parts += [f"{kind}={rate:g}" for kind, rate in self.rates.items()]
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        parts.append(f"stall-seconds={self.stall_seconds:g}")
        parts.append(f"retry-after={self.retry_after_seconds:g}")
        return ",".join(parts)


def _random_faults(value: RandomFaults | str | None) -> RandomFaults | None:
    return RandomFaults.parse(value) if isinstance(value, str) else value


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
    random_faults: RandomFaults | None = attrs.field(default=None, converter=_random_faults)
    """Faults drawn at random per request (a :class:`RandomFaults` or its spec string)."""

    def take_injected_error(self) -> int | None:
        """Return the status to inject into this API request, if any, counting it down."""
        if self.error_status is None or self.error_count <= 0:
            return None
        self.error_count -= 1
        return self.error_status

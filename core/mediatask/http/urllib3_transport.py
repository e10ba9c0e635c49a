"""Retired: the urllib3 transport (``UrllibTransport``), once the alternative to the default.

Importing ``UrllibTransport`` raises an :class:`ImportError` that says what to do instead:
:class:`~mediatask.http.http11.Http11Transport`, the default, does all it did. Why it was
retired: ``docs/architecture.md``, "Decisions".
"""

from __future__ import annotations

from typing import NoReturn

RETIRED = (
    "UrllibTransport was retired: leave transport= out of Client(...) (the default "
    "transport does everything it did, with a third of its CPU and no thread per request), or "
    "pass Http11Transport(max_connections=N) from mediatask.http.http11 to size its pool"
)


def __getattr__(name: str) -> NoReturn:
    if name == "UrllibTransport":
        raise ImportError(RETIRED)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

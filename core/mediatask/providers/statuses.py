"""The HTTP status → exception ladder, in one place: the core's default and every plugin's.

A plugin that reads its provider's error envelope better than the core does still lets this
ladder pick the exception (and so whether the engine retries): it passes what it read as
``detail``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediatask.model.errors import (
    AuthError,
    InsufficientCreditsError,
    MediataskError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)

if TYPE_CHECKING:
    from mediatask.model.values import ProviderInfo


def error_for_status(
    info: ProviderInfo,
    status: int,
    detail: str = "",
    *,
    retry_after: float | None = None,
    url: str | None = None,
) -> MediataskError | None:
    """Our exception for an answer with HTTP ``status``; ``None`` for a 2xx status.

    401/403 :class:`AuthError` (naming the provider's key variable), 402
    :class:`InsufficientCreditsError`, 404 :class:`NotFoundError`, 429 :class:`RateLimitedError`,
    5xx :class:`UnavailableError` (503 means the request was turned away, so it was not acted on),
    any other status :class:`RejectedError`.

    :param detail: a short, key-free account of what the provider said (its error message).
    :param retry_after: seconds the provider asked us to wait (``Retry-After``, ``RateLimit-Reset``:
        see :mod:`mediatask.http.headers`); kept on 429 and 5xx errors.
    :param url: what was asked for, named by a 404 without its query (which may be signed).
    """
    if 200 <= status < 300:
        return None
    said = f" ({detail})" if detail else ""
    if status == 429 or status >= 500:
        return _not_now(info.name, status, said, retry_after)
    return _refused(info, status, said, url)


def _not_now(name: str, status: int, said: str, retry_after: float | None) -> MediataskError:
    """The error for a 429 or a 5xx: the provider did not take the request now."""
    if status == 429:
        return RateLimitedError(
            f"{name} is rate limiting us (HTTP 429){said}", status=429, retry_after=retry_after
        )
    return UnavailableError(
        f"{name} had a server error (HTTP {status}){said}",
        status=status,
        retry_after=retry_after,
        maybe_sent=status != 503,  # 503 means it turned the request away
    )


def _refused(info: ProviderInfo, status: int, said: str, url: str | None) -> MediataskError:
    """The error for any other status (4xx): the provider refused the request."""
    name = info.name
    if status in (401, 403):
        return AuthError(
            f"{name} rejected the key (HTTP {status}){said}: check {info.key_env}", status=status
        )
    if status == 404:
        where = url.split("?")[0].split("#")[0] if url else "it"
        return NotFoundError(f"{name} does not know {where} (HTTP 404){said}", status=404)
    if status == 402:
        return InsufficientCreditsError(f"{name}: no credits left (HTTP 402){said}", status=402)
    return RejectedError(f"{name} rejected the request (HTTP {status}){said}", status=status)

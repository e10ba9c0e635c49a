"""One request's way to a provider and back: its key, the rate limits, retries, error mapping.

:class:`Sender` does this for the engine's :class:`~mediatask.engine.client.Client`; plugins only
build
the requests and read the answers. :func:`default_error` maps an answer no plugin explained.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import attrs
import trio

from mediatask._moved import moved_names
from mediatask.engine.policy import (
    Backoff,
    RateLimiter,
    RetryPolicy,
    parse_rate_limit_reset,
    parse_rate_policies,
    parse_retry_after,
    rate_limit_pause,
)
from mediatask.http.failures import plain_reason, shorten
from mediatask.http.messages import Request, Response, same_origin
from mediatask.http.transport import ABANDON_AFTER, Transport, send_submit
from mediatask.model.errors import (
    MalformedPayloadError,
    MediataskError,
    ProviderError,
    RateLimitedError,
    SubmitUncertainError,
    UnavailableError,
)
from mediatask.model.redact import Redactor
from mediatask.model.values import ProviderInfo
from mediatask.providers.manager import PluginManager
from mediatask.providers.statuses import error_for_status
from mediatask.settings.config import Settings

log = logging.getLogger("mediatask")


_HTML_TITLE = re.compile(r"<(title|h1)[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def _detail(response: Response, key: str | None) -> str:
    """A short, key-free, one-line description of an error body (an HTML page by its title)."""
    text = response.text.strip()
    try:
        data = response.json()
    except MalformedPayloadError:
        data = None
    if isinstance(data, Mapping):
        parts = [str(data[k]) for k in ("error", "message", "detail") if data.get(k)]
        text = ": ".join(dict.fromkeys(parts)) or text
    elif text.startswith("<") or "html" in response.headers.get("content-type", "").lower():
        title = _HTML_TITLE.search(text)
        text = _TAG.sub("", title.group(2)) if title else "an HTML page"
    text = shorten(" ".join(text.split()))
    return Redactor([key] if key else []).scrub(text)


def default_error(info: ProviderInfo, response: Response, key: str | None) -> MediataskError | None:
    """Map an answer to our error by its HTTP status alone; ``None`` for a 2xx answer."""
    if response.ok:
        return None
    return error_for_status(
        info,
        response.status,
        _detail(response, key),
        retry_after=parse_retry_after(response.headers),
        url=response.url,
    )


class Throttle(Protocol):
    """What keeps requests under a provider's rate limits (:class:`RateLimiter`, or one shared
    by several processes, :class:`mediatask.batch.shared_limits.SharedRateLimiter`)."""

    def request(self) -> AbstractAsyncContextManager[None]:
        """Wait until one more request fits every window; held while it is in flight."""
        ...

    def pause(self, seconds: float) -> None:
        """Send nothing more for ``seconds``."""
        ...

    def learn(self, windows: tuple[tuple[int, float], ...]) -> None:
        """Keep to ``windows`` from now on (the account's, as the provider's answer listed)."""
        ...


@attrs.define
class Sender:
    """Sends plugin-built requests for a client: one rate limiter per provider, shared by all."""

    plugins: PluginManager
    settings: Settings
    transport: Transport
    retry: RetryPolicy
    throttles: Callable[[ProviderInfo], Throttle] | None = None
    """Makes a provider's rate limiter (default: a :class:`RateLimiter` in this process)."""
    announce: Callable[[str], None] | None = None
    """Told one line when a request first has to be retried (``a1d answers HTTP 503; trying
    again in 4 s``), so a command waiting on it can say so; ``None``: only logged."""
    _limiters: dict[str, Throttle] = attrs.field(init=False, factory=dict)
    _redactor: Redactor | None = attrs.field(init=False, default=None)

    def _custom_url(self, info: ProviderInfo) -> bool:
        """True when the user set ``info``'s base URL (its variable), so it may be the fault."""
        return bool(self.settings.environ.get(info.base_url_env))

    @property
    def redactor(self) -> Redactor:
        """Scrubs every key these settings could send out of answers and errors."""
        if self._redactor is None:
            self._redactor = Redactor(self.settings.secrets(self.plugins.providers.values()))
        return self._redactor

    _answered: set[str] = attrs.field(init=False, factory=set)
    """Providers that have answered this sender at least once (so their address is right)."""

    _addresses: dict[str, tuple[ProviderInfo, str, str]] = attrs.field(
        init=False, factory=dict, repr=False
    )
    """Per provider: its info, checked base URL and Authorization header, found at first use
    (the settings are a value: neither changes for this sender)."""

    def prepare(self, info: ProviderInfo, request: Request) -> Request:
        """The request joined to the provider's base URL, with its key when it goes there."""
        cached = self._addresses.get(info.name)
        if cached is None or cached[0] is not info:
            cached = self._addresses[info.name] = (info, self.settings.base_url(info), "")
        _, base_url, authorization = cached
        request = request.joined(base_url)
        if request.authenticated and same_origin(request.url, base_url):
            if not authorization:
                authorization = f"{info.auth_scheme} {self.settings.require_key(info)}"
                self._addresses[info.name] = (info, base_url, authorization)
            headers = {**request.headers, "Authorization": authorization}
            request = attrs.evolve(request, headers=headers)
        return request

    def error(
        self, info: ProviderInfo, request: Request, response: Response
    ) -> MediataskError | None:
        """The plugin's reading of an error answer, else :func:`default_error`'s."""
        error = self.plugins.read_error(info.name, request, response)
        if error is None and not 200 <= response.status < 300:
            error = default_error(info, response, self.settings.key(info))
        return self.redactor.error(error) if error is not None else None  # whoever built it

    def throttled(
        self, info: ProviderInfo, rate_class: str = ""
    ) -> AbstractAsyncContextManager[None]:
        """Room under the provider's rate limits for one request, held while it is in flight.

        A request of a class the provider limits apart (``ProviderInfo.rate_classes``) keeps to
        its class's windows (in this process); any other, to the provider's.
        """
        if rate_class in info.rate_classes:
            key = f"{info.name} {rate_class}"
            if key not in self._limiters:
                self._limiters[key] = RateLimiter(info.rate_classes[rate_class])
            return self._limiters[key].request()
        limiter = self._limiters.get(info.name)
        if limiter is None:
            windows = self.settings.rate_limits(info)
            if not windows:
                return contextlib.nullcontext()
            limiter = self._limiters[info.name] = self._throttle(info, windows)
        return limiter.request()

    def _throttle(self, info: ProviderInfo, windows: tuple[tuple[int, float], ...]) -> Throttle:
        if self.throttles is not None:
            return self.throttles(attrs.evolve(info, rate_limits=windows))
        return RateLimiter(windows)

    def observe(self, info: ProviderInfo, response: Response) -> None:
        """Let the provider's rate-limit headers correct our limiter: the windows its answer
        lists become ours (a limiter is made for them if we had none), and an exhausted
        ``RateLimit-Remaining`` pauses it until the reset."""
        limiter = self._limiters.get(info.name)
        learned = parse_rate_policies(response.headers)
        if learned:
            if limiter is None:
                limiter = self._limiters[info.name] = self._throttle(info, learned)
            limiter.learn(learned)
        pause = rate_limit_pause(response.headers)
        if pause is not None and limiter is not None:
            limiter.pause(pause)

    async def send(
        self,
        info: ProviderInfo,
        request: Request,
        *,
        on_wire: Callable[[], None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """Send a plugin-built request with auth, rate limits, error mapping and retries.

        A retryable failure (a 5xx, a 429, a broken connection) is retried with back-off for as
        long as ``retry`` (default: the client's :class:`RetryPolicy`) allows (its ``budget``);
        a ``Retry-After`` longer than :data:`~mediatask.engine.policy.MAX_RETRY_AFTER` makes the
        error final at once. So is a connection that cannot be made to a provider that has not
        answered this sender yet: a wrong base URL or host is likelier then than an outage, and
        the user should hear it at once (the message names the variable to check).

        :param on_wire: called each time the request goes on the wire, after the rate limiter
            has admitted it.
        """
        return await self._with_retries(info, request, False, on_wire, retry)

    async def submit(
        self,
        info: ProviderInfo,
        request: Request,
        on_wire: Callable[[], None] | None,
        retry: RetryPolicy | None = None,
    ) -> Response:
        """Send a request that may create (and charge for) a task, as :meth:`send` does.

        It is resent only when it certainly did not arrive (a refused connection, a connection
        broken before the request was complete, a 429 or 503 refusal); otherwise
        :class:`SubmitUncertainError` is raised. Only the exchange is shielded from
        cancellation, from the moment the request is complete (we must learn whether the task
        was created); an upload still on its way, waits for the rate limiter and for retries
        are not. A provider whose submit may block (``Capabilities.submit_blocks``) is waited
        for only :data:`~mediatask.http.transport.ABANDON_AFTER` more once cancelled: the
        submit is then :class:`~mediatask.model.errors.SubmitAbandonedError`, uncertain.

        :param on_wire: called as the request becomes complete at the provider where the
            transport can tell (see :func:`~mediatask.http.transport.send_submit`), so an upload
            cut short is not counted; a journal records the intent there.
        """
        return await self._with_retries(info, request, True, on_wire, retry)

    async def _with_retries(
        self,
        info: ProviderInfo,
        request: Request,
        submit: bool,
        on_wire: Callable[[], None] | None,
        retry: RetryPolicy | None,
    ) -> Response:
        prepared = self.prepare(info, request)
        backoff = (retry or self.retry).start()
        while True:
            response: Response | None = None
            try:
                response = await self._exchange(info, prepared, submit=submit, on_wire=on_wire)
                return self._answered_by(info, request, response)
            except MediataskError as exc:
                self.redactor.error(exc)  # a transport error may name a URL with credentials
                delay = self._retry_delay(info, exc, _asked_wait(exc, response), backoff, submit)
                failure = exc
            self._waiting(info, failure, delay, first=backoff.attempts == 1)
            await trio.sleep(delay)

    async def _exchange(
        self,
        info: ProviderInfo,
        prepared: Request,
        *,
        submit: bool,
        on_wire: Callable[[], None] | None,
    ) -> Response:
        """One attempt: wait for the rate limiter, then send (a submit shielded once complete)."""
        if not prepared.rate_limited:
            counted: AbstractAsyncContextManager[None] = contextlib.nullcontext()
        else:
            counted = self.throttled(info, prepared.rate_class or ("submit" if submit else "other"))
        async with counted:
            # Cancelled while waiting for the limiter: send nothing, not even a submit.
            await trio.lowlevel.checkpoint_if_cancelled()
            if submit:
                blocks = info.capabilities.submit_blocks > 0
                response = await send_submit(
                    self.transport,
                    prepared,
                    on_wire or _no_hook,
                    abandon_after=ABANDON_AFTER if blocks else None,
                )
            else:
                if on_wire is not None:
                    on_wire()
                response = await self.transport.send(prepared)
        return self.redactor.response(response)

    def _answered_by(self, info: ProviderInfo, request: Request, response: Response) -> Response:
        """``response``, once its rate-limit headers are learned; its error raised if any."""
        self._answered.add(info.name)
        self.observe(info, response)
        error = self.error(info, request, response)
        if error is not None:
            raise error
        return response

    def _retry_delay(
        self,
        info: ProviderInfo,
        exc: MediataskError,
        asked: float | None,
        backoff: Backoff,
        submit: bool,
    ) -> float:
        """How long to wait before trying ``exc``'s request again; raises when it is final."""
        if submit and isinstance(exc, UnavailableError) and exc.maybe_sent:
            raise SubmitUncertainError(
                f"{info.name}: {_text(exc)}; the task may have been "
                "created: check the provider before submitting again"
            ) from exc
        if not exc.retryable:
            raise exc
        if _unreachable(exc) and info.name not in self._answered:
            # Never reached yet: a wrong address is likelier than an outage. Say so now
            # rather than after the whole budget.
            why = f"{info.name} has not answered yet"
            raise _final(info, exc, why, self._custom_url(info)) from exc
        reason = backoff.stop_reason(asked)
        if reason is not None:
            raise _final(info, exc, reason, self._custom_url(info)) from exc
        return backoff.next_delay(asked)

    def _waiting(self, info: ProviderInfo, exc: MediataskError, delay: float, first: bool) -> None:
        """Pause the provider's limiter for a 429, and say that a retry is coming."""
        if isinstance(exc, RateLimitedError) and info.name in self._limiters:
            self._limiters[info.name].pause(delay)
        log.info("%s: %s; retrying in %.1fs", info.name, _text(exc), delay)
        if self.announce is not None and first:
            wait = f"{delay:.1f}" if delay < 1 else f"{delay:.0f}"
            self.announce(f"{info.name} answers {_answer(exc)}; trying again in {wait} s")


def _no_hook() -> None:
    """Nothing to record when a submit goes on the wire."""


def _unreachable(exc: MediataskError) -> bool:
    """True when the connection could not even be made (refused, unknown host)."""
    return isinstance(exc, UnavailableError) and not exc.connected


def _asked_wait(exc: MediataskError, response: Response | None) -> float | None:
    """What the provider asked us to wait: ``Retry-After``, else a 429's ``RateLimit-Reset``."""
    asked = exc.retry_after if isinstance(exc, ProviderError) else None
    if asked is None and response is not None:
        asked = parse_retry_after(response.headers)
        if asked is None and response.status == 429:
            asked = parse_rate_limit_reset(response.headers)
    return asked


def _answer(exc: MediataskError) -> str:
    """What the provider answered, in a few words: ``HTTP 503``, or how the connection failed."""
    if isinstance(exc, ProviderError) and exc.status is not None:
        return f"HTTP {exc.status}"
    return plain_reason(str(exc), 80)


def _text(exc: MediataskError) -> str:
    """The message of ``exc``; for a connection failure (no HTTP status), without reprs."""
    if isinstance(exc, ProviderError) and exc.status is not None:
        return str(exc)
    return plain_reason(str(exc))


def _final(
    info: ProviderInfo, exc: MediataskError, reason: str, custom_url: bool = False
) -> MediataskError:
    """``exc`` made final: one plain line that says why retrying stopped (and, for a host never
    reached at a base URL the user set, which setting to check)."""
    if isinstance(exc, UnavailableError):
        check = f"; check {info.base_url_env}" if exc.status is None and custom_url else ""
        return UnavailableError(
            f"{_text(exc)} ({reason}{check})",
            status=exc.status,
            retry_after=exc.retry_after,
            maybe_sent=exc.maybe_sent,
            connected=exc.connected,
        )
    if isinstance(exc, RateLimitedError):
        return RateLimitedError(f"{exc} ({reason})", status=exc.status, retry_after=exc.retry_after)
    return exc


__getattr__ = moved_names(__name__)  # names the module's old path had elsewhere

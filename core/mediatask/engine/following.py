"""Following a task to its final state: the work behind :meth:`Client.updates`.

A provider that streams is followed by Server-Sent Events; a stream that drops or fails is
opened again (after the server's ``retry:`` time, with ``Last-Event-ID`` when its events carry
ids) a few times before the follower polls instead. For a provider whose stream closes by
design after its last status (``Capabilities.stream_ends``), a stream that ends cleanly before a
final event is no failure: one poll asks at once, and only a task still going opens it again.
Polls are scheduled from the durations seen of the same operation
(:mod:`mediatask.engine.schedule`).
A final status is completed by the plugin's result step when it has one (hook
``mediatask_result``), and an answer the plugin reads as :class:`~mediatask.model.errors.FailedTask`
ends the task failed or canceled. Either way each distinct update is passed on once, and never
one that goes back (an event arriving late, a final state undone).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from datetime import datetime

import attrs
import trio

from mediatask.engine.policy import PollPolicy, RetryPolicy
from mediatask.engine.schedule import Durations
from mediatask.engine.sending import Sender
from mediatask.http.messages import Request, Response
from mediatask.http.sse import Decoder, Event
from mediatask.http.transport import Transport
from mediatask.model.errors import (
    AuthError,
    FailedTask,
    MalformedPayloadError,
    PluginError,
    ProviderError,
    StreamError,
    UsageError,
)
from mediatask.model.values import ProviderInfo, Status, TaskRef, Update
from mediatask.providers.manager import PluginManager

log = logging.getLogger("mediatask")

MAX_MALFORMED_POLLS = 3
"""Unreadable poll answers in a row before the follower gives up."""
MAX_RECONNECTS = 3
"""Stream failures in a row (no new update in between) before the follower polls instead."""
FOLLOW_MODES = ("auto", "stream", "poll")
"""How a task can be followed: ``auto`` streams where the provider can and polls when the
stream cannot be used; ``stream`` streams or fails (a provider without a stream is a usage
error); ``poll`` never opens a stream."""


def check_follow(follow: str) -> str:
    """``follow`` when it is one of :data:`FOLLOW_MODES`, else :class:`UsageError`."""
    if follow not in FOLLOW_MODES:
        raise UsageError(f"follow must be one of {', '.join(FOLLOW_MODES)}, not {follow!r}")
    return follow


def failed_update(failure: FailedTask) -> Update:
    """The final Update a :class:`FailedTask` answer stands for."""
    status = Status.CANCELED if failure.canceled else Status.FAILED
    word = failure.raw_status or (f"HTTP {failure.status}" if failure.status else status.value)
    return Update(status, word, message=failure.reason)


_RANK = {Status.QUEUED: 0, Status.RUNNING: 1}  # every final status ranks 2


class _UnusableStreamError(StreamError):
    """A stream that opening again will not mend (not SSE, unreadable events): poll instead."""

    retryable = False


@attrs.define
class Progress:
    """The updates passed on so far: each distinct one once, and never a step back."""

    last: Update | None = None
    _seen: list[Update] = attrs.field(factory=list)

    @property
    def final(self) -> bool:
        """True once a final update was passed on: nothing more will be."""
        return self.last is not None and self.last.status.is_final

    def admit(self, update: Update) -> bool:
        """Whether ``update`` is new and not older than the last one; if so it becomes the last."""
        if self.final or update in self._seen:
            return False
        last = self.last
        if last is not None:
            rank, last_rank = _RANK.get(update.status, 2), _RANK.get(last.status, 2)
            if rank < last_rank:
                return False
            if (
                rank == last_rank
                and update.progress is not None
                and last.progress is not None
                and update.progress < last.progress
            ):
                return False
        self._seen = [*self._seen[-15:], update]  # duplicates come close together
        self.last = update
        return True


@attrs.define
class _Reconnection:
    """What a stream told us for the next connection: the last event id and ``retry:`` time."""

    last_event_id: str = ""
    retry_ms: int | None = None
    failures: int = 0

    def request(self, request: Request) -> Request:
        """``request`` with ``Last-Event-ID`` once events have carried ids."""
        if not self.last_event_id:
            return request
        headers = {**request.headers, "Last-Event-ID": self.last_event_id}
        return attrs.evolve(request, headers=headers)

    def read(self, decoder: Decoder) -> None:
        """Keep the decoder's last event id and reconnection time, once it has any."""
        self.last_event_id = decoder.last_event_id or self.last_event_id
        self.retry_ms = decoder.retry if decoder.retry is not None else self.retry_ms

    def failed(self, retry: RetryPolicy, retry_after: float | None) -> float:
        """Count a failure; the wait before connecting again: the answer's ``Retry-After``,
        else the stream's ``retry:``, else back-off."""
        self.failures += 1
        if retry_after is None and self.retry_ms is not None:
            retry_after = self.retry_ms / 1000
        return retry.delay(self.failures, retry_after=retry_after)


@attrs.define
class _Ended:
    """How one connection to a stream ended: with the task's final event, or without."""

    final: Update | None = None


@attrs.define
class Follower:
    """Follows tasks for one client; holds what it learned of each operation's durations."""

    plugins: PluginManager
    sender: Sender
    transport: Transport
    retry: RetryPolicy
    clock: Callable[[], datetime]
    _durations: dict[tuple[str, str], Durations] = attrs.field(init=False, factory=dict)

    def durations(self, task: TaskRef, policy: PollPolicy) -> Durations:
        """The durations seen of ``task``'s provider and operation (made on first use)."""
        key = (task.provider, task.operation)
        durations = self._durations.get(key)
        if durations is None or durations.policy != policy:
            durations = self._durations[key] = Durations(policy)
        return durations

    def age(self, task: TaskRef) -> float:
        """Seconds since ``task`` was submitted, on the client's clock."""
        return (self.clock() - task.submitted_at).total_seconds()

    async def poll(self, task: TaskRef, retry: RetryPolicy | None = None) -> Update:
        """Ask the provider for the task's state once (and, when it is final, for its result).

        Exactly one status request (retried under ``retry``, default the client's), plus the
        plugin's result request when the status is final and the plugin has that step.
        """
        info = self.plugins.provider(task.provider)
        try:
            response = await self.sender.send(
                info, self.plugins.poll(task.provider, task), retry=retry
            )
        except FailedTask as failure:
            return failed_update(failure)
        update = self.plugins.parse_result(task.provider, task, response.json_object())
        return await self.finish(task, update, retry)

    async def finish(
        self, task: TaskRef, update: Update, retry: RetryPolicy | None = None
    ) -> Update:
        """``update`` completed by the result step when it is final and the plugin has one."""
        if not update.status.is_final:
            return update
        request = self.plugins.result(task.provider, task, update)
        if request is None:
            return update
        info = self.plugins.provider(task.provider)
        try:
            response = await self.sender.send(info, request, retry=retry)
            result = self.plugins.read_result(info.name, task, update, response)
        except FailedTask as failure:
            return failed_update(failure)
        if not result.status.is_final:
            raise PluginError(
                f"the {info.name} plugin read the result of {task.handle} as "
                f"{result.status.value}, not as a final state"
            )
        return result

    async def updates(
        self, task: TaskRef, known: Update | None, polling: PollPolicy, follow: str = "auto"
    ) -> AsyncGenerator[Update, None]:
        """Each new update of ``task`` until the final one; ``known``: a final one already seen.

        :param follow: one of :data:`FOLLOW_MODES`.
        """
        if known is not None and known.status.is_final:
            yield known
            return
        info = self.plugins.provider(task.provider)
        progress = Progress()
        request = self._stream_request(info, task, follow)
        if request is not None:
            streamed = self._streamed(info, task, request, progress, polling, give_up=follow)
            async with contextlib.aclosing(streamed) as got:
                async for update in got:
                    yield update
            if progress.final:
                return
        async with contextlib.aclosing(self._polled(task, progress, polling)) as got:
            async for update in got:
                yield update

    def _stream_request(self, info: ProviderInfo, task: TaskRef, follow: str) -> Request | None:
        """The request that opens ``task``'s stream, or ``None`` to poll it (``follow``
        ``"stream"`` without a stream is a :class:`UsageError`)."""
        request = None
        if check_follow(follow) != "poll" and info.capabilities.stream:
            request = self.plugins.stream(info.name, task)
        if follow == "stream" and request is None:
            raise UsageError(f"{info.name} has no status stream: follow it with poll or auto")
        return request

    async def _streamed(
        self,
        info: ProviderInfo,
        task: TaskRef,
        request: Request,
        progress: Progress,
        polling: PollPolicy,
        *,
        give_up: str,
    ) -> AsyncGenerator[Update, None]:
        """Updates from the stream, reconnecting; returns early when polling should take over
        (``give_up`` ``"stream"``: raises instead)."""
        reconnection = _Reconnection()
        while True:
            ended = _Ended()
            try:
                connection = self._connection(info, task, request, progress, reconnection, ended)
                async with contextlib.aclosing(connection) as got:
                    async for update in got:
                        yield update
            except FailedTask as failure:  # the stream's answer says the task ended so
                ended.final = failed_update(failure)
            except (StreamError, ProviderError) as exc:
                if await self._again(exc, task, reconnection, give_up=give_up):
                    continue
                return
            if ended.final is not None:  # else a poll found the task final
                final = await self.finish(task, ended.final)
                if progress.admit(final):
                    yield final
            self.durations(task, polling).add(self.age(task))
            return

    async def _connection(
        self,
        info: ProviderInfo,
        task: TaskRef,
        request: Request,
        progress: Progress,
        reconnection: _Reconnection,
        ended: _Ended,
    ) -> AsyncGenerator[Update, None]:
        """The new updates of one connection to the stream, until the task's final event (kept
        in ``ended``: the result step waits until the stream is closed).

        A stream that ends before the task did is a :class:`StreamError`, unless it closes by
        design (``Capabilities.stream_ends``) and one poll finds the task final.
        """
        events = self._events(info, task, reconnection.request(request), reconnection)
        async with contextlib.aclosing(events) as got:
            async for update in got:
                if update.status.is_final:
                    ended.final = update
                    return
                if progress.admit(update):
                    reconnection.failures = 0
                    yield update
        if info.capabilities.stream_ends:
            # Ended cleanly before a final event, by design: one poll says at once
            # whether the task is done; only if not is the stream opened again.
            log.info("%s: the stream ended; asking for its state once", task.handle)
            update = await self.poll(task)
            if progress.admit(update):
                reconnection.failures = 0
                yield update
        if not progress.final:
            raise StreamError(f"{task.handle}: the stream ended before the task did")

    async def _again(
        self,
        exc: StreamError | ProviderError,
        task: TaskRef,
        reconnection: _Reconnection,
        *,
        give_up: str,
    ) -> bool:
        """After the stream failed with ``exc``: True once it is time to open it again, False
        when polling takes over; raises ``exc`` when it cannot be mended by either (a key
        refused; ``give_up`` ``"stream"``)."""
        if isinstance(exc, AuthError):
            raise exc
        if not exc.retryable or reconnection.failures >= MAX_RECONNECTS:
            if give_up == "stream":
                raise exc
            log.info("%s; following %s by polling instead", exc, task.handle)
            return False
        hint = exc.retry_after if isinstance(exc, ProviderError) else None
        delay = reconnection.failed(self.retry, hint)
        log.info("%s; opening the stream again in %.2fs", exc, delay)
        await trio.sleep(delay)
        return True

    async def _events(
        self, info: ProviderInfo, task: TaskRef, request: Request, reconnection: _Reconnection
    ) -> AsyncGenerator[Update, None]:
        """Open one stream and read its events as updates until it ends."""
        async with contextlib.AsyncExitStack() as opened:
            async with self.sender.throttled(info, request.rate_class):  # until headers arrive
                body = await opened.enter_async_context(
                    self.transport.open_stream(self.sender.prepare(info, request))
                )
            if not 200 <= body.status < 300:
                answer = Response(body.status, body.headers, await body.read(), url=request.url)
                raise self.sender.error(info, request, answer) or StreamError(
                    f"{task.handle}: the stream answered HTTP {body.status}"
                )
            if "text/event-stream" not in body.headers.get("content-type", ""):
                raise _UnusableStreamError(
                    f"{task.handle}: the status stream is not an event stream"
                )
            decoder = Decoder()
            while chunk := await body.read():
                events = decoder.feed(chunk)
                reconnection.read(decoder)
                for event in events:
                    yield self._event_update(task, event)

    def _event_update(self, task: TaskRef, event: Event) -> Update:
        try:
            body = self.sender.redactor.keys_out_of_bytes(event.data.encode())
            payload = Response(200, body=body, url="event").json_object()
        except MalformedPayloadError as exc:
            raise _UnusableStreamError(f"{task.handle}: unreadable stream event ({exc})") from None
        return self.plugins.parse_result(task.provider, task, payload)

    async def _polled(
        self, task: TaskRef, progress: Progress, polling: PollPolicy
    ) -> AsyncGenerator[Update, None]:
        """Updates from polls scheduled by the durations seen; learns this task's duration."""
        durations = self.durations(task, polling)
        wait: float | None = None
        not_yet: float | None = None  # the latest age at which a poll found it unfinished
        malformed = 0
        while True:
            planned = self.age(task)
            wait = durations.next_poll(planned, wait)
            planned += wait  # the age the poll is meant for (it may leave a little later)
            await trio.sleep(wait)
            asked_at = self.age(task)
            try:
                update = await self.poll(task)
                malformed = 0
            except MalformedPayloadError:
                malformed += 1
                if malformed >= MAX_MALFORMED_POLLS:
                    raise
                continue
            if progress.admit(update):
                yield update
            if update.status.is_final:
                # It ended somewhere in between. Done at the first poll, it ended a little
                # before it: half the wait (as if it might have ended at once) would teach the
                # plan polls where none ends, the poll's own time would only ever move the
                # plan later; one step before the planned time lets it settle where the first
                # tasks end (the actual time, a little late, would fall back onto that step).
                if not_yet is None:
                    durations.add(max(min(asked_at, planned) - polling.minimum, 0.0))
                else:
                    durations.add((not_yet + asked_at) / 2)
                return
            not_yet = asked_at

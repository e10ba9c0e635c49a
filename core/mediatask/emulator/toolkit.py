"""The base class of every provider emulator: state, fault injection, storage and lifecycle.

Faults come from :class:`~mediatask.emulator.faults.Faults`: fixed knobs (``error_status``,
``drop_stream_after``, ...) and ``random_faults``, faults drawn per request at a rate per kind
from a seeded generator, written as a spec such as ``rate=0.1,seed=11`` or
``5xx=0.02,reset-after=0.01,stall-seconds=1`` (``mediatask emulate --faults SPEC``,
``MEDIATASK_SANDBOX_FAULTS``; the kinds are listed on
:class:`~mediatask.emulator.faults.RandomFaults`). The middleware in
:mod:`mediatask.emulator.injection` applies them around every route, so a provider emulator
gets them without code of its own.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from functools import partial
from http import HTTPStatus
from typing import Any, ClassVar, TypeVar

import attrs
import trio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from mediatask.emulator.clock import EmulatorClock
from mediatask.emulator.faults import Faults
from mediatask.emulator.injection import ADMIN_PREFIX, STORAGE_PREFIX, FaultInjection
from mediatask.emulator.limits import TaskLimit
from mediatask.emulator.media import MediaError
from mediatask.emulator.submissions import SubmitLedger, current_submission
from mediatask.emulator.tasks import EmulatedTask, Phase, TaskState, WorkError, WorkResult
from mediatask.model.errors import UsageError

T = TypeVar("T")
Work = Callable[[], Awaitable[WorkResult]]
"""A task's work: fetch inputs, make the outputs, return them (raise WorkError to fail)."""

log = logging.getLogger(__name__)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


@attrs.frozen
class StoredFile:
    """A published result file and the emulator-clock time it stops being served."""

    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    mime_type: str
    expires_at: float


@attrs.define
class Emulator:
    """Base of provider emulators: subclasses add their API routes (:meth:`api_routes`).

    The app serves the provider's API plus, without auth, ``/storage/<key>`` (result files,
    expiring ``faults.result_ttl_seconds`` after completion) and ``/_emulator/...`` admin
    endpoints. Every other path counts as an API request. Faults (``faults.error_status`` and
    ``faults.random_faults``) are injected around every route by
    :class:`~mediatask.emulator.injection.FaultInjection`, which also records each submit by
    job identity in :attr:`submits`; ``GET /_emulator/stats`` shows both counters.
    Background work runs in a nursery opened by the app's ASGI lifespan.
    """

    clock: EmulatorClock = attrs.field(factory=EmulatorClock)
    faults: Faults = attrs.field(factory=Faults)
    accepted_key: str | None = attrs.field(default=None, repr=False)
    """``None``: any non-empty key is accepted; else only this one."""
    stats: Counter[str] = attrs.field(factory=Counter)
    """Counts of what happened: requests, submissions, polls, streams, downloads, faults..."""
    submits: SubmitLedger = attrs.field(factory=SubmitLedger)
    """Per job identity: submit requests received, and those that created a task."""
    request_times: list[float] = attrs.field(factory=list)
    """When each API request arrived (trio's clock, seconds): the proof of rate windows kept."""
    limit: TaskLimit = attrs.field(factory=TaskLimit)
    """Tasks in progress per key; submits beyond it get 429 (see :meth:`busy`)."""
    hold_queue: bool = False
    """Tasks started while set stay queued until :meth:`release` (for tests of early states)."""
    hold_work: bool = False
    """While set, running tasks do not finish until :meth:`release`."""
    expired_status: ClassVar[int] = 404
    """Status of a result file past its expiry (the provider deleted it)."""
    _tasks: dict[str, EmulatedTask] = attrs.field(init=False, factory=dict)
    _files: dict[str, StoredFile] = attrs.field(init=False, factory=dict)
    _rng: random.Random = attrs.field(init=False, factory=random.Random)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)
    _media_limiter: trio.CapacityLimiter = attrs.field(
        init=False, factory=lambda: trio.CapacityLimiter(os.cpu_count() or 2)
    )
    _app: Starlette | None = attrs.field(init=False, default=None)
    _held: list[tuple[EmulatedTask, Work]] = attrs.field(init=False, factory=list)
    _gate: trio.Event = attrs.field(init=False, factory=trio.Event)

    def __attrs_post_init__(self) -> None:
        """Seed the random generator from ``faults.seed``. Every field has its default, so a
        subclass's own ``__attrs_post_init__`` that does not call this loses only the seed."""
        self._rng.seed(self.faults.seed)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse a subclass that would replace one of the toolkit's own private names."""
        super().__init_subclass__(**kwargs)
        own = set(vars(cls)) | set(vars(cls).get("__annotations__", {}))
        if cls.__module__ != __name__ and (clash := sorted(own & RESERVED_NAMES)):
            raise TypeError(
                f"{cls.__name__} defines {', '.join(clash)}, which the emulator toolkit keeps "
                "for its own use: choose another name (see RESERVED_NAMES)"
            )

    # -- what subclasses provide -------------------------------------------------------------

    def api_routes(self) -> list[BaseRoute]:
        """Return the provider's API routes. Subclasses must override this."""
        raise NotImplementedError

    def configure(self, option: str, value: str) -> None:
        """Set a provider-specific option (``mediatask emulate claid --rate 1/s,30/min``,
        ``$MEDIATASK_SANDBOX_<NAME>``); :class:`UsageError` when this emulator has no such
        option or the value is wrong. Subclasses with options override this."""
        raise UsageError(f"this emulator has no option {option!r}")

    def error_response(self, status: int, message: str) -> Response:
        """Answer an error in the provider's shape; default ``{"error": <reason>, "message"}``."""
        return JSONResponse({"error": _reason(status), "message": message}, status)

    # -- the application ---------------------------------------------------------------------

    @property
    def app(self) -> Starlette:
        """The Starlette application (built once); serve it with ``serving()``."""
        if self._app is None:
            admin = [
                Route(ADMIN_PREFIX + "stats", self._admin_stats, methods=["GET"]),
                Route(ADMIN_PREFIX + "advance", self._admin_advance, methods=["POST"]),
                Route(ADMIN_PREFIX + "faults", self._admin_faults, methods=["GET", "POST"]),
                Route(ADMIN_PREFIX + "hold", self._admin_hold, methods=["POST"]),
                Route(ADMIN_PREFIX + "release", self._admin_release, methods=["POST"]),
            ]
            storage = Route(STORAGE_PREFIX + "{key:path}", self._download, methods=["GET"])
            self._app = Starlette(
                routes=[*self.api_routes(), storage, *admin],
                middleware=[Middleware(FaultInjection, emulator=self)],
                exception_handlers={Exception: self._failed},
                lifespan=self._run,
            )
        return self._app

    async def _failed(self, request: Request, exc: Exception) -> Response:
        """An emulator bug: its traceback to the log, its cause in one line to the client."""
        log.error("%s %s failed in the emulator", request.method, request.url.path, exc_info=exc)
        cause = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        return self.error_response(500, f"the emulator failed: {cause} (traceback in its log)")

    @asynccontextmanager
    async def _run(self, app: Starlette) -> AsyncIterator[None]:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                yield
            finally:
                self._nursery = None
                nursery.cancel_scope.cancel()

    # -- helpers for subclasses --------------------------------------------------------------

    def key_accepted(self, key: str | None) -> bool:
        """Whether ``key`` opens the API: non-empty, and equal to ``accepted_key`` when set."""
        return bool(key) and (self.accepted_key is None or key == self.accepted_key)

    def new_id(self, prefix: str = "") -> str:
        """Return a fresh random id (16 hex digits after ``prefix``)."""
        return f"{prefix}{self._rng.getrandbits(64):016x}"

    @staticmethod
    def base_url(request: Request) -> str:
        """The absolute base URL the client used, without a trailing slash."""
        return str(request.base_url).rstrip("/")

    @staticmethod
    def storage_url(base_url: str, key: str) -> str:
        """The absolute URL at which the result file ``key`` will be served."""
        return f"{base_url}{STORAGE_PREFIX}{key}"

    def json_bytes(self, payload: Mapping[str, Any]) -> bytes:
        """One-line JSON of a status payload; unreadable when ``faults.malformed_payloads``."""
        text = json.dumps(payload, separators=(",", ":"))
        if self.faults.malformed_payloads:
            text = text[: len(text) // 2]  # cut mid-object: no JSON parser accepts it
        return text.encode()

    def create_task(self, operation: str, params: Mapping[str, Any] | None = None) -> EmulatedTask:
        """Register a new queued task; draws whether it will fail from ``faults.failure_rate``."""
        task = EmulatedTask(
            task_id=self.new_id("task_"),
            operation=operation,
            created_at=self.clock.now(),
            will_fail=self._rng.random() < self.faults.failure_rate,
            params=params or {},
        )
        self._tasks[task.task_id] = task
        self.limit.track(task)
        self.stats["tasks_created"] += 1
        if (submission := current_submission.get()) is not None:
            self.submits.task_created(submission)
        return task

    def busy(self, request: Request) -> Response | None:
        """A 429 with ``Retry-After`` when the caller's key has its most tasks in progress.

        Call it in a submit handler before charging; ``None``: go on.
        """
        if not self.limit.refuses(request.headers.get("authorization", "")):
            return None
        self.stats["busy_refusals"] += 1
        response = self.error_response(429, "too many tasks in progress")
        response.headers["Retry-After"] = f"{self.limit.retry_after:g}"
        return response

    def find_task(self, task_id: str) -> EmulatedTask | None:
        """The task with this id, or ``None``."""
        return self._tasks.get(task_id)

    def start(self, task: EmulatedTask, work: Work) -> None:
        """Run ``task`` in the background; it finishes whether or not anyone watches it."""
        if self.hold_queue:
            self._held.append((task, work))
            return
        if self._nursery is None:
            raise RuntimeError(
                f"{type(self).__name__} needs the ASGI lifespan: serve it with serving()"
            )
        self._nursery.start_soon(self._process, task, work)

    def release(self) -> None:
        """Clear ``hold_queue`` and ``hold_work``: held tasks start, held work finishes."""
        self.hold_queue = self.hold_work = False
        held, self._held = self._held, []
        for task, work in held:
            self.start(task, work)
        gate, self._gate = self._gate, trio.Event()  # a later hold_work holds again
        gate.set()

    async def complete_now(self, task: EmulatedTask, work: Work) -> None:
        """Do ``task``'s work at once and make it final (a provider answering synchronously)."""
        result, error = await self._attempt(work)
        self._finish(task, result, error)

    def expire_file(self, key: str) -> None:
        """Make the result file ``key`` expired now, as if its link's lifetime had passed."""
        stored = self._files.get(key)
        if stored is not None:
            self._files[key] = attrs.evolve(stored, expires_at=self.clock.now())

    async def task_events(
        self,
        task: EmulatedTask,
        payload: Callable[[TaskState], Mapping[str, Any]],
        *,
        prefix: bytes = b"",
        copies: int = 1,
    ) -> AsyncGenerator[bytes, None]:
        """A task's Server-Sent Events: ``data: <payload(state)>`` for its current state, then
        each change, ending after the final one — or early, after ``faults.drop_stream_after``
        events. ``prefix`` goes before each ``data:`` line; each event is sent ``copies`` times.
        Serve it with :class:`EventStreamResponse`.
        """
        limit, sent = self.faults.drop_stream_after, 0
        async with aclosing(task.states()) as states:
            async for state in states:
                if limit is not None and (sent >= limit or state.is_final):
                    return  # a dropped stream: the final event never arrives
                event = prefix + b"data: " + self.json_bytes(payload(state)) + b"\n\n"
                self.stats["events"] += 1
                sent += 1
                for _ in range(copies):
                    yield event

    async def run_media(self, function: Callable[..., T], *args: Any) -> T:
        """Run a media function in a worker thread; a :class:`MediaError` fails the task."""
        try:
            # Pure functions of their arguments: nothing to clean up if we stop waiting.
            return await trio.to_thread.run_sync(
                partial(function, *args), limiter=self._media_limiter, abandon_on_cancel=True
            )
        except MediaError as exc:
            raise WorkError(str(exc)) from exc

    # -- the lifecycle -----------------------------------------------------------------------

    async def _process(self, task: EmulatedTask, work: Work) -> None:
        steps, total = self.faults.progress_steps, self.faults.processing_seconds
        interval = total / (steps + 1)
        outcome: list[tuple[WorkResult | None, str | None]] = []

        async def attempt() -> None:
            if self.hold_work:
                await self._gate.wait()
            outcome.append(await self._attempt(work))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(attempt)
            for step in range(1, steps + 1):
                await trio.sleep(interval)
                task.update(TaskState(Phase.RUNNING, progress=round(100 * step / (steps + 1))))
            await trio.sleep(interval)
        self._finish(task, *outcome[0])

    async def _attempt(self, work: Work) -> tuple[WorkResult | None, str | None]:
        try:
            return await work(), None
        except WorkError as exc:
            return None, str(exc)
        except Exception:  # a bug in an emulator must fail one task, not the whole server
            log.exception("emulated task crashed")
            return None, "internal error"

    def _finish(self, task: EmulatedTask, result: WorkResult | None, error: str | None) -> None:
        now = self.clock.now()
        if result is not None and task.will_fail:
            result, error = None, "processing failed"  # Faults.failure_rate
        if result is None:
            self.stats["tasks_failed"] += 1
            task.update(TaskState(Phase.FAILED, error=error or "processing failed"), now=now)
            return
        expires_at = now + self.faults.result_ttl_seconds
        for produced in result.files:
            self._files[produced.key] = StoredFile(produced.data, produced.mime_type, expires_at)
        self.stats["tasks_succeeded"] += 1
        task.update(TaskState(Phase.SUCCEEDED, fields=result.fields), now=now)

    # -- routes every emulator has -----------------------------------------------------------

    async def _download(self, request: Request) -> Response:
        stored = self._files.get(request.path_params["key"])
        if stored is None:
            return Response("Not Found", 404, media_type="text/plain")
        if self.clock.now() >= stored.expires_at:
            self.stats["expired_downloads"] += 1
            return Response("Expired", self.expired_status, media_type="text/plain")
        self.stats["downloads"] += 1
        return Response(stored.data, media_type=stored.mime_type)

    async def _admin_stats(self, request: Request) -> Response:
        return JSONResponse(
            {
                "stats": dict(self.stats),
                "submits": self.submits.to_json(),
                "request_times": self.request_times,
                "now": self.clock.now(),
            }
        )

    async def _admin_advance(self, request: Request) -> Response:
        try:
            self.clock.advance(float(request.query_params.get("seconds", "")))
        except ValueError as exc:
            return JSONResponse({"error": f"?seconds= must be a non-negative number: {exc}"}, 400)
        return JSONResponse({"now": self.clock.now()})

    async def _admin_hold(self, request: Request) -> Response:
        self.hold_work = True
        return JSONResponse({"hold_work": True})

    async def _admin_release(self, request: Request) -> Response:
        self.release()
        return JSONResponse({"hold_work": False})

    async def _admin_faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                changes = dict(await request.json())
                if unknown := set(changes) - set(attrs.fields_dict(Faults)):
                    raise ValueError(f"no such knob: {', '.join(sorted(unknown))}")
                self.faults = attrs.evolve(self.faults, **changes)  # validated, all or nothing
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
        knobs = attrs.asdict(self.faults, recurse=False)
        chaos = self.faults.random_faults
        knobs["random_faults"] = chaos.spec() if chaos is not None else None
        return JSONResponse(knobs)


RESERVED_NAMES: frozenset[str] = frozenset(
    name
    for name in {*vars(Emulator), *(field.name for field in attrs.fields(Emulator))}
    if name.startswith("_") and not name.startswith("__")
)
"""The toolkit's own private names (``_files``, ``_tasks``, ``_run``…): a subclass of
:class:`Emulator` that defines one is refused with a :class:`TypeError` naming it."""


class EventStreamResponse(Response):
    """A ``text/event-stream`` answer that sends each chunk of ``events`` as it comes.

    Unlike Starlette's ``StreamingResponse`` (with Hypercorn's ASGI 2.1 scopes), the last send
    happens outside the scope that a client disconnect cancels: cancelling it there would
    interrupt Hypercorn's keep-alive bookkeeping and hold the connection until shutdown's
    grace period.
    """

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[bytes, None]) -> None:
        self.status_code = 200
        self.background = None
        self.events = events
        self.init_headers({"Cache-Control": "no-cache"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the events until they end or the client goes away, then end the body."""
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async with trio.open_nursery() as nursery:

            async def stop_on_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                nursery.cancel_scope.cancel()

            nursery.start_soon(stop_on_disconnect)
            async with aclosing(self.events) as events:
                async for chunk in events:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            nursery.cancel_scope.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

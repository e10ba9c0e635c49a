"""Test helpers for mediatask and its plugins; a pytest plugin (entry point ``pytest11``).

Fixtures:

- ``mediatask_plugins``: the installed plugins (entry points), loaded once per test.
- ``mediatask_sandbox``: every installed emulator served on loopback (fast tasks), with a
  ``Client`` pointed at them: ``sandbox, client = mediatask_sandbox``.
- ``mediatask_home``: a fresh ``MEDIATASK_HOME`` and no ``MEDIATASK_*`` settings from outside.

Helpers for unit tests without a network: :func:`reply` builds a ``Response``;
:class:`ScriptedTransport` answers requests from a script and records what was sent;
:class:`FakeTransport` is the base for a fake of your own (override ``respond``).
Helpers for whole-command tests: :func:`standalone_emulator` runs ``mediatask emulate`` in its
own process, :func:`mediatask_command` runs a command in another, :func:`serving_in_thread`
serves a stdlib HTTP handler and :func:`serving_folder` input files, from a thread.

Scaffolding for a plugin's own tests (``conftest.py``): :func:`sample_photo` and
:func:`sample_clip` make small inputs, :func:`sample_files` writes them to a folder,
``inputs_url = samples_fixture(SAMPLES)`` serves them to the emulator and
``isolated = isolated_home()`` gives every test a fresh ``MEDIATASK_HOME``; :class:`RawApi`
(opened with :func:`raw_api`) talks to an emulator with plain urllib3, so that emulator tests do
not go through the client they help to check.

Kept light: every pytest run imports this module.
"""

from __future__ import annotations

import json as jsonlib
import subprocess
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from socketserver import BaseRequestHandler
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import pytest

from mediatask.plugin import (  # the fake plugin below is written as any plugin is
    Capabilities,
    Job,
    Operation,
    Output,
    Param,
    ProviderInfo,
    Request,
    Response,
    Status,
    Submitted,
    TaskRef,
    Update,
    hookimpl,
)
from mediatask.testing._contract import ProviderContract as ProviderContract  # for plugin tests

if TYPE_CHECKING:
    import urllib3

    from mediatask.http.transport import Body, CommitHook


def reply(
    status: int = 200,
    json: Any = None,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A canned answer: JSON when ``json`` is given, else ``body``."""
    if json is not None:
        body = jsonlib.dumps(json).encode()
        headers = {"content-type": "application/json", **(headers or {})}
    return Response(status, headers or {}, body)


@attrs.define
class _ScriptedBody:
    status: int
    headers: Mapping[str, str]
    chunks: list[bytes]

    async def read(self, max_bytes: int = 65536) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


class FakeTransport:
    """A base for a hand-written fake transport: override :meth:`respond` (and
    :meth:`open_stream`, for streams).

    Its ``send`` calls a submit's ``on_commit`` before answering, as a transport that cannot
    hold the last byte back must (see :class:`~mediatask.http.transport.Transport`).
    """

    async def send(self, request: Request, *, on_commit: CommitHook | None = None) -> Response:
        """Call ``on_commit`` (a submit), then answer with :meth:`respond`."""
        if on_commit is not None:
            on_commit()
        return await self.respond(request)

    async def respond(self, request: Request) -> Response:
        """The answer to ``request``; this one has none."""
        raise AssertionError(f"{type(self).__name__} has no answer for {request!r}")

    def open_stream(self, request: Request) -> AbstractAsyncContextManager[Body]:
        """The answer to ``request``, as a stream; this one has none."""
        raise AssertionError(f"{type(self).__name__} has no stream for {request!r}")

    async def aclose(self) -> None:
        """Nothing to close."""


@attrs.define
class ScriptedTransport(FakeTransport):
    """A fake transport: answers each request with the next scripted Response, in order."""

    answers: list[Response] = attrs.field(factory=list)
    streams: list[tuple[int, Mapping[str, str], list[bytes]]] = attrs.field(factory=list)
    """Answers for ``open_stream``: (status, headers, body chunks)."""
    sent: list[Request] = attrs.field(factory=list)

    async def respond(self, request: Request) -> Response:
        """Record ``request`` and return the next answer."""
        self.sent.append(request)
        if not self.answers:
            raise AssertionError(f"no scripted answer left for {request!r}")
        return attrs.evolve(self.answers.pop(0), url=request.url)

    @asynccontextmanager
    async def open_stream(self, request: Request) -> AsyncIterator[Body]:
        """Record ``request`` and open the next scripted stream."""
        self.sent.append(request)
        if not self.streams:
            raise AssertionError(f"no scripted stream left for {request!r}")
        status, headers, chunks = self.streams.pop(0)
        yield _ScriptedBody(status, {k.lower(): v for k, v in headers.items()}, list(chunks))


def scripted(answers: Iterable[Response]) -> ScriptedTransport:
    """A :class:`ScriptedTransport` that gives ``answers`` in order."""
    return ScriptedTransport(list(answers))


# -- a tiny provider, for testing the core and cross-cutting plugins -------------------------

FAKE = ProviderInfo(
    name="fake",
    title="Fake",
    base_url="https://api.fake.test",
    auth_scheme="Bearer",
    operations=[
        Operation(
            "upscale",
            "Upscale",
            ("image",),
            (Param("scale", "int", default=2, choices=(2, 4)), Param("note")),
        ),
        Operation("draw", "Draw", (), (Param("prompt", required=True),)),
    ],
    capabilities=Capabilities(stream=True),
)


class FakePlugin:
    """A provider plugin (``fake``) that speaks a tiny made-up API; records what it was asked."""

    def __init__(self, info: ProviderInfo = FAKE) -> None:
        self.info = info
        self.calls: list[str] = []

    @hookimpl
    def mediatask_providers(self) -> list[ProviderInfo]:
        return [self.info]

    @hookimpl
    def mediatask_submit(self, provider: str, job: Job) -> Request:
        self.calls.append(f"submit {provider}")
        return Request("POST", "/jobs", json={"inputs": list(job.inputs), **job.params})

    @hookimpl
    def mediatask_read_submission(self, response: Response) -> Submitted:
        data = response.json_object()
        update = _update(data) if data.get("state") == "done" else None
        return Submitted(data["id"], update=update)

    @hookimpl
    def mediatask_poll(self, task: TaskRef) -> Request:
        self.calls.append(f"poll {task.provider}")
        return Request("GET", f"/jobs/{task.task_id}")

    @hookimpl
    def mediatask_stream(self, task: TaskRef) -> Request:
        return Request("GET", f"/jobs/{task.task_id}/events")

    @hookimpl
    def mediatask_parse_result(self, payload: Mapping[str, Any]) -> Update:
        return _update(payload)


_STATES = {
    "queued": Status.QUEUED,
    "running": Status.RUNNING,
    "done": Status.SUCCEEDED,
    "failed": Status.FAILED,
}


def _update(payload: Mapping[str, Any]) -> Update:
    status = _STATES[payload["state"]]
    outputs = [Output(url=payload["url"], role="image")] if payload.get("url") else []
    return Update(status, payload["state"], payload.get("progress"), payload.get("error"), outputs)


# -- sample media for emulator tests -------------------------------------------------------


def sample_clip(width: int, height: int, frames: int, fps: int) -> bytes:
    """A small H.264 MP4: ``frames`` frames of a yellow bar moving across a navy field."""
    import io  # the media libraries come with the sandbox extra: import them on use
    from fractions import Fraction

    import av
    from PIL import Image, ImageDraw

    buffer = io.BytesIO()
    bar = max(width // frames, 1)
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            image = Image.new("RGB", (width, height), "navy")
            box = (index * bar, 0, index * bar + bar - 1, height - 1)
            ImageDraw.Draw(image).rectangle(box, fill="yellow")
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]  # PyAV
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def sample_photo(
    image_format: str = "PNG",
    size: tuple[int, int] = (64, 48),
    disc: tuple[int, int, int] = (200, 30, 30),
) -> bytes:
    """A small 'photo': a ``disc``-coloured disc on a pale, uniform background."""
    import io  # Pillow comes with the sandbox extra: import it on use

    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size, (230, 240, 250))
    box = (width // 4, height // 6, 3 * width // 4, 5 * height // 6)
    ImageDraw.Draw(image).ellipse(box, fill=disc)
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


@asynccontextmanager
async def serving_samples(samples: Mapping[str, tuple[bytes, str]]) -> AsyncIterator[str]:
    """Serve ``samples`` (name → (bytes, MIME type)) at ``/samples/<name>`` on loopback.

    Emulators fetch inputs by URL, as the real APIs do; this gives tests such URLs. Yields the
    base URL.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import Response as StarletteResponse
    from starlette.routing import Route

    from mediatask.emulator import serving

    async def sample(request: StarletteRequest) -> StarletteResponse:
        found = samples.get(request.path_params["name"])
        if found is None:
            return StarletteResponse("no such sample", 404, media_type="text/plain")
        return StarletteResponse(found[0], media_type=found[1])

    async with serving(Starlette(routes=[Route("/samples/{name}", sample)])) as url:
        yield url


def sample_files(samples: Mapping[str, tuple[bytes, str]], folder: Path) -> dict[str, Path]:
    """Write ``samples`` (name → (bytes, MIME type)) as files in ``folder``; their paths by name."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (data, _) in samples.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


def samples_fixture(samples: Mapping[str, tuple[bytes, str]]) -> Any:
    """An ``inputs_url`` fixture for a plugin's ``conftest.py``: ``samples`` served on loopback.

    ``inputs_url = samples_fixture(SAMPLES)`` gives each test the base URL of a server answering
    ``/samples/<name>`` (see :func:`serving_samples`); the contract suite takes its inputs there.
    """

    @pytest.fixture
    async def inputs_url() -> AsyncIterator[str]:
        async with serving_samples(samples) as url:
            yield url

    return inputs_url


def isolated_home() -> Any:
    """An autouse fixture for a plugin's ``conftest.py``: every test gets a fresh home.

    ``isolated = isolated_home()``: commands under test write their journal and key store
    under a new ``MEDIATASK_HOME`` (see ``mediatask_home``), never the developer's own.
    """

    @pytest.fixture(autouse=True)
    def isolated(mediatask_home: Path) -> Path:
        return mediatask_home

    return isolated


@attrs.define
class RawApi:
    """A bare HTTP client for an emulator: urllib3 (not mediatask's), calls in worker threads.

    For tests of an emulator itself, which should not go through the client it helps to check.
    Subclass it to add the provider's own calls (submit, poll…). Open one with :func:`raw_api`.
    """

    emulator: Any
    """The emulator served (an :class:`~mediatask.emulator.Emulator`): its stats, faults, clock."""
    base_url: str
    """The emulator's base URL; a path given to :meth:`request` is joined to it."""
    inputs_url: str
    """Where the sample inputs are served (``inputs_url`` fixture)."""
    auth: str | None
    """The ``Authorization`` header every request carries unless told otherwise."""
    pool: urllib3.PoolManager

    def input(self, name: str) -> str:
        """The URL of the sample input ``name``."""
        return f"{self.inputs_url}/samples/{name}"

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        fields: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: str | bool | None = True,
        http_timeout: urllib3.Timeout | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request; ``body`` bytes as they are, anything else as JSON.

        ``fields``: a multipart form instead of a body. ``auth``: ``True`` sends :attr:`auth`,
        ``False`` or ``None`` no ``Authorization``, a string that header instead.
        ``http_timeout``: other than the pool's (5 s to connect, 10 s to read).
        """
        import functools

        import trio

        sent = dict(headers or {})
        authorization = self.auth if auth is True else auth or None
        if authorization is not None:
            sent["Authorization"] = authorization
        if body is not None and not isinstance(body, bytes):
            body = jsonlib.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        target = url if url.startswith(("http://", "https://")) else self.base_url + url
        options = {"timeout": http_timeout} if http_timeout is not None else {}
        send = functools.partial(
            self.pool.request, method, target, body=body, fields=fields, headers=sent, **options
        )
        return await trio.to_thread.run_sync(send, abandon_on_cancel=True)


ApiT = TypeVar("ApiT", bound=RawApi)


@asynccontextmanager
async def raw_api(
    api: type[ApiT], emulator: Any, inputs_url: str, *, auth: str | None
) -> AsyncIterator[ApiT]:
    """Serve ``emulator`` on loopback and yield an ``api`` (a :class:`RawApi` class) for it.

    No retries; 5 s to connect, 10 s to read.
    """
    import urllib3

    from mediatask.emulator import serving

    timeout = urllib3.Timeout(connect=5, read=10)
    with urllib3.PoolManager(retries=False, timeout=timeout) as pool:
        async with serving(emulator.app) as base_url:
            yield api(emulator, base_url, inputs_url, auth, pool)


@pytest.fixture
def mediatask_plugins() -> Any:
    """The installed plugins, loaded from their entry points."""
    from mediatask.providers.manager import PluginManager  # keep pytest start-up light

    return PluginManager.from_entry_points()


@pytest.fixture
async def mediatask_sandbox(mediatask_plugins: Any) -> AsyncIterator[Any]:
    """Every installed emulator on loopback with quick tasks, and a Client pointed at them."""
    from mediatask.providers.sandbox import open_sandbox

    async with (
        open_sandbox(mediatask_plugins) as box,
        quick_client(mediatask_plugins, box) as client,
    ):
        yield box, client


@asynccontextmanager
async def quick_client(
    plugins: Any, box: Any, settings: Mapping[str, Any] | None = None
) -> AsyncIterator[Any]:
    """A Client on the sandbox ``box``'s emulators, their tasks quick and its waits short.

    ``settings``: per provider, other settings than the sandbox's (e.g. a wrong key).
    """
    from mediatask._api import open_client
    from mediatask.engine.policy import PollPolicy, RetryPolicy

    for emulator in box.emulators.values():
        emulator.faults.processing_seconds = 0.2
    async with open_client(
        plugins=plugins,
        settings=_settings({**box.settings, **(settings or {})}),
        file_host=box.file_host,
        polling=PollPolicy(initial=0.05, maximum=0.2),
        retry=RetryPolicy(base_delay=0.05, max_delay=0.2),
    ) as client:
        yield client


def _settings(overrides: Any) -> Any:
    from mediatask.settings.config import Settings

    return Settings(overrides=overrides, environ={})


@attrs.frozen
class Standalone:
    """An emulator in its own process (``mediatask emulate``): it outlives the commands."""

    provider: str
    base_url: str
    key: str

    @property
    def env(self) -> dict[str, str]:
        """The environment that points mediatask at this emulator with its key."""
        name = self.provider.upper().replace("-", "_")
        return {f"MEDIATASK_{name}_BASE_URL": self.base_url, f"MEDIATASK_{name}_KEY": self.key}

    def stats(self) -> dict[str, int]:
        """The emulator's counters (submissions, polls, 429s…) from ``/_emulator/stats``."""
        return dict(self._admin_stats()["stats"])

    def submits(self) -> dict[str, dict[str, int]]:
        """Per job identity: ``{"received": n, "created": m}`` submit requests (see
        :mod:`mediatask.emulator.submissions`; a URL input's identity is ``url:`` + the URL)."""
        return dict(self._admin_stats()["submits"])

    def request_times(self) -> list[float]:
        """When each API request arrived at the emulator, in seconds on its own clock."""
        return [float(t) for t in self._admin_stats()["request_times"]]

    def created_twice(self) -> list[str]:
        """The job identities for which more than one submit created a task."""
        return sorted(key for key, seen in self.submits().items() if seen["created"] > 1)

    def set_faults(self, spec: str | None) -> None:
        """Replace the emulator's random faults (``None``: none from now on)."""
        self._admin_post("faults", {"random_faults": spec})

    def hold(self) -> None:
        """Hold work: tasks run but none finishes until :meth:`release` (``/_emulator/hold``)."""
        self._admin_post("hold", {})

    def release(self) -> None:
        """Let held work finish, and new work run through (``/_emulator/release``)."""
        self._admin_post("release", {})

    def _admin_post(self, what: str, body: dict[str, Any]) -> None:
        import urllib.request

        request = urllib.request.Request(  # noqa: S310  # loopback http
            f"{self.base_url}/_emulator/{what}",
            data=jsonlib.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310  # loopback http
            pass

    def _admin_stats(self) -> dict[str, Any]:
        import urllib.request

        url = f"{self.base_url}/_emulator/stats"
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310  # loopback http
            return dict(jsonlib.load(answer))


@contextmanager
def standalone_emulator(
    provider: str,
    key: str,
    seconds: float,
    *,
    faults: str | None = None,
    options: Sequence[str] = (),
) -> Iterator[Standalone]:
    """Run ``mediatask emulate PROVIDER`` (accepting only ``key``, tasks of ``seconds``).

    ``faults``: a spec for ``--faults`` (e.g. ``rate=0.1,seed=11``). ``options``: more
    arguments, e.g. ``("--rate", "1/s,30/min")``.

    Stops it with SIGINT at the end and checks that it exits cleanly.
    """
    import signal
    import sys

    command = ["emulate", provider, "--key", key, "--processing-seconds", str(seconds)]
    command += ["--faults", faults] if faults is not None else []
    with subprocess.Popen(  # noqa: S603  # our own command, no shell
        [sys.executable, "-m", "mediatask", *command, *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None  # noqa: S101  # piped just above
        line = process.stdout.readline()  # "<Title> emulator listening on URL (accepts ...)"
        try:
            yield Standalone(provider, _listening_on(provider, line), key)
        finally:
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=10)
        if code != 0:
            raise RuntimeError(f"mediatask emulate {provider} exited with status {code}")


def _listening_on(provider: str, line: str) -> str:
    """The URL in ``mediatask emulate``'s first line; it did not start without one."""
    import re

    found = re.search(r"listening on (\S+)", line)
    if found is None:
        raise RuntimeError(f"mediatask emulate {provider} did not start: {line!r}")
    return found.group(1)


@contextmanager
def standalone_emulators(
    keys: Mapping[str, str], seconds: float
) -> Iterator[dict[str, Standalone]]:
    """One :func:`standalone_emulator` per provider in ``keys`` (provider -> the key it takes)."""
    import contextlib

    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(standalone_emulator(name, key, seconds))
            for name, key in keys.items()
        }


def mediatask_command(
    *args: str, env: Mapping[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mediatask ARGS`` in a new process with ``env`` added to ours.

    ``timeout``: seconds before the process is killed and ``TimeoutExpired`` raised.
    """
    import os
    import sys

    return subprocess.run(  # noqa: S603  # our own command, no shell
        [sys.executable, "-m", "mediatask", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **env},
        timeout=timeout,
        check=False,
    )


def mediatask_process(
    *args: str, cwd: Path, env: Mapping[str, str], errors: bool = False
) -> subprocess.Popen[bytes]:
    """Start ``python -m mediatask ARGS`` in ``cwd`` in the background, ``env`` added to ours.

    Its stdin and stdout are closed; its stderr is piped when ``errors`` (read it, or the
    process may block once the pipe fills), else dropped. For tests that kill it.
    """
    import os
    import sys

    return subprocess.Popen(  # noqa: S603  # our own command, no shell
        [sys.executable, "-m", "mediatask", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if errors else subprocess.DEVNULL,
    )


def interrupt_batch(
    *args: str, env: Mapping[str, str], after_submitted: int
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mediatask batch ARGS`` and send it SIGINT once ``after_submitted`` of its
    jobs were submitted (it prints a line per event: its stderr is not a terminal); the process,
    with the rest of its stderr, once it has exited.
    """
    import os
    import signal
    import sys

    command = [sys.executable, "-m", "mediatask", "batch", *args]
    with subprocess.Popen(  # noqa: S603  # our own command, no shell
        command,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None  # noqa: S101  # piped just above
        submitted = 0
        for line in process.stderr:
            submitted += line.rstrip().endswith(" submitted")
            if submitted == after_submitted:
                process.send_signal(signal.SIGINT)
                break
        out, rest = process.communicate(timeout=60)
    return subprocess.CompletedProcess(command, process.returncode, out, rest)


@contextmanager
def serving_in_thread(handler: Callable[..., BaseRequestHandler]) -> Iterator[str]:
    """Serve HTTP on loopback with a stdlib ``handler``, from a thread; yields the base URL.

    For tests whose trio run belongs to the command under test (``CliRunner``) or that run
    commands in other processes.
    """
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def serving_folder(folder: Path) -> Iterator[str]:
    """Serve the files of ``folder`` (see :func:`serving_in_thread`); yields the base URL.

    Emulators fetch inputs by URL, as the real APIs do.
    """
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # stdlib's name
            pass

    with serving_in_thread(functools.partial(Quiet, directory=str(folder))) as url:
        yield url


@pytest.fixture
def mediatask_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh ``MEDIATASK_HOME`` (key store, journal), and none of the developer's settings.

    Every ``MEDIATASK_*`` variable (keys, base URLs, plugin choice) is removed for the test, so
    commands under test never read or write the developer's own. Test suites make it autouse.
    """
    import os

    for name in [name for name in os.environ if name.startswith("MEDIATASK_")]:
        monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MEDIATASK_HOME", str(home))
    return home

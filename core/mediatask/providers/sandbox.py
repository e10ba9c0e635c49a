"""The sandbox: every provider's emulator, in-process on loopback, plus a local file host.

``open_sandbox`` starts them inside the caller's trio run and returns the settings that point each
provider at its emulator with a throw-away key, and a file host that turns local files into URLs
for providers that take URLs only. Needs the ``mediatask[sandbox]`` extra.
"""

from __future__ import annotations

import mimetypes
import os
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import attrs
import trio

from mediatask.model.errors import ConfigError, UsageError, leaves
from mediatask.providers.manager import PluginManager
from mediatask.settings.config import ProviderSettings

ASGIReceive = Any
ASGISend = Any
SANDBOX_FAULTS_ENV = "MEDIATASK_SANDBOX_FAULTS"
"""Random faults for every sandbox emulator when ``open_sandbox`` is given none, e.g.
``rate=0.1,seed=11`` (the spec of ``mediatask emulate --faults``)."""


UPLOAD_LIMIT = 2**30
"""The largest file ``PUT /files/<name>`` takes (the long-lived sandbox's uploads)."""


@attrs.define
class FileHost:
    """A tiny ASGI app that serves only the files it was asked to publish, by random token.

    With ``uploads`` (a folder it owns), it also takes ``PUT /files/<name>``: the body is kept
    there and the answer is its URL. That is how commands in other processes publish to the
    long-lived sandbox (``mediatask emulate --all``;
    :class:`mediatask.engine.file_host.HttpFileHost`).
    """

    base_url: str = ""
    uploads: Path | None = None
    _files: dict[str, Path] = attrs.field(factory=dict)

    def publish(self, path: Path) -> str:
        """Return a loopback URL for ``path`` (the file itself is read when fetched)."""
        token = secrets.token_urlsafe(12)
        self._files[token] = path.resolve()
        return f"{self.base_url}/files/{token}/{quote(path.name)}"

    async def _receive_upload(self, name: str, receive: ASGIReceive, send: ASGISend) -> None:
        assert self.uploads is not None  # noqa: S101  # the caller checked
        token = secrets.token_urlsafe(12)
        path = self.uploads / f"{token}-{Path(name).name or 'file'}"
        size, more = 0, True
        async with await trio.open_file(path, "wb") as file:
            while more:
                message = await receive()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > UPLOAD_LIMIT:
                    await _answer(send, 413, f"larger than {UPLOAD_LIMIT} bytes")
                    return
                await file.write(chunk)
                more = message.get("more_body", False)
        self._files[token] = path
        await _answer(
            send, 201, f"{self.base_url}/files/{token}/{quote(path.name[len(token) + 1 :])}"
        )

    async def __call__(
        self, scope: Mapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        """Serve ``GET /files/<token>/<name>``; everything else is 404."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        parts = scope["path"].split("/")
        if scope.get("method") == "PUT":
            await self._put(parts, receive, send)
            return
        await self._get(parts, send, head=scope.get("method") == "HEAD")

    async def _put(self, parts: list[str], receive: ASGIReceive, send: ASGISend) -> None:
        """Take ``PUT /files/<name>`` when this host keeps uploads; else 405."""
        if self.uploads is None or len(parts) != 3 or parts[1] != "files" or not parts[2]:
            await _answer(send, 405, "this file host takes no uploads")
            return
        await self._receive_upload(unquote(parts[2]), receive, send)

    async def _get(self, parts: list[str], send: ASGISend, *, head: bool) -> None:
        """Send the published file ``/files/<token>/<name>`` names, or 404."""
        path = self._files.get(parts[2]) if len(parts) == 4 and parts[1] == "files" else None
        try:
            file = await trio.open_file(path, "rb") if path is not None else None
        except OSError:
            file = None
        if file is None:
            await _answer(send, 404, "not found")
            return
        async with file:
            await _stream_file(file, send, head)


async def _lifespan(receive: ASGIReceive, send: ASGISend) -> None:
    """Answer an ASGI server's lifespan messages: nothing to start or stop."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})


FILE_CHUNK = 256 * 1024
"""How much of a published file is read (in a worker thread) and sent at a time."""


async def _stream_file(file: Any, send: ASGISend, head: bool) -> None:
    """Send an open file in chunks: reads run in worker threads, so the event loop (and Ctrl-C)
    is never blocked, and the server's flow control paces the reads."""
    size = (await trio.to_thread.run_sync(os.fstat, file.fileno())).st_size
    mime = mimetypes.guess_type(str(file.name))[0] or "application/octet-stream"
    await _start(send, 200, mime, size)
    if head:
        await send({"type": "http.response.body", "body": b""})
        return
    while True:
        chunk = await file.read(FILE_CHUNK)
        more = len(chunk) == FILE_CHUNK
        await send({"type": "http.response.body", "body": chunk, "more_body": more})
        if not more:
            return


async def _answer(send: ASGISend, status: int, text: str) -> None:
    body = text.encode()
    await _start(send, status, "text/plain", len(body))
    await send({"type": "http.response.body", "body": body})


async def _start(send: ASGISend, status: int, content_type: str, length: int) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(length).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})


def single_error(error: BaseException) -> BaseException:
    """The one error an ExceptionGroup stands for, or ``error`` itself.

    The sandbox's servers run in nurseries, which wrap whatever the caller's block raises into
    (nested) ExceptionGroups. When the group holds one exception (beside any ``Cancelled`` its
    siblings got), that exception is what happened, and callers get it unwrapped.
    """
    if not isinstance(error, BaseExceptionGroup):
        return error
    errors: list[BaseException] = list(leaves(error))
    real = [leaf for leaf in errors if not isinstance(leaf, trio.Cancelled)]
    if len(real) == 1:
        return real[0]
    return errors[0] if not real and len(errors) == 1 else error


@attrs.frozen
class Sandbox:
    """What a running sandbox offers: provider settings, the file host, the emulators."""

    settings: Mapping[str, ProviderSettings]
    file_host: FileHost
    emulators: Mapping[str, Any]
    """Each provider's emulator object, for tests that turn its knobs or read its counters."""


def require_serving() -> Any:
    """Return the emulator toolkit's ``serving``; :class:`ConfigError` if the extra is missing."""
    try:
        from mediatask.emulator import serving  # optional extra
    except ImportError as exc:
        raise ConfigError(
            f"the sandbox needs the emulator extra ({exc.name} is missing): "
            "pip install 'mediatask[sandbox]'"
        ) from None
    return serving


SANDBOX_OPTIONS_ENV = "MEDIATASK_SANDBOX_{name}"
"""Per provider: emulator options for the sandbox, ``OPTION=VALUE`` pairs separated by ``;``
(``MEDIATASK_SANDBOX_A2E=error-style=http200``, ``MEDIATASK_SANDBOX_CLAID=rate=1/s,30/min``)."""


def configure_emulator(emulator: Any, provider: str, option: str, value: str) -> None:
    """Set one of ``provider``'s emulator options; :class:`UsageError` names what is wrong."""
    configure = getattr(emulator, "configure", None)
    if configure is None:
        raise UsageError(f"the {provider} emulator takes no options (asked for {option})")
    try:
        configure(option, value)
    except UsageError as exc:
        raise UsageError(f"{provider} emulator: {exc}") from None


def sandbox_options(emulator: Any, provider: str, environ: Mapping[str, str]) -> None:
    """Apply ``$MEDIATASK_SANDBOX_<NAME>`` (see :data:`SANDBOX_OPTIONS_ENV`) to ``emulator``."""
    variable = SANDBOX_OPTIONS_ENV.format(name=provider.upper().replace("-", "_"))
    for pair in environ.get(variable, "").split(";"):
        if not pair.strip():
            continue
        option, sign, value = pair.partition("=")
        if not sign:
            raise UsageError(f"{variable}: {pair.strip()!r} is not OPTION=VALUE")
        configure_emulator(emulator, provider, option.strip(), value.strip())


def random_faults(spec: str) -> Any:
    """Parse a fault spec (``rate=0.1,seed=11``); :class:`ConfigError` if it is wrong."""
    from mediatask.emulator.faults import RandomFaults  # optional extra, after require_serving

    try:
        return RandomFaults.parse(spec)
    except ValueError as exc:
        raise ConfigError(f"bad fault spec {spec!r}: {exc}") from None


@asynccontextmanager
async def open_sandbox(
    plugins: PluginManager,
    providers: Iterable[str] | None = None,
    *,
    max_in_progress: int | None = None,
    faults: str | None = None,
    uploads: Path | None = None,
) -> AsyncIterator[Sandbox]:
    """Serve the emulators of ``providers`` (default: all that have one) and a file host.

    ``max_in_progress``: each emulator answers 429 to submits beyond this many tasks in progress.
    ``faults``: random faults for every emulator, as ``mediatask emulate --faults`` takes them
    (default: ``$MEDIATASK_SANDBOX_FAULTS``, else none).
    ``uploads``: a folder where the file host keeps files uploaded to it (default: it takes
    none).
    """
    serving = require_serving()
    spec = faults if faults is not None else os.environ.get(SANDBOX_FAULTS_ENV, "").strip()
    chaos = random_faults(spec) if spec else None
    names = list(providers) if providers is not None else sorted(plugins.providers)
    emulators: dict[str, Any] = {}
    for name in names:  # configured before anything is served: a wrong option is one clear line
        emulator = plugins.emulator(name)
        if emulator is None:
            continue
        emulator.accepted_key = "sandbox-" + secrets.token_hex(8)
        emulator.limit.max_in_progress = max_in_progress
        emulator.faults.random_faults = chaos
        sandbox_options(emulator, name, os.environ)
        emulators[name] = emulator
    async with AsyncExitStack() as stack:
        file_host = FileHost(uploads=uploads)
        file_host.base_url = await stack.enter_async_context(serving(file_host))
        settings: dict[str, ProviderSettings] = {}
        for name, emulator in emulators.items():
            base_url = await stack.enter_async_context(serving(emulator.app))
            settings[name] = ProviderSettings(base_url=base_url, key=emulator.accepted_key)
        yield Sandbox(settings, file_host, emulators)

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
from urllib.parse import quote

import attrs

from mediatask.config import ProviderSettings
from mediatask.errors import ConfigError
from mediatask.plugins import PluginManager

ASGIReceive = Any
ASGISend = Any
SANDBOX_FAULTS_ENV = "MEDIATASK_SANDBOX_FAULTS"
"""Random faults for every sandbox emulator when ``open_sandbox`` is given none, e.g.
``rate=0.1,seed=11`` (the spec of ``mediatask emulate --faults``)."""


@attrs.define
class FileHost:
    """A tiny ASGI app that serves only the files it was asked to publish, by random token."""

    base_url: str = ""
    _files: dict[str, Path] = attrs.field(factory=dict)

    def publish(self, path: Path) -> str:
        """Return a loopback URL for ``path`` (the file itself is read when fetched)."""
        token = secrets.token_urlsafe(12)
        self._files[token] = path.resolve()
        return f"{self.base_url}/files/{token}/{quote(path.name)}"

    async def __call__(
        self, scope: Mapping[str, Any], receive: ASGIReceive, send: ASGISend
    ) -> None:
        """Serve ``GET /files/<token>/<name>``; everything else is 404."""
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        parts = scope["path"].split("/")
        path = self._files.get(parts[2]) if len(parts) == 4 and parts[1] == "files" else None
        if path is None or not path.is_file():
            await _respond(send, 404, b"not found", "text/plain")
            return
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        await _respond(send, 200, path.read_bytes(), mime)


async def _respond(send: ASGISend, status: int, body: bytes, content_type: str) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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


def random_faults(spec: str) -> Any:
    """Parse a fault spec (``rate=0.1,seed=11``); :class:`ConfigError` if it is wrong."""
    from mediatask.emulator.faults import RandomFaults  # optional extra, after require_serving

    try:
        return RandomFaults.parse(spec)
    except ValueError as exc:
        raise ConfigError(f"bad fault spec {spec!r}: {exc}") from None


@asynccontextmanager
async def open_sandbox(
    plugins: PluginManager, providers: Iterable[str] | None = None, *, faults: str | None = None
) -> AsyncIterator[Sandbox]:
    """Serve the emulators of ``providers`` (default: all that have one) and a file host.

    ``faults``: random faults for every emulator, as ``mediatask emulate --faults`` takes them
    (default: ``$MEDIATASK_SANDBOX_FAULTS``, else none).
    """
    serving = require_serving()
    spec = faults if faults is not None else os.environ.get(SANDBOX_FAULTS_ENV, "").strip()
    chaos = random_faults(spec) if spec else None
    names = list(providers) if providers is not None else sorted(plugins.providers)
    async with AsyncExitStack() as stack:
        file_host = FileHost()
        file_host.base_url = await stack.enter_async_context(serving(file_host))
        settings: dict[str, ProviderSettings] = {}
        emulators: dict[str, Any] = {}
        for name in names:
            emulator = plugins.emulator(name)
            if emulator is None:
                continue
            key = "sandbox-" + secrets.token_hex(8)
            emulator.accepted_key = key
            emulator.faults.random_faults = chaos
            base_url = await stack.enter_async_context(serving(emulator.app))
            settings[name] = ProviderSettings(base_url=base_url, key=key)
            emulators[name] = emulator
        yield Sandbox(settings, file_host, emulators)

"""Serve an emulator's ASGI app with Hypercorn on trio, in-process or standalone."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import cast

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from hypercorn.typing import Framework
from starlette.types import ASGIApp

IN_PROCESS_GRACE_SECONDS = 0.1
"""How long open connections (an SSE stream, say) get once an in-process server is left: its
caller has finished with it, so nothing is waiting for them."""
STANDALONE_GRACE_SECONDS = 3.0
"""The same for ``mediatask emulate``, whose clients live in other processes."""

log = logging.getLogger(__name__)


def _framework(app: ASGIApp) -> Framework:
    # Hypercorn types scopes and events as TypedDicts; Starlette as plain mappings. Same protocol.
    return cast("Framework", app)


def _config(host: str, port: int, *, in_process: bool) -> Config:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    # Hypercorn listens with a backlog of 100: a batch opening 1,000 connections at once
    # overflows it, and the kernel resets some after their requests were written.
    config.backlog = 4096
    if in_process:
        config.graceful_timeout = IN_PROCESS_GRACE_SECONDS
        # Our own logger: nothing goes to stderr unless the application (or pytest) asks.
        config.errorlog = log
    else:
        config.graceful_timeout = STANDALONE_GRACE_SECONDS
    return config


@asynccontextmanager
async def serving(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve an ASGI app with Hypercorn on trio inside the caller's trio run.

    Yields the base URL (e.g. ``http://127.0.0.1:54321``) once the socket is listening and the
    app's lifespan startup has run; shuts the server down on exit. Port 0 picks a free port.
    """
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(
            partial(
                serve,
                _framework(app),
                _config(host, port, in_process=True),
                shutdown_trigger=shutdown.wait,
            )
        )
        try:
            yield binds[0]
        finally:
            shutdown.set()
            # Hypercorn gives open connections their grace, then runs the app's lifespan
            # shutdown; this deadline bounds the whole exit even if that hangs.
            nursery.cancel_scope.deadline = trio.current_time() + IN_PROCESS_GRACE_SECONDS + 2


async def serve_forever(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve an ASGI app until cancelled (for ``mediatask emulate``); logs to stderr.

    With ``nursery.start`` the base URL is handed back once the server listens.
    """

    async def run(task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(_framework(app), _config(host, port, in_process=False), task_status=task_status)

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(run)
        task_status.started(binds[0])

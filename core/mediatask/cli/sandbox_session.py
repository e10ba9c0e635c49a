"""``mediatask emulate --all``: the long-lived sandbox for flows of several commands.

Every provider's emulator and a file host that takes uploads listen on free loopback ports
until Ctrl-C. The ``export`` lines printed on standard output point mediatask in another shell
at them: each provider's base URL and key, the file host (``MEDIATASK_FILE_HOST``), and a
``MEDIATASK_HOME`` of its own, so the sandbox's jobs never enter the user's real journal. All
of it, uploads and journal included, is removed when the sandbox stops.
"""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path

import click
import trio

from mediatask.cli.base import user_errors
from mediatask.cli.interrupt import run_cancellable
from mediatask.engine.file_host import FILE_HOST_ENV
from mediatask.providers.manager import PluginManager
from mediatask.providers.sandbox import Sandbox, open_sandbox
from mediatask.settings.keys import HOME_ENV


def export_lines(plugins: PluginManager, box: Sandbox, home: Path) -> list[str]:
    """The shell lines that point mediatask at ``box``: what ``emulate --all`` prints."""
    lines = []
    for name, settings in sorted(box.settings.items()):
        info = plugins.provider(name)
        lines.append(f"export {info.base_url_env}={settings.base_url}")
        lines.append(f"export {info.key_env}={settings.key}")
    lines.append(f"export {FILE_HOST_ENV}={box.file_host.base_url}")
    lines.append(f"export {HOME_ENV}={home}")
    return lines


def serve_all(
    plugins: PluginManager,
    processing_seconds: float | None,
    max_in_flight: int | None,
    fault_spec: str | None,
) -> None:
    """Serve the long-lived sandbox until Ctrl-C, after printing its ``export`` lines."""

    async def main(home: Path, uploads: Path) -> None:
        async with open_sandbox(
            plugins, max_in_progress=max_in_flight, faults=fault_spec or "", uploads=uploads
        ) as box:
            if processing_seconds is not None:
                for emulator in box.emulators.values():
                    emulator.faults.processing_seconds = processing_seconds
            click.echo(
                f"sandbox: {', '.join(sorted(box.settings))} and a file host, until Ctrl-C. "
                "Paste into another shell:",
                err=True,
            )
            click.echo("\n".join(export_lines(plugins, box, home)))
            sys.stdout.flush()
            click.echo(
                "Its tasks, uploads and journal go when it stops; open a new shell for the "
                "real APIs.",
                err=True,
            )
            await trio.sleep_forever()

    with tempfile.TemporaryDirectory(prefix="mediatask-sandbox-") as folder:
        home, uploads = Path(folder, "home"), Path(folder, "uploads")
        home.mkdir(mode=0o700)
        uploads.mkdir()
        with user_errors():
            run_cancellable(partial(main, home, uploads))
    click.echo("sandbox stopped", err=True)

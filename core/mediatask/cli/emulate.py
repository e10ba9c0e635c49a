"""``mediatask emulate``: serve one provider's emulator standalone, or (``--all``) the long-lived
sandbox: every provider's emulator and a file host, until Ctrl-C."""

from __future__ import annotations

from functools import partial
from typing import Any

import click
import trio

from mediatask.cli.base import cli, load_plugins, user_errors
from mediatask.cli.complete import complete_provider
from mediatask.cli.interrupt import run_cancellable
from mediatask.cli.sandbox_session import serve_all
from mediatask.model.errors import UsageError
from mediatask.model.values import ProviderInfo
from mediatask.providers.manager import PluginManager
from mediatask.providers.sandbox import configure_emulator, random_faults, require_serving

EMULATE_HELP = """Serve PROVIDER's emulated API on HOST:PORT until Ctrl-C; with --all,
    every provider's.

    --all is the sandbox for more than one command (submit, then watch, then download): each
    emulator and a file host for local files listen on free loopback ports, and the lines it
    prints, pasted into another shell, point mediatask at them with their keys and a journal
    of their own. Tasks live as long as this command.

    --faults SPEC faults requests at random: NAME=VALUE pairs, comma-separated. rate=R faults
    a share R of all requests (kinds drawn evenly), KIND=R sets one kind's rate, seed=N makes
    the draws reproducible, stall-seconds=S bounds stalls and slow downloads, retry-after=S goes
    with each 429. Kinds: 5xx, 429, reset-before, reset-after, truncated, malformed,
    html, stall, stream-cut, stream-stall, stream-duplicate, slow-download, expired.
    GET /_emulator/stats counts requests, faults and, per job, submits and tasks created.

    \b
    Examples:
      mediatask emulate --all
      mediatask emulate a1d --port 8080 --key secret
      mediatask emulate claid --faults rate=0.1,seed=11,expired=0
      mediatask emulate claid --rate 1/s,30/min
      mediatask emulate a2e --error-style http200
      MEDIATASK_A1D_BASE_URL=http://127.0.0.1:8080 MEDIATASK_A1D_KEY=secret \\
        mediatask run a1d image-upscaler --input URL -p scale=4 -o out
    """
"""Help of ``mediatask emulate``."""


@cli.command("emulate", help=EMULATE_HELP)
@click.argument("provider", required=False, shell_complete=complete_provider)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Serve every provider's emulator and a file host, and print the lines to export.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=0,
    type=click.IntRange(0, 65535),
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option("--key", default=None, help="Accept only this API key (default: any key).")
@click.option(
    "--processing-seconds",
    type=click.FloatRange(0),
    default=None,
    help="How long each emulated task takes.",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(1),
    default=None,
    help="Answer 429 (with Retry-After) to submits beyond this many tasks in progress per key.",
)
@click.option(
    "--rate",
    default=None,
    metavar="SPEC",
    help="The account's rate windows, e.g. 1/s,30/min (emulators that count requests: claid).",
)
@click.option(
    "--error-style",
    default=None,
    metavar="STYLE",
    help="How errors are answered, where the provider has two forms (a2e: http4xx, http200).",
)
@click.option(
    "--faults",
    "fault_spec",
    default=None,
    metavar="SPEC",
    help="Inject random faults, e.g. rate=0.1,seed=11 or 5xx=0.02,reset-after=0.01.",
)
def emulate_command(
    provider: str | None,
    every: bool,
    host: str,
    port: int,
    key: str | None,
    processing_seconds: float | None,
    max_in_flight: int | None,
    rate: str | None,
    error_style: str | None,
    fault_spec: str | None,
) -> None:
    """``mediatask emulate``: its help is :data:`EMULATE_HELP`."""
    plugins = load_plugins()
    if every or provider is None:
        with user_errors():
            _check_all(provider, every, host=host, port=port, key=key, fault_spec=fault_spec)
        serve_all(plugins, processing_seconds, max_in_flight, fault_spec)
        return
    with user_errors():
        info = plugins.provider(provider)
        serving = require_serving()
        emulator = _configured(plugins, info, fault_spec, rate=rate, error_style=error_style)
    emulator.accepted_key = key
    if processing_seconds is not None:
        emulator.faults.processing_seconds = processing_seconds
    emulator.limit.max_in_progress = max_in_flight
    with user_errors():
        run_cancellable(partial(_serve, serving, emulator, info, host, port, key))
    click.echo("emulator stopped", err=True)


def _check_all(
    provider: str | None,
    every: bool,
    *,
    host: str,
    port: int,
    key: str | None,
    fault_spec: str | None,
) -> None:
    """Refuse what ``--all`` cannot do, before anything is served."""
    if provider is not None or not every:
        raise UsageError("name one PROVIDER, or give --all (and no PROVIDER)")
    if port or key or host != "127.0.0.1":
        raise UsageError(
            "--host, --port and --key serve one provider; --all picks free loopback ports "
            "and a key per provider, and prints them"
        )
    require_serving()
    if fault_spec is not None:
        random_faults(fault_spec)  # a bad spec is a one-line error here


def _configured(
    plugins: PluginManager,
    info: ProviderInfo,
    fault_spec: str | None,
    *,
    rate: str | None,
    error_style: str | None,
) -> Any:
    """The provider's emulator, with its faults, ``--rate`` and ``--error-style`` set."""
    emulator = plugins.emulator(info.name)
    if emulator is None:
        raise UsageError(f"the {info.name} plugin ships no emulator")
    if fault_spec is not None:
        emulator.faults.random_faults = random_faults(fault_spec)
    for option, value in (("rate", rate), ("error-style", error_style)):
        if value is not None:
            configure_emulator(emulator, info.name, option, value)
    return emulator


async def _serve(
    serving: Any, emulator: Any, info: ProviderInfo, host: str, port: int, key: str | None
) -> None:
    """Serve ``emulator`` on ``host``:``port`` and say where, until cancelled."""
    async with serving(emulator.app, host=host, port=port) as base_url:
        accepts = "only the key given with --key" if key else "any key"
        click.echo(f"{info.title} emulator listening on {base_url} (accepts {accepts})")
        click.echo(f"  export {info.base_url_env}={base_url}")
        if emulator.faults.random_faults is not None:
            click.echo(f"  faults: {emulator.faults.random_faults.spec()}")
        await trio.sleep_forever()

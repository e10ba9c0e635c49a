"""``mediatask emulate``: serve one provider's emulator standalone, until Ctrl-C."""

from __future__ import annotations

import click
import trio

from mediatask.cli.base import cli, load_plugins, user_errors
from mediatask.cli.complete import complete_provider
from mediatask.cli.interrupt import run_cancellable
from mediatask.errors import UsageError
from mediatask.sandbox import random_faults, require_serving


@cli.command("emulate")
@click.argument("provider", shell_complete=complete_provider)
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
    "--faults",
    "fault_spec",
    default=None,
    metavar="SPEC",
    help="Inject random faults, e.g. rate=0.1,seed=11 or 5xx=0.02,reset-after=0.01.",
)
def emulate_command(
    provider: str,
    host: str,
    port: int,
    key: str | None,
    processing_seconds: float | None,
    max_in_flight: int | None,
    fault_spec: str | None,
) -> None:
    """Serve PROVIDER's emulated API on HOST:PORT until Ctrl-C.

    --faults SPEC faults requests at random: NAME=VALUE pairs, comma-separated. rate=R faults
    a share R of all requests (kinds drawn evenly), KIND=R sets one kind's rate, seed=N makes
    the draws reproducible, stall-seconds=S bounds stalls and slow downloads, retry-after=S goes
    with each 429. Kinds: 5xx, 429, reset-before, reset-after, truncated, malformed,
    html, stall, stream-cut, stream-stall, stream-duplicate, slow-download, expired.
    GET /_emulator/stats counts requests, faults and, per job, submits and tasks created.

    \b
    Examples:
      mediatask emulate a1d --port 8080 --key secret
      mediatask emulate claid --faults rate=0.1,seed=11,expired=0
      MEDIATASK_A1D_BASE_URL=http://127.0.0.1:8080 MEDIATASK_A1D_KEY=secret \\
        mediatask run a1d image-upscaler --input URL -p scale=4 -o out
    """
    plugins = load_plugins()
    with user_errors():
        info = plugins.provider(provider)
        serving = require_serving()
        emulator = plugins.emulator(info.name)
        if emulator is None:
            raise UsageError(f"the {info.name} plugin ships no emulator")
        if fault_spec is not None:
            emulator.faults.random_faults = random_faults(fault_spec)
    emulator.accepted_key = key
    if processing_seconds is not None:
        emulator.faults.processing_seconds = processing_seconds
    emulator.limit.max_in_progress = max_in_flight

    async def main() -> None:
        async with serving(emulator.app, host=host, port=port) as base_url:
            accepts = "only the key given with --key" if key else "any key"
            click.echo(f"{info.title} emulator listening on {base_url} (accepts {accepts})")
            click.echo(f"  export {info.base_url_env}={base_url}")
            if emulator.faults.random_faults is not None:
                click.echo(f"  faults: {emulator.faults.random_faults.spec()}")
            await trio.sleep_forever()

    with user_errors():
        run_cancellable(main)
    click.echo("emulator stopped", err=True)

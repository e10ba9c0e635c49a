"""``mediatask manifest``: a batch manifest for a folder of inputs and one operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mediatask.batch.manifest import MEDIA_KINDS, folder_lines, media_files
from mediatask.cli.base import cli, load_plugins, user_errors
from mediatask.cli.complete import complete_operation, complete_provider
from mediatask.cli.run import params_options
from mediatask.model.errors import UsageError
from mediatask.model.values import Operation, ProviderInfo
from mediatask.providers.validate import check_params, find_operation

MANIFEST_HELP = """Write a batch manifest: OPERATION of PROVIDER on every image, video or
    audio file in FOLDER.

    One JSON line per file of the kind the operation takes (an image for an image operation),
    in name order, with the same parameters; each job is named after its file, so `mediatask
    batch` writes OUT/NAME-ROLE.EXT. Hidden files and files of other kinds are passed over (the
    count is said on stderr).

    \b
    Examples:
      mediatask manifest photos a1d image-upscaler -p scale=4 -o jobs.jsonl
      mediatask batch jobs.jsonl -o out
      mediatask manifest photos a1d remove-bg --pattern '*.png' > jobs.jsonl
    """
"""Help of ``mediatask manifest``."""


@cli.command("manifest", help=MANIFEST_HELP)
@click.argument("folder", type=click.Path(path_type=Path))
@click.argument("provider", shell_complete=complete_provider)
@click.argument("operation", shell_complete=complete_operation)
@params_options(
    each="A parameter given to every job (repeatable).",
    whole="Parameters for every job as a JSON object; -p options override it.",
)
@click.option(
    "--pattern",
    default="*",
    show_default=True,
    metavar="GLOB",
    help="Take only the files whose names match (e.g. '*.png').",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the manifest to this file (paths relative to it) instead of standard output "
    "(absolute paths).",
)
def manifest_command(
    folder: Path,
    provider: str,
    operation: str,
    params: dict[str, Any],
    pattern: str,
    output: Path | None,
) -> None:
    """``mediatask manifest``: its help is :data:`MANIFEST_HELP`."""
    with user_errors():
        info, found = _one_input_operation(provider, operation, params)
        kind = found.input_kinds[0] if found.input_kinds else None
        kinds = (kind,) if kind in MEDIA_KINDS else MEDIA_KINDS
        files, skipped = media_files(folder, pattern, kinds)
        if not files:
            what = " or ".join(kinds)
            raise UsageError(f"no {what} file in {folder} matches {pattern!r}")
        lines = folder_lines(files, info.name, found.name, params, output and output.parent)
        _write("".join(line + "\n" for line in lines), output)
    click.echo(_counted(len(files), skipped, output), err=True)


def _one_input_operation(
    provider: str, operation: str, params: dict[str, Any]
) -> tuple[ProviderInfo, Operation]:
    """The provider and its operation, which must take one input; ``params`` checked."""
    info = load_plugins().provider(provider)
    found = find_operation(info, operation)
    if len(found.inputs) != 1:
        raise UsageError(
            f"{info.name} {found.name} takes {len(found.inputs)} inputs, not one per file: "
            "write its manifest by hand (see `mediatask batch --help`)"
        )
    if not found.open_params:
        check_params(f"{info.name} {found.name}", found, params)
    return info, found


def _write(text: str, output: Path | None) -> None:
    """The manifest to ``output``, else to standard output."""
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None


def _counted(files: int, skipped: int, output: Path | None) -> str:
    """``12 jobs in jobs.jsonl; passed over 2 other files``: what was written."""
    jobs = f"{files} job" + ("" if files == 1 else "s")
    passed = (
        f"; passed over {skipped} other file" + ("" if skipped == 1 else "s") if skipped else ""
    )
    return f"{jobs}{' in ' + str(output) if output else ''}{passed}"

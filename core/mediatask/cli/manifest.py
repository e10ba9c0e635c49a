"""``mediatask manifest``: a batch manifest for a folder of inputs and one operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mediatask.batch.manifest import MEDIA_KINDS, folder_lines, media_files
from mediatask.cli.base import cli, load_plugins, user_errors
from mediatask.cli.complete import complete_operation, complete_param, complete_provider
from mediatask.cli.run import parse_params, read_params_file
from mediatask.model.errors import UsageError
from mediatask.providers.validate import check_params, find_operation


@cli.command("manifest")
@click.argument("folder", type=click.Path(path_type=Path))
@click.argument("provider", shell_complete=complete_provider)
@click.argument("operation", shell_complete=complete_operation)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    callback=parse_params,
    shell_complete=complete_param,
    help="A parameter given to every job (repeatable).",
)
@click.option(
    "--params-file",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=read_params_file,
    metavar="FILE.json",
    help="Parameters for every job as a JSON object; -p options override it.",
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
    params: dict[str, str],
    params_file: dict[str, Any],
    pattern: str,
    output: Path | None,
) -> None:
    """Write a batch manifest: OPERATION of PROVIDER on every image, video or audio file in
    FOLDER.

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
    merged = {**params_file, **params}
    with user_errors():
        info = load_plugins().provider(provider)
        found = find_operation(info, operation)
        if len(found.inputs) != 1:
            raise UsageError(
                f"{info.name} {found.name} takes {len(found.inputs)} inputs, not one per file: "
                "write its manifest by hand (see `mediatask batch --help`)"
            )
        if not found.open_params:
            check_params(f"{info.name} {found.name}", found, merged)
        kind = found.input_kinds[0] if found.input_kinds else None
        kinds = (kind,) if kind in MEDIA_KINDS else MEDIA_KINDS
        files, skipped = media_files(folder, pattern, kinds)
        if not files:
            what = " or ".join(kinds)
            raise UsageError(f"no {what} file in {folder} matches {pattern!r}")
        lines = folder_lines(files, info.name, found.name, merged, output and output.parent)
        text = "".join(line + "\n" for line in lines)
        if output is None:
            click.echo(text, nl=False)
        else:
            try:
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    jobs = f"{len(files)} job" + ("" if len(files) == 1 else "s")
    passed = (
        f"; passed over {skipped} other file" + ("" if skipped == 1 else "s") if skipped else ""
    )
    click.echo(f"{jobs}{' in ' + str(output) if output else ''}{passed}", err=True)

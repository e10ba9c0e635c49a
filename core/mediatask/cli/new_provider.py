"""``mediatask new-provider``: lay out a new provider plugin from the reference plugin's template.

The template (``mediatask/provider_template``, ``*.tmpl`` files with ``${...}`` fields) is the
reference plugin, Echo, with its names left open: ``plugins/echo`` is this template rendered for
the name ``echo`` (a test keeps them equal), so a new plugin passes the contract suite at once.
"""

from __future__ import annotations

import re
import string
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

import attrs
import click

from mediatask.cli.base import cli, user_errors
from mediatask.model.errors import UsageError

TEMPLATE = "provider_template"
"""The template's folder inside the ``mediatask`` package."""
MODULE_FOLDER = "module"
"""The template's name for the plugin's package folder."""
NAME = re.compile(r"[a-z][a-z0-9_-]*")
"""A provider name: the CLI's first word and the key variable's middle (``ProviderInfo.name``)."""


@attrs.frozen
class ProviderNames:
    """Every spelling of a new provider's name that its files use."""

    name: str
    """The provider's name: ``acme-ai``."""
    title: str
    """What ``mediatask providers`` shows: ``Acme Ai``."""

    @property
    def module(self) -> str:
        """The plugin's package: ``mediatask_acme_ai``."""
        return "mediatask_" + self.name.replace("-", "_")

    @property
    def dist(self) -> str:
        """The distribution to publish: ``mediatask-acme-ai``."""
        return "mediatask-" + self.name.replace("_", "-")

    @property
    def class_prefix(self) -> str:
        """The name in class names and prose: ``AcmeAi``."""
        return "".join(part.capitalize() for part in re.split(r"[-_]", self.name) if part)

    def fields(self) -> dict[str, str]:
        """The template's fields."""
        return {
            "name": self.name,
            "title": self.title,
            "module": self.module,
            "dist": self.dist,
            "Name": self.class_prefix,
        }


def provider_names(name: str, title: str | None = None) -> ProviderNames:
    """The spellings of ``name``; ``UsageError`` when it cannot name a provider."""
    if NAME.fullmatch(name) is None:
        raise UsageError(
            f"{name!r} cannot name a provider: use lower-case letters, digits, - and _, "
            "starting with a letter (e.g. acme or acme-ai)"
        )
    return ProviderNames(name, title or " ".join(re.split(r"[-_]", name)).title())


def render_provider(names: ProviderNames) -> dict[PurePosixPath, str]:
    """The new plugin's files (path inside its folder → text), from the template."""
    files: dict[PurePosixPath, str] = {}
    fields = names.fields()

    def walk(folder: Traversable, path: PurePosixPath) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                name = names.module if entry.name == MODULE_FOLDER else entry.name
                walk(entry, path / name)
            elif entry.name.endswith(".tmpl"):
                text = string.Template(entry.read_text(encoding="utf-8")).substitute(fields)
                files[path / entry.name.removesuffix(".tmpl")] = text

    walk(resources.files("mediatask").joinpath(TEMPLATE), PurePosixPath())
    return dict(sorted(files.items()))


def write_provider(names: ProviderNames, folder: Path) -> list[Path]:
    """Write the new plugin into ``folder`` (new or empty); the files written."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"{folder} already exists and is not an empty folder: choose another")
    written = []
    for relative, text in render_provider(names).items():
        path = folder.joinpath(*relative.parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        written.append(path)
    return written


@cli.command("new-provider")
@click.argument("name")
@click.argument("folder", required=False, type=click.Path(path_type=Path), metavar="[DIR]")
@click.option("--title", help="What `mediatask providers` shows (default: from NAME).")
def new_provider_command(name: str, folder: Path | None, title: str | None) -> None:
    """Lay out a provider plugin NAME in DIR from the reference plugin.

    DIR is ./mediatask-NAME unless given. The folder holds the package (plugin module and
    emulator), its pyproject with the entry point, and tests that subclass the contract suite:
    it passes at once. Then change what your API spells differently
    (docs/writing-a-provider.md).

    \b
    Examples:
      mediatask new-provider acme
      mediatask new-provider acme-ai plugins/acme --title "Acme AI"
    """
    with user_errors():
        names = provider_names(name, title)
        target = folder if folder is not None else Path(names.dist)
        write_provider(names, target)
    click.echo(f"wrote {names.dist} ({names.name}) in {target}; next:")
    click.echo(f"  mediatask install -e {target}")
    click.echo(f"  pytest {target / 'tests'}")
    click.echo(f"  mediatask run {names.name} mirror --input photo.png -o out --sandbox")

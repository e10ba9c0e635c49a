"""``mediatask install`` and ``uninstall``: add plugins to the environment mediatask runs in.

With pipx (or any isolated install) the CLI has its own environment; ``pip install`` in the
user's shell would put a plugin somewhere mediatask never looks. These run this Python's pip.
"""

from __future__ import annotations

import subprocess
import sys

import click

from mediatask.cli.base import cli


def pip(*args: str) -> int:
    """Run this interpreter's pip with ``args``; its exit status."""
    return subprocess.call([sys.executable, "-m", "pip", *args])  # noqa: S603  # no shell


@cli.command("install")
@click.argument("packages", nargs=-1, required=True, metavar="PACKAGE...")
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade the packages if installed.")
@click.option("-e", "--editable", is_flag=True, help="Install a local folder in editable mode.")
def install_command(packages: tuple[str, ...], upgrade: bool, editable: bool) -> None:
    """Install packages (plugins) into mediatask's own environment, with its pip.

    \b
    Examples:
      mediatask install mediatask-replicate
      mediatask install -U mediatask-a2e
      mediatask install -e ./my-plugin
    """
    options = ["--upgrade"] * upgrade
    targets = [
        item for package in packages for item in (["-e", package] if editable else [package])
    ]
    sys.exit(pip("install", *options, *targets))


@cli.command("uninstall")
@click.argument("packages", nargs=-1, required=True, metavar="PACKAGE...")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def uninstall_command(packages: tuple[str, ...], yes: bool) -> None:
    """Remove packages (plugins) from mediatask's own environment, with its pip.

    \b
    Examples:
      mediatask uninstall mediatask-replicate
      mediatask uninstall -y mediatask-replicate
    """
    sys.exit(pip("uninstall", *(["-y"] * yes), *packages))

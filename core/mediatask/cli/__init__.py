"""The ``mediatask`` command line: thin commands that parse, call the library, and print."""

from __future__ import annotations

from mediatask.cli import emulate, providers, run  # noqa: F401  # registers the commands
from mediatask.cli.base import cli, main

__all__ = ["cli", "main"]

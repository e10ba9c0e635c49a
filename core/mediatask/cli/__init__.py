"""The ``mediatask`` command line: thin commands that parse, call the library, and print.

One module per command group: ``providers`` (providers, plugins), ``run`` (run, submit),
``tasks`` (status, watch, wait, download, cancel), ``account`` (list, credits), ``batch``,
``jobs`` (the journal), ``keys``, ``emulate``.
"""

from __future__ import annotations

from mediatask.cli import (  # noqa: F401  # importing registers the commands
    account,
    batch,
    emulate,
    jobs,
    keys,
    providers,
    run,
    tasks,
)
from mediatask.cli.base import cli, main

__all__ = ["cli", "main"]

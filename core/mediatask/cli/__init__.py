"""The ``mediatask`` command line: thin commands that parse, call the library, and print.

One module per command group: ``providers`` (providers, plugins), ``run`` (run, submit),
``tasks`` (status, watch, wait, download, cancel), ``account`` (list, credits), ``batch``,
``jobs`` (the journal), ``worker`` (a shared ledger's worker), ``keys``, ``emulate``, ``install``
(install, uninstall). Each is imported when one of its commands is used (``base.COMMANDS``), so
``mediatask --help`` does not import the engine.

Its modules are private: the command line is the interface, and :data:`cli` (the click group,
for tests that drive it with click's ``CliRunner``) and :func:`main` are all this package offers.
"""

from __future__ import annotations

from mediatask.cli.base import cli, main

__all__ = ["cli", "main"]

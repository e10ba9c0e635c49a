"""A click group whose commands are imported when first used, so ``--help`` stays fast.

Click's documented lazy-loading pattern: ``list_commands`` names every command from a table and
``get_command`` imports the module that defines one on demand. The table also holds each
command's one-line help, so ``mediatask --help`` lists every command without importing any.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, NamedTuple

import click


class LazyCommand(NamedTuple):
    """Where a command is defined, and the first paragraph of its help (for the command list).

    A NamedTuple rather than an attrs class: this is read on every start-up, before anything
    else would import attrs.
    """

    module: str
    """The module that defines the command (importing it registers the command on the group)."""
    help: str
    """The first paragraph of the command's help text; a test keeps it equal to the real one."""


class LazyGroup(click.Group):
    """A group that imports a command's module only when the command is looked up."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, LazyCommand], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command: those registered so far and those still to import."""
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named ``cmd_name``, importing its module first if need be."""
        lazy = self.lazy_commands.get(cmd_name)
        if lazy is not None and cmd_name not in self.commands:
            importlib.import_module(lazy.module)
            if cmd_name not in self.commands:
                raise RuntimeError(f"{lazy.module} does not define the command {cmd_name!r}")
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, from the table for commands not imported yet."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            # A stand-in for a command not imported yet: click shortens its help the same way.
            command = self.commands.get(name) or click.Command(
                name, help=self.lazy_commands[name].help
            )
            if not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

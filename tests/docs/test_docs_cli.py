"""docs/cli.md has a section for every command, and no section for a command that is gone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click

from mediatask.cli import cli

DOCS = Path(__file__).parents[2] / "docs"


def command_paths(group: click.Group, prefix: str = "mediatask") -> Iterator[str]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # the CLI's commands are imported on first lookup
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = f"{prefix} {name}"
        yield path
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


def test_every_command_has_a_section_in_docs_cli() -> None:
    headings = set(re.findall(r"^##+ `(mediatask [a-z -]+)`", (DOCS / "cli.md").read_text(), re.M))
    expected = set(command_paths(cli))
    assert expected - headings == set(), "commands without a section in docs/cli.md"
    assert headings - expected == set(), "sections in docs/cli.md for commands that do not exist"


def test_every_command_has_help_with_examples() -> None:
    ctx = click.Context(cli)
    for path in command_paths(cli):
        command: click.Command = cli
        for name in path.split()[1:]:
            assert isinstance(command, click.Group)
            found = command.get_command(ctx, name)
            assert found is not None, path
            command = found
        help_text = command.get_help(ctx)
        assert help_text.strip(), path
        assert "Examples:" in help_text, path

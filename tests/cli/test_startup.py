"""Start-up: ``--help``, ``--version`` and ``providers`` import only what they need.

Each command runs in a fresh interpreter (this test process has imported everything already);
the check is on ``sys.modules`` after the command, not on time: speed is measured in bench/.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from mediatask.cli import cli
from mediatask.cli.base import COMMANDS

HEAVY = (
    "trio",
    "urllib3",
    "sqlite3",
    "mediatask.engine.client",
    "mediatask.providers.sandbox",
    "hypercorn",
)
"""Modules (and their submodules) a start-up command must not import."""

RUN_CLI = """
import json, sys
from mediatask.cli import main
sys.argv = ["mediatask", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print("\\nMODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""


def run_cli(tmp_path: Path, *args: str) -> tuple[str, list[str]]:
    """Run the CLI's main in a new interpreter: its stdout and the modules it had imported."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_CLI, *args],
        capture_output=True,
        text=True,
        check=False,
        env={"MEDIATASK_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    marker = done.stderr.rindex("MODULES ")
    return done.stdout, json.loads(done.stderr[marker + len("MODULES ") :])


def heavy_modules(modules: list[str]) -> list[str]:
    return [
        m
        for m in modules
        if m.split(".")[0] in HEAVY
        or m in HEAVY
        or any(m.startswith(h + ".") for h in HEAVY)
        or "emulator" in m
    ]


@pytest.mark.parametrize(
    "args", [["--help"], ["--version"], ["providers"], ["providers", "--json"]]
)
@pytest.mark.subprocess
def test_start_up_commands_do_not_import_the_engine(tmp_path: Path, args: list[str]) -> None:
    _, modules = run_cli(tmp_path, *args)
    assert heavy_modules(modules) == []


@pytest.mark.subprocess
@pytest.mark.parametrize("command", ["run", "batch", "status"])
def test_commands_without_sandbox_do_not_import_the_sandbox(tmp_path: Path, command: str) -> None:
    _, modules = run_cli(tmp_path, command, "--help")
    assert [m for m in modules if "sandbox" in m or "emulator" in m] == []


@pytest.mark.subprocess
def test_help_lists_every_command_without_importing_it(tmp_path: Path) -> None:
    stdout, modules = run_cli(tmp_path, "--help")
    listed = {line.split()[0] for line in stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(COMMANDS)
    assert not any(m.startswith("mediatask.cli.") and m[14:] in COMMANDS for m in modules)


@pytest.mark.subprocess
def test_version_is_printed(tmp_path: Path) -> None:
    stdout, _ = run_cli(tmp_path, "--version")
    assert stdout.startswith("mediatask, version ")


@pytest.mark.subprocess
def test_providers_still_lists_every_provider(tmp_path: Path) -> None:
    stdout, _ = run_cli(tmp_path, "providers", "--json")
    assert {p["name"] for p in json.loads(stdout)} >= {"echo", "claid"}


def test_the_lazy_table_matches_the_commands() -> None:
    ctx = click.Context(cli)
    for name, lazy in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None, name
        assert command.callback is not None
        first_paragraph = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert " ".join(first_paragraph.split()) == lazy.help, name
    assert set(cli.commands) == set(COMMANDS), "a command registered but missing from COMMANDS"

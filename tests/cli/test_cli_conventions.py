"""The small conventions of command-line tools: -q, -v after the command, keys set --value,
JSON errors under --json, shell completion, install/uninstall with the CLI's own pip, --name."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.settings.keys import KeyStore

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"


@pytest.fixture
def quick_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIATASK_SANDBOX_SECONDS", "0.1")


def _run(tmp_path: Path, *extra: str) -> list[str]:
    args = ["run", "echo", "mirror", "-i", str(SAMPLE), "--sandbox", "-o", str(tmp_path)]
    return [*args, *extra]


def test_quiet_prints_only_the_results(quick_sandbox: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, _run(tmp_path, "-q"))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines
    assert all(Path(line).is_file() for line in lines)


@pytest.mark.subprocess
def test_verbose_after_the_command_logs_the_exchanges(
    mediatask_cmd: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    result = mediatask_cmd(*_run(tmp_path, "-v"), env={"MEDIATASK_SANDBOX_SECONDS": "0.1"})
    assert result.returncode == 0, result.stderr
    assert "POST" in result.stderr
    assert "<redacted>" in result.stderr


def test_name_names_the_output_files_safely(quick_sandbox: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, _run(tmp_path, "--name", "cat", "-q"))
    assert result.exit_code == 0, result.output
    names = sorted(Path(line).name for line in result.stdout.splitlines())
    assert names == ["cat-image.png"]
    odd = CliRunner().invoke(cli, _run(tmp_path, "--name", "../my cat", "-q"))
    assert odd.exit_code == 0, odd.output
    paths = [Path(line) for line in odd.stdout.splitlines()]
    assert paths
    assert all(path.parent == tmp_path and path.name.startswith("my_cat") for path in paths)


def test_keys_set_value_for_scripts() -> None:
    result = CliRunner().invoke(cli, ["keys", "set", "echo", "--value", "sk-from-a-script"])
    assert result.exit_code == 0, result.output
    assert KeyStore.default().get("echo") == "sk-from-a-script"
    assert "sk-from-a-script" not in result.output
    empty = CliRunner().invoke(cli, ["keys", "set", "echo", "--value", " "])
    assert empty.exit_code == 1


@pytest.mark.parametrize(
    ("args", "code", "kind"),
    [
        (["run", "echo", "mirror", "-i", "/nonexistent.png", "--json"], 1, "UsageError"),
        (["providers", "show", "nope", "--json"], 1, "UnknownProviderError"),
        (["run", "echo", "mirror", "-p", "axis", "--json"], 2, "UsageError"),
    ],
)
def test_errors_under_json_are_objects_on_stdout(args: list[str], code: int, kind: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code
    error = json.loads(result.stdout)["error"]
    assert error["type"] == kind
    assert error["message"]
    assert "\n" not in error["message"]
    assert error["message"] in result.stderr


@pytest.mark.subprocess
def test_shell_completion_script_is_produced(
    mediatask_cmd: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = mediatask_cmd(env={"_MEDIATASK_COMPLETE": "bash_source"})
    assert result.returncode == 0, result.stderr
    assert "_mediatask_completion" in result.stdout


def test_install_and_uninstall_use_the_cli_own_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def call(command: list[str]) -> int:
        calls.append(command)
        return 0

    monkeypatch.setattr(subprocess, "call", call)
    assert CliRunner().invoke(cli, ["install", "-U", "mediatask-x"]).exit_code == 0
    assert CliRunner().invoke(cli, ["uninstall", "-y", "mediatask-x"]).exit_code == 0
    assert calls == [
        [sys.executable, "-m", "pip", "install", "--upgrade", "mediatask-x"],
        [sys.executable, "-m", "pip", "uninstall", "-y", "mediatask-x"],
    ]


DOCS = Path(__file__).parents[2] / "docs" / "cli.md"
TESTED = re.compile(r"<!-- tested -->\n```sh\n(.*?)```", re.S)


def documented_lines() -> list[str]:
    """The command lines of docs/cli.md's blocks marked ``<!-- tested -->``."""
    blocks = TESTED.findall(DOCS.read_text(encoding="utf-8"))
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_docs_have_documented_lines() -> None:
    assert len(documented_lines()) >= 6


@pytest.mark.subprocess
@pytest.mark.parametrize("line", documented_lines())
def test_docs_example_runs(line: str, tmp_path: Path, isolated: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "photo.png")
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "MEDIATASK_SANDBOX_SECONDS": "0.1",
    }
    result = subprocess.run(  # noqa: S602  # the documented shell line, as a user types it
        line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{line}\n{result.stderr}"


def test_providers_show_claid_prints_the_edit_document_as_a_tree() -> None:
    shown = CliRunner().invoke(cli, ["providers", "show", "claid"], env={"COLUMNS": "120"})
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "operations           object" in out
    assert "fields of operations" in out
    assert "── resizing  object" in out
    assert "exposure  int; >= -100; <= 100" in out
    assert "category  str; one of general, cars, products" in out
    assert "format  object  one of jpeg, png, webp, avif, tiff" in out


def test_providers_json_keeps_the_nested_fields_and_the_local_files_value() -> None:
    data = json.loads(CliRunner().invoke(cli, ["providers", "show", "claid", "--json"]).stdout)
    assert data["capabilities"]["local_files"] == "inline"
    operations = data["operations"][0]["params"][0]
    assert operations["type"] == "object"
    resizing = next(f for f in operations["fields"] if f["name"] == "resizing")
    assert {f["name"] for f in resizing["fields"]} == {"width", "height", "fit"}


def test_providers_says_how_local_files_are_taken_in_plain_words() -> None:
    out = CliRunner().invoke(cli, ["providers"]).stdout
    assert "local files: uploaded first" in out  # A2E
    assert "local files: sent with the request" in out  # Claid
    assert "local files: URLs only" in out  # Echo
    assert "local files: none" not in out

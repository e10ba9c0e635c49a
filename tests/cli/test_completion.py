"""Shell completion knows the installed providers, their operations and their parameters."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.shell_completion import ShellComplete

from mediatask.cli import cli


def completions(*words: str, incomplete: str = "") -> list[str]:
    shell = ShellComplete(cli, {}, "mediatask", "_MEDIATASK_COMPLETE")
    return [item.value for item in shell.get_completions(list(words), incomplete)]


@pytest.mark.parametrize(
    "words",
    [("providers", "show"), ("run",), ("submit",), ("credits",), ("keys", "set"), ("emulate",)],
)
def test_a_provider_argument_completes_the_installed_providers(words: tuple[str, ...]) -> None:
    assert completions(*words) == ["a1d", "a2e", "claid", "echo", "queue"]
    assert completions(*words, incomplete="cl") == ["claid"]


def test_an_operation_completes_the_providers_operations() -> None:
    assert completions("run", "a1d", incomplete="image-u") == ["image-upscaler"]
    assert "text-to-image" in completions("manifest", "photos", "a2e")
    assert completions("run", "nope") == []


def test_a_parameter_completes_its_names_then_its_choices() -> None:
    assert completions("run", "a1d", "image-upscaler", "-p", incomplete="s") == ["scale="]
    assert completions(
        "run", "a1d", "image-upscaler", "-i", "x.png", "-p", incomplete="scale="
    ) == [
        "scale=2",
        "scale=4",
        "scale=8",
        "scale=16",
    ]
    assert completions("manifest", "photos", "a2e", "text-to-image", "-p", incomplete="model") == [
        "model_type="
    ]


@pytest.mark.subprocess
def test_bash_completion_of_providers_show_lists_providers_not_files() -> None:
    env = {
        "COMP_WORDS": "mediatask providers show ",
        "COMP_CWORD": "3",
        "_MEDIATASK_COMPLETE": "bash_complete",
    }
    result = subprocess.run(  # our own command
        [sys.executable, "-c", "from mediatask.cli import main; main()"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.split() == [
        "plain,a1d",
        "plain,a2e",
        "plain,claid",
        "plain,echo",
        "plain,queue",
    ]

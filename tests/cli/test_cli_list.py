"""``mediatask list``: every kind of task a provider keeps a list of, not only its first."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.cli.account import listed_operations
from mediatask.cli.base import load_plugins
from mediatask.testing import Standalone, sample_clip

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"


def test_a2e_lists_each_family_that_has_a_list() -> None:
    plugins = load_plugins()
    found = listed_operations(plugins, "a2e")
    assert "text-to-image" in found
    assert "caption-removal" in found
    assert "tts" not in found  # A2E keeps no list of its text-to-speech tasks
    assert len(found) > 2


@pytest.mark.subprocess
def test_list_without_an_operation_shows_tasks_of_every_kind(
    start_emulator: Callable[[str, str, float], Standalone],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a2e = start_emulator("a2e", "sk-list-a2e", 0.1)
    for name, value in a2e.env.items():
        monkeypatch.setenv(name, value)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(sample_clip(32, 16, 4, 8))
    runner = CliRunner()
    made = [
        runner.invoke(cli, ["submit", "a2e", "text-to-image", "-p", "prompt=fog", "--json"]),
        runner.invoke(cli, ["submit", "a2e", "caption-removal", "-i", str(clip), "--json"]),
    ]
    handles = set()
    for result in made:
        assert result.exit_code == 0, result.output
        handles.add(json.loads(result.stdout)["handle"])
    listed = runner.invoke(cli, ["list", "a2e", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert {row["handle"] for row in rows} == handles
    assert {row["operation"] for row in rows} == {"text-to-image", "caption-removal"}
    one = runner.invoke(cli, ["list", "a2e", "--operation", "caption-removal", "--json"])
    assert [row["operation"] for row in json.loads(one.stdout)] == ["caption-removal"]

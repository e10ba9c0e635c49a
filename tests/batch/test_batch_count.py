"""The count a batch announces is the manifest's lines: a line the journal knows differently is
one line, not two."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediatask.cli import cli


def write(path: Path, prompts: list[str]) -> None:
    lines = [
        {"id": f"j{n}", "provider": "echo", "operation": "draw", "params": {"prompt": p}}
        for n, p in enumerate(prompts)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_the_announced_count_is_the_manifests_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIATASK_SANDBOX_SECONDS", "0.05")
    manifest = tmp_path / "jobs.jsonl"
    write(manifest, ["a", "b", "c"])
    args = ["batch", str(manifest), "-o", str(tmp_path / "out"), "--sandbox"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    write(manifest, ["a", "changed", "c"])  # j1 now means another job: refused, counted once
    again = CliRunner().invoke(cli, args)
    assert "j1" in again.stderr  # said once, on stderr
    [announced] = re.findall(r"^batch: (\d+) jobs?", again.stderr, re.M)
    assert int(announced) == 3

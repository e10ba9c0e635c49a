"""docs/writing-a-provider.md stays true: its code is the reference plugin's; its commands run."""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from mediatask.testing import mediatask_command

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "writing-a-provider.md"
ECHO = ROOT / "plugins" / "echo"
QUEUE = ROOT / "plugins" / "queue"


def _blocks(language: str) -> list[str]:
    text = TUTORIAL.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.M | re.S)


def test_every_code_block_is_taken_from_the_reference_plugin() -> None:
    # So the tutorial's code is code the contract suite runs (plugins/echo/tests/test_contract.py,
    # and plugins/queue's for the section on a final status without the result).
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for plugin in (ECHO, QUEUE)
        for path in sorted(plugin.rglob("*"))
        if path.suffix in (".py", ".toml") and "egg-info" not in str(path)
    )
    blocks = _blocks("python") + _blocks("toml")

    assert len(blocks) >= 10
    assert [block for block in blocks if not _found(block, sources)] == []


def _found(block: str, sources: str) -> bool:
    """``block`` is in ``sources`` as it stands, or as a method (indented one level)."""
    return block in sources or textwrap.indent(block, "    ") in sources


@pytest.mark.subprocess
def test_the_sandbox_command_runs_a_job_to_a_file(tmp_path: Path, mediatask_home: Path) -> None:
    text = TUTORIAL.read_text(encoding="utf-8")
    [command] = re.findall(r"`(mediatask run echo [^`]*--sandbox)`", text)
    Image.new("RGB", (20, 10), (10, 20, 30)).save(tmp_path / "photo.png")
    args = [
        str(tmp_path / arg) if arg in ("photo.png", "out") else arg
        for arg in shlex.split(command)[1:]
    ]

    done = mediatask_command(*args, env={"MEDIATASK_HOME": str(mediatask_home)}, timeout=60)

    assert done.returncode == 0, done.stderr
    [made] = (tmp_path / "out").iterdir()
    with Image.open(made) as image:
        assert image.size == (20, 10)
        assert image.getpixel((0, 0)) == (10, 20, 30)


# The tutorial's promise (a provider in a fresh folder installs, is listed, runs in the sandbox
# and passes the contract) is checked on `mediatask new-provider`'s output: test_new_provider.py.

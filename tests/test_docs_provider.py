"""docs/writing-a-provider.md stays true: its code is the reference plugin's; its commands run."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from mediatask.testing import mediatask_command

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "writing-a-provider.md"
ECHO = ROOT / "plugins" / "echo"


def _blocks(language: str) -> list[str]:
    text = TUTORIAL.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.M | re.S)


def test_every_code_block_is_taken_from_the_reference_plugin() -> None:
    # So the tutorial's code is code the contract suite runs (plugins/echo/tests/test_contract.py).
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for path in sorted(ECHO.rglob("*"))
        if path.suffix in (".py", ".toml") and "egg-info" not in str(path)
    )
    blocks = _blocks("python") + _blocks("toml")

    assert len(blocks) >= 10
    assert [block for block in blocks if not _found(block, sources)] == []


def _found(block: str, sources: str) -> bool:
    """``block`` is in ``sources`` as it stands, or as a method (indented one level)."""
    return block in sources or textwrap.indent(block, "    ") in sources


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


def _renamed(text: str) -> str:
    for old, new in [
        ("mediatask_echo", "mediatask_fresh"),
        ("mediatask-echo", "mediatask-fresh"),
        ('name="echo"', 'name="fresh"'),
        ('provider = "echo"', 'provider = "fresh"'),
        ("echo = ", "fresh = "),
    ]:
        text = text.replace(old, new)
    return text


@pytest.mark.slow
def test_a_copy_of_the_reference_plugin_installs_runs_and_passes_the_contract(
    tmp_path: Path, mediatask_home: Path
) -> None:
    # What the tutorial promises: a provider in a fresh folder, installed with pip, is listed,
    # runs in the sandbox and passes the contract suite, with no change to the core.
    folder = tmp_path / "fresh"
    for path in ECHO.rglob("*"):
        if path.is_file() and "egg-info" not in str(path) and "__pycache__" not in str(path):
            relative = Path(_renamed(str(path.relative_to(ECHO))))
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(_renamed(path.read_text(encoding="utf-8")))
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(site), str(folder)], check=True, capture_output=True)
    env = {"PYTHONPATH": str(site), "MEDIATASK_HOME": str(mediatask_home)}
    Image.new("RGB", (8, 4), (1, 2, 3)).save(tmp_path / "photo.png")

    listed = mediatask_command("providers", env=env)
    ran = mediatask_command(
        "run", "fresh", "mirror", "--input", str(tmp_path / "photo.png"), "-o",
        str(tmp_path / "out"), "--sandbox", env=env,
    )  # fmt: skip
    contract = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "trio_mode=true",
         "--import-mode=importlib", "--rootdir", str(folder), str(folder / "tests")],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=300, check=False,
    )  # fmt: skip

    assert "fresh  Echo (reference plugin)" in listed.stdout, listed.stderr
    assert ran.returncode == 0, ran.stderr
    assert contract.returncode == 0, contract.stdout[-2000:]
    assert "passed" in contract.stdout

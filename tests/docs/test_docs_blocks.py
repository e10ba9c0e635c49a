"""Every code block of README.md and docs/ runs, offline, as a reader would run it.

Each fenced block is run by its language, in a fresh folder holding the files the examples name
(``photo.png``, ``photo.jpg``, ``clip.mp4``, ``jobs.jsonl``…), with a throw-away mediatask home
and every provider's base URL and key pointing at standalone emulators, so a command without
``--sandbox`` reaches an emulator instead of the real API:

- ``sh``, ``bash``: run by bash, stopping at the first failing command (``set -e``);
- ``console``: each line after ``$`` runs on its own; one whose shown output is an ``Error:``
  line must fail with that line on stderr, any other must succeed;
- ``python``: run by this Python;
- ``json``: parsed (a block of JSON Lines line by line); ``toml``: parsed.

Slow (each example is a process or several): ``make test`` runs them, ``make test-fast`` only
checks that every block is run or says why not.

A block is not run only when the line before it says why: ``<!-- not run: REASON -->``, or for
one of the reasons of :data:`NOT_CODE` and :data:`CHECKED_ELSEWHERE`. A test keeps those reasons
honest: no block is left without one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from mediatask.testing import Standalone, sample_clip, sample_photo, standalone_emulator

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "lighthouse.png"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", re.M | re.S)
MARK = re.compile(r"<!-- not run: (?P<reason>[^>]+?) -->\s*\Z")
RUN = ("sh", "bash", "console", "python")
PARSE = ("json", "toml")
NOT_CODE = {
    "": "shown output or a diagram, not something to run",
    "text": "shown output (a screenshot of the terminal), not something to run",
    "mermaid": "a diagram (generated from the lifecycle's table and kept so by tests), not code",
}
"""Block languages that are not examples to run, and why."""
CHECKED_ELSEWHERE = {
    "docs/writing-a-provider.md": (
        ("python", "toml", "sh"),
        "the reference plugin's own code: tests/docs/test_docs_provider.py checks each block is in "
        "plugins/echo, whose contract suite runs it; its commands (new-provider, install) are "
        "run in a throw-away environment by tests/cli/test_new_provider.py",
    ),
}
"""Per page, block languages another test checks, and how."""
CHANGES_THE_ENVIRONMENT = re.compile(r"\b(mediatask (un)?install|pip (un)?install|make )")
"""Commands a run here must never make: they would change the environment the tests run in."""


@attrs.frozen
class Block:
    """One fenced block of a page."""

    page: str
    line: int
    lang: str
    body: str
    reason: str | None
    """Why it is not run, or ``None`` when it is."""

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for path in PAGES:
        text = path.read_text(encoding="utf-8")
        page = str(path.relative_to(ROOT))
        for match in FENCE.finditer(text):
            lang = match["lang"]
            marked = MARK.search(text[: match.start()])
            elsewhere = CHECKED_ELSEWHERE.get(page)
            reason = (
                marked["reason"]
                if marked
                else NOT_CODE.get(lang)
                if lang not in RUN + PARSE
                else elsewhere[1]
                if elsewhere and lang in elsewhere[0]
                else None
            )
            if reason is None and lang not in RUN + PARSE:
                reason = ""  # an unknown language: the test below fails on it
            line = text.count("\n", 0, match.start()) + 1
            found.append(Block(page, line, lang, match["body"], reason))
    return found


BLOCKS = blocks()


def test_every_block_is_run_or_says_why_not() -> None:
    unexplained = [b.name for b in BLOCKS if b.reason == ""]
    assert unexplained == [], "blocks of a language this test cannot run, and no reason given"
    unsafe = [b.name for b in BLOCKS if b.reason is None and CHANGES_THE_ENVIRONMENT.search(b.body)]
    assert unsafe == [], "blocks that would install or remove packages here: say why not run"
    assert len([b for b in BLOCKS if b.reason is None]) >= 30


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang in PARSE and b.reason is None])
def test_data_blocks_parse(block: Block) -> None:
    if block.lang == "toml":
        tomllib.loads(block.body)
        return
    try:
        json.loads(block.body)
    except ValueError:
        for line in block.body.splitlines():  # JSON Lines
            if line.strip():
                json.loads(line)


# -- running the examples --------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulators() -> Iterator[dict[str, str]]:
    """Every provider's emulator in its own process; the environment that points at them."""
    env: dict[str, str] = {}
    with (
        standalone_emulator("a1d", "sk-docs-a1d", 0.2) as a1d,
        standalone_emulator("claid", "sk-docs-claid", 0.2) as claid,
        standalone_emulator("a2e", "sk-docs-a2e", 0.2) as a2e,
        standalone_emulator("echo", "sk-docs-echo", 0.2) as echo,
    ):
        emulator: Standalone
        for emulator in (a1d, claid, a2e, echo):
            env.update(emulator.env)
        yield env


def workspace(folder: Path) -> None:
    """The files the examples name, as a reader would have them at hand."""
    for name in ("photo.png", "cat.png", "face.png", "lighthouse.png"):
        shutil.copy(SAMPLE, folder / name)
    for name in ("photo.jpg", "cat.jpg", "face.jpg", "shoe.jpg"):
        (folder / name).write_bytes(sample_photo("JPEG"))
    (folder / "clip.mp4").write_bytes(sample_clip(32, 16, 4, 8))
    shutil.copytree(ROOT / "samples", folder / "samples")
    (folder / "photos").mkdir()
    for name in ("beach.png", "harbour.png"):
        shutil.copy(SAMPLE, folder / "photos" / name)
    (folder / "edit.json").write_text('{"operations": {"resizing": {"width": 100}}}\n')
    edit = {"operations": {"resizing": {"width": 100}}}
    lines = [
        {"provider": "claid", "operation": "edit", "input": "photo.png", "params": edit},
        {"provider": "a2e", "operation": "text-to-image", "params": {"prompt": "fog"}},
        {"provider": "echo", "operation": "draw", "params": {"prompt": "a red square"}},
    ]
    (folder / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    activate = folder / ".venv" / "bin" / "activate"  # as `make install` leaves it
    activate.parent.mkdir(parents=True)
    activate.write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')


def script(block: Block) -> str:
    if block.lang != "console":
        return block.body
    return "\n".join(command for command, _ in steps(block))


def steps(block: Block) -> list[tuple[str, str | None]]:
    """A console block's commands, each with the ``Error:`` line shown after it, if any."""
    found: list[tuple[str, str | None]] = []
    for line in block.body.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], None))
        elif line.startswith("Error: ") and found:
            found[-1] = (found[-1][0], line)
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    "block",
    [pytest.param(b, id=b.name) for b in BLOCKS if b.lang in RUN and b.reason is None],
)
@pytest.mark.subprocess
def test_example_runs(block: Block, emulators: dict[str, str], tmp_path: Path) -> None:
    assert not CHANGES_THE_ENVIRONMENT.search(block.body), "it would change this environment"
    workspace(tmp_path)
    env = {
        **os.environ,
        **emulators,
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "MEDIATASK_HOME": str(tmp_path / ".home"),
        "HOME": str(tmp_path / ".user"),
        "MEDIATASK_SANDBOX_SECONDS": "0.1",
        "PYTHONPATH": str(ROOT / "tests"),
    }
    env.pop("COLUMNS", None)
    (tmp_path / ".user").mkdir()
    if block.lang == "console":
        for command, error in steps(block):
            done = run_in(["bash", "-c", command], tmp_path, env)
            if error is None:
                assert done.returncode == 0, f"{block.name}: {command}\n{done.stderr[-3000:]}"
            else:
                assert done.returncode != 0, f"{block.name}: {command} should fail: {error}"
                assert error in done.stderr, f"{block.name}: {command}\n{done.stderr[-3000:]}"
        return
    if block.lang == "python":
        (tmp_path / "example.py").write_text(block.body)
        argv = [sys.executable, "example.py"]
    else:
        (tmp_path / "example.sh").write_text("set -euo pipefail\n" + script(block))
        argv = ["bash", "example.sh"]
    done = run_in(argv, tmp_path, env)
    assert done.returncode == 0, f"{block.name}\n{script(block)}\n---\n{done.stderr[-3000:]}"


def run_in(argv: list[str], folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the docs' own example as a reader runs it, in ``folder``."""
    return subprocess.run(  # the docs' example, as written
        argv,
        cwd=folder,
        env=env,
        input="sk-example\n",  # what a reader types when `keys set` asks
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

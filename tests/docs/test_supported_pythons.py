"""The Python versions we claim are the ones `make test` (and so CI) runs the tests on.

The Makefile's PYTHONS is the list; each pyproject's classifiers and ``requires-python``, and the
README's line, must say the same (the new-plugin template renders to echo's, so it does too).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PROJECTS = [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))]
VERSION = "Programming Language :: Python :: "


def supported() -> list[str]:
    """The Makefile's PYTHONS: the minor versions `make test` runs the tests on."""
    found = re.search(r"^PYTHONS := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, "the Makefile names no PYTHONS"
    return found.group(1).split()


def test_the_supported_versions_have_no_gaps() -> None:
    minors = [int(version.removeprefix("3.")) for version in supported()]
    assert minors == list(range(minors[0], minors[0] + len(minors)))


@pytest.mark.parametrize("pyproject", PROJECTS, ids=lambda path: path.parent.name)
def test_each_pyproject_claims_exactly_the_supported_versions(pyproject: Path) -> None:
    project = tomllib.loads(pyproject.read_text())["project"]
    versions = re.findall(
        rf"^{re.escape(VERSION)}(3\.\d+)$", "\n".join(project["classifiers"]), re.M
    )
    assert versions == supported()
    assert project["requires-python"] == f">={supported()[0]}"


def test_the_readme_names_the_supported_versions() -> None:
    *first, last = supported()
    line = f"Needs Python {', '.join(first)} or {last} (the tests run on each)"
    assert line in (ROOT / "README.md").read_text()

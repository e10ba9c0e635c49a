"""The docs keep up with the code: every hook has a section with its exact signature."""

from __future__ import annotations

import re
from pathlib import Path

from mediatask import PluginManager

DOCS = Path(__file__).parents[2] / "docs"


def test_every_hook_is_documented_with_its_signature() -> None:
    manager = PluginManager()
    headings = set(re.findall(r"^## (mediatask_\w+\(.*\))$", (DOCS / "hooks.md").read_text(), re.M))
    expected = {f"{hook}({', '.join(manager.hook_argnames(hook))})" for hook in manager.hook_names}
    assert expected - headings == set(), "hooks without a section in docs/hooks.md"
    assert headings - expected == set(), "sections in docs/hooks.md for hooks that do not exist"

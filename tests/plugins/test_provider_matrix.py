"""docs/providers/README.md's matrix is generated from what the providers declare, and kept so;
``mediatask providers --json`` carries the same data (one function draws the matrix from it).

Regenerate it with ``python tests/plugins/test_provider_matrix.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.cli.providers import provider_json, provider_matrix
from mediatask.providers.manager import PluginManager

MATRIX = Path(__file__).resolve().parents[2] / "docs" / "providers" / "README.md"
BEGIN, END = "<!-- matrix: begin (generated) -->", "<!-- matrix: end -->"
HEAD = """# Providers

One page per provider tells what is known of its API and what the plugin does with it:
[A1D](a1d.md), [A2E](a2e.md), [Claid](claid.md). `plugins/echo` is the reference plugin of
[writing-a-provider.md](../writing-a-provider.md), served only by its emulator.

The matrix below is generated from each plugin's declaration (`mediatask_providers`) and hooks;
a test fails when it differs from them (regenerate: `python tests/plugins/test_provider_matrix.py`).
`mediatask providers --json` prints the same data for the installed providers (`capabilities`,
`rate_limits`, `max_concurrency`, `operations`): the matrix is drawn from it.

"""


def declared(plugins: PluginManager) -> list[dict[str, Any]]:
    """Every installed provider's JSON form, as ``mediatask providers --json`` prints it."""
    return [provider_json(plugins, info, key_set=False) for info in plugins.providers.values()]


def page(providers: list[dict[str, Any]]) -> str:
    """The whole README: its prose and the matrix drawn from ``providers``' JSON forms."""
    return f"{HEAD}{BEGIN}\n{provider_matrix(providers)}\n{END}\n"


def test_the_provider_matrix_matches_the_declarations() -> None:
    expected = page(declared(PluginManager.from_entry_points()))

    assert MATRIX.read_text(encoding="utf-8") == expected, (
        "run python tests/plugins/test_provider_matrix.py"
    )


def test_providers_json_carries_the_matrix_data() -> None:
    printed = CliRunner().invoke(cli, ["providers", "--json"])
    assert printed.exit_code == 0, printed.output
    providers = json.loads(printed.stdout)

    assert MATRIX.read_text(encoding="utf-8") == page(providers)
    a2e = next(p for p in providers if p["name"] == "a2e")
    assert a2e["capabilities"] == {
        "stream": False,
        "cancel": True,
        "list": True,
        "credits": True,
        "local_files": "upload",
    }
    claid = next(p for p in providers if p["name"] == "claid")
    assert (claid["rate_limits"], claid["capabilities"]["credits"]) == ([[4, 1], [120, 60]], False)


if __name__ == "__main__":
    MATRIX.write_text(page(declared(PluginManager.from_entry_points())), encoding="utf-8")

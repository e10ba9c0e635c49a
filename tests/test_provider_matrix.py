"""docs/providers/README.md's matrix is generated from what the providers declare, and kept so.

Regenerate it with ``python tests/test_provider_matrix.py``.
"""

from __future__ import annotations

from pathlib import Path

from mediatask.model import ProviderInfo
from mediatask.plugins import PluginManager

MATRIX = Path(__file__).resolve().parents[1] / "docs" / "providers" / "README.md"
BEGIN, END = "<!-- matrix: begin (generated) -->", "<!-- matrix: end -->"
HEAD = """# Providers

One page per provider tells what is known of its API and what the plugin does with it:
[A1D](a1d.md), [A2E](a2e.md), [Claid](claid.md). `plugins/echo` is the reference plugin of
[writing-a-provider.md](../writing-a-provider.md), served only by its emulator.

The matrix below is generated from each plugin's declaration (`mediatask_providers`) and hooks;
a test fails when it differs from them (regenerate: `python tests/test_provider_matrix.py`).

"""


def _yes(flag: bool) -> str:
    return "yes" if flag else "—"


def _limits(info: ProviderInfo) -> str:
    windows = [f"{count}/{seconds:g}s" for count, seconds in info.rate_limits]
    if info.max_concurrency is not None:
        windows.append(f"{info.max_concurrency} in flight")
    return ", ".join(windows) or "—"


def matrix(plugins: PluginManager) -> str:
    """The provider matrix, as a Markdown table, from the installed plugins' declarations."""
    rows = [
        "| provider | operations | follows by | local files | cancel | list | credits | limits |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, info in sorted(plugins.providers.items()):
        caps = info.capabilities
        operations = ", ".join(f"`{operation.name}`" for operation in info.operations)
        rows.append(
            f"| `{name}` | {operations} | {'stream, poll' if caps.stream else 'poll'} "
            f"| {caps.local_files.value} | {_yes(caps.cancel)} | {_yes(caps.list)} "
            f"| {_yes(plugins.credits(name) is not None)} | {_limits(info)} |"
        )
    return "\n".join(rows)


def page(plugins: PluginManager) -> str:
    """The whole README: its prose and the generated matrix."""
    return f"{HEAD}{BEGIN}\n{matrix(plugins)}\n{END}\n"


def test_the_provider_matrix_matches_the_declarations() -> None:
    expected = page(PluginManager.from_entry_points())

    assert MATRIX.read_text(encoding="utf-8") == expected, (
        "run python tests/test_provider_matrix.py"
    )


if __name__ == "__main__":
    MATRIX.write_text(page(PluginManager.from_entry_points()), encoding="utf-8")

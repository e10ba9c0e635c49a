"""The plugin author's surface: ``mediatask.plugin`` is light, and plugins import only it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import mediatask.plugin
from mediatask.http.headers import parse_rate_limit_reset
from mediatask.model.errors import AuthError, RateLimitedError, RejectedError, UnavailableError
from mediatask.model.values import Capabilities, Operation, ProviderInfo
from mediatask.providers.statuses import error_for_status

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("trio", "urllib3", "sqlite3", "click", "h11", "rich")
AUTHOR_SURFACE = frozenset({"mediatask.plugin", "mediatask.emulator", "mediatask.testing"})
"""The modules a plugin may import from: ``docs/writing-a-provider.md`` documents them."""

_LOADED = "import sys; print(' '.join(sorted(sys.modules)))"
_WITHOUT_PACKAGE_INIT = (
    "import importlib.util, sys, types\n"
    "spec = importlib.util.find_spec('mediatask')\n"
    "package = types.ModuleType('mediatask')\n"
    "package.__path__ = list(spec.submodule_search_locations)\n"
    "sys.modules['mediatask'] = package\n"
)


def _loaded_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{_LOADED}"], capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in done.stdout.split()}


@pytest.mark.subprocess
def test_the_plugin_modules_themselves_load_nothing_heavy() -> None:
    # mediatask/__init__.py is skipped here: only what mediatask.plugin itself pulls in counts.
    loaded = _loaded_after(_WITHOUT_PACKAGE_INIT + "import mediatask.plugin")

    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.subprocess
def test_import_mediatask_plugin_loads_nothing_heavy() -> None:
    # Passes once mediatask/__init__.py imports lazily (PEP 562); until then the package's own
    # eager imports load trio, sqlite3 and click.
    loaded = _loaded_after("import mediatask.plugin")

    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.subprocess
def test_import_mediatask_works_without_fcntl() -> None:
    # As on Windows: the journal takes its lock with whatever the platform has, when it locks.
    blocked = "import sys; sys.modules['fcntl'] = None\n"

    loaded = _loaded_after(blocked + "import mediatask, mediatask.journal.sqlite")

    assert "mediatask" in loaded


def test_the_surface_exports_what_it_declares() -> None:
    missing = [name for name in mediatask.plugin.__all__ if not hasattr(mediatask.plugin, name)]

    assert missing == []
    assert mediatask.plugin.hookimpl.project_name == "mediatask"


def _mediatask_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        names += [m for m in modules if m == "mediatask" or m.startswith("mediatask.")]
    return names


def _plugin_sources() -> list[Path]:
    return sorted(ROOT.glob("plugins/*/mediatask_*/**/*.py"))


def test_plugins_import_only_the_author_surface() -> None:
    outside = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in _plugin_sources()
        for module in _mediatask_imports(path)
        if module not in AUTHOR_SURFACE
    ]

    assert _plugin_sources(), "no plugin sources found"
    assert outside == []


INFO = ProviderInfo(
    name="demo",
    title="Demo",
    base_url="https://demo.invalid",
    auth_scheme="bearer",
    operations=[Operation("echo", "Echo", inputs=["image"])],
    capabilities=Capabilities(),
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthError),
        (403, AuthError),
        (400, RejectedError),
        (429, RateLimitedError),
        (500, UnavailableError),
        (503, UnavailableError),
    ],
)
def test_error_for_status_picks_the_exception_by_status(status: int, kind: type) -> None:
    error = error_for_status(INFO, status, "said so", retry_after=2.0)

    assert type(error) is kind
    assert "said so" in str(error)
    assert "demo" in str(error)


def test_error_for_status_names_the_key_variable_and_keeps_the_wait() -> None:
    refused = error_for_status(INFO, 401)
    limited = error_for_status(INFO, 429, retry_after=3.0)
    turned_away = error_for_status(INFO, 503)
    broken = error_for_status(INFO, 500)

    assert "check MEDIATASK_DEMO_KEY" in str(refused)
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 3.0
    assert isinstance(turned_away, UnavailableError)
    assert isinstance(broken, UnavailableError)
    assert (turned_away.maybe_sent, broken.maybe_sent) == (False, True)
    assert error_for_status(INFO, 204) is None


def test_policy_keeps_the_header_parsers_it_had() -> None:
    from mediatask.engine import policy

    assert policy.parse_rate_limit_reset is parse_rate_limit_reset
    assert policy.parse_rate_limit_reset({"ratelimit-reset": "7"}) == 7.0


def test_error_for_status_names_a_missing_url_without_its_query() -> None:
    error = error_for_status(INFO, 404, url="https://demo.invalid/files/1?X-Amz-Signature=s3cr3t")

    assert "https://demo.invalid/files/1 " in str(error)
    assert "s3cr3t" not in str(error)

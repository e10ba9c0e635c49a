"""Shared fixtures for the core tests: the fake provider plugin, an isolated mediatask home.

Test policy. Tests are deterministic: they pass every time, on a loaded machine as on an idle
one. Nothing sleeps to synchronise: a test waits for the event it needs (a line on a pipe, a
``trio.Event``, a state in the journal), with a generous deadline only as a guard against
hanging. No test asserts on wall-clock time; what must happen "within a second" is checked by
the deadline the code uses, or by an outcome that could not happen had the code waited.
``autojump_clock`` (virtual time) is for tests that touch no real socket; a test with a real
loopback server runs on the real clock. Network use is loopback only (emulators, test servers);
nothing reaches the Internet.

Markers say what a test needs beyond the Python environment:

- ``postgres``: PostgreSQL 15's binaries (``apt-get install postgresql-15``, or
  ``MEDIATASK_PG_BIN`` naming their folder). Without them these tests skip, in one line saying
  how to enable them; with ``MEDIATASK_REQUIRE_POSTGRES=1`` (set by ``make test`` and CI) they
  fail instead, so the full suite never passes by skipping them. As root, PostgreSQL runs as
  the unprivileged ``postgres`` user the package creates (``tests/support/postgres.py``); the
  tests never create users. A test that asks for ``postgres_server`` or ``postgres_url``
  without the marker fails.
- ``subprocess``: starts processes (the emulators standalone, the ``mediatask`` command).
- ``slow``: long end-to-end runs (chaos, crash loops, thousands of jobs).

Tiers: ``make test-fast`` (``-m "not slow"``) is the inner loop and passes on a machine without
PostgreSQL; ``-m "not slow and not subprocess and not postgres"`` keeps to in-process tests;
``make test`` runs everything, PostgreSQL required. Helpers that are not fixtures live in
``tests/support/`` (on ``sys.path`` through ``pythonpath`` in ``pyproject.toml``), so a test
file imports them the same way from any folder under ``tests/``.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mediatask import PluginManager
from mediatask.testing import FakePlugin, Standalone, mediatask_command, standalone_emulator

pytest_plugins = ["support.postgres"]  # postgres_server, postgres_url; the postgres marker


@pytest.fixture(autouse=True)
def real_sockets_on_real_time(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``autojump_clock``, opening a socket fails the test.

    The clock jumps whenever every task waits, and a task waiting for bytes still on their way
    through the kernel looks no different: timeouts would fire that never could for real. Use
    ``mock_clock`` and jump once every task waits, or the real clock. (Sockets made around an
    existing descriptor, as trio's own wake-up pair, are not opened here and pass.)
    """
    if "autojump_clock" not in request.fixturenames:
        return
    opening = socket.socket.__init__

    def refuse(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        fileno = args[3] if len(args) > 3 else kwargs.get("fileno")
        if fileno is None:
            pytest.fail("a real socket under autojump_clock: use mock_clock, or the real clock")
        opening(self, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "__init__", refuse)


@pytest.fixture(autouse=True)
def processes_only_where_marked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test that starts a process without the ``subprocess`` (or ``postgres``) marker fails.

    Fixtures of a wider scope start before this one: a test using them is marked by hand.
    """
    if any(request.node.get_closest_marker(name) for name in ("subprocess", "postgres")):
        return

    def refuse(*args: Any, **kwargs: Any) -> None:
        pytest.fail("this test starts a process: mark it @pytest.mark.subprocess", pytrace=False)

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)


@pytest.fixture(autouse=True)
def signal_handlers_put_back() -> Iterator[None]:
    """Every test ends with Ctrl-C's and SIGTERM's handlers as it found them: a PostgreSQL
    journal a test leaves open keeps its wrapper installed, and a later ``trio.run`` installs
    its own handler only over Python's default, so another test's Ctrl-C would go astray."""
    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    yield
    for number, handler in before.items():
        signal.signal(number, handler)


@pytest.fixture(autouse=True)
def isolated(mediatask_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own key store and user journal, never the developer's own."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    return mediatask_home


@pytest.fixture
def fake_plugin() -> FakePlugin:
    return FakePlugin()


@pytest.fixture
def fake_plugins(fake_plugin: FakePlugin) -> PluginManager:
    return PluginManager.from_plugins({"fake": fake_plugin})


@pytest.fixture
def start_emulator() -> Iterator[Callable[[str, str, float], Standalone]]:
    """Start emulators in subprocesses (provider, key, task seconds); all stopped after the test."""
    with contextlib.ExitStack() as running:

        def start(provider: str, key: str, seconds: float) -> Standalone:
            return running.enter_context(standalone_emulator(provider, key, seconds))

        yield start


@pytest.fixture
def start_echo(
    start_emulator: Callable[[str, str, float], Standalone],
) -> Callable[[str, float], Standalone]:
    """Start Echo emulators, the reference provider's, in subprocesses (key, task seconds)."""
    return functools.partial(start_emulator, "echo")


@pytest.fixture
def standalone_echo(start_echo: Callable[[str, float], Standalone]) -> Standalone:
    """The Echo emulator in a subprocess, quick tasks, accepting only its own key."""
    return start_echo("sk-standalone-" + secrets.token_hex(6), 0.3)


@pytest.fixture
def start_a1d(
    start_emulator: Callable[[str, str, float], Standalone],
) -> Callable[[str, float], Standalone]:
    """Start A1D emulators in subprocesses (key, task seconds), for tests across providers."""
    return functools.partial(start_emulator, "a1d")


@pytest.fixture
def standalone_a1d(start_a1d: Callable[[str, float], Standalone]) -> Standalone:
    """The A1D emulator in a subprocess, quick tasks, accepting only its own key."""
    return start_a1d("sk-standalone-" + secrets.token_hex(6), 0.3)


@pytest.fixture
def mediatask_cmd() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`mediatask_command`, for tests (test modules cannot import each other)."""
    return mediatask_command


def _mixed_job(prefix: str, n: int) -> dict[str, Any]:
    provider = ("a1d", "claid", "a2e")[n % 3]
    if provider == "a1d":
        job: dict[str, Any] = {"operation": "image-generator", "params": {"prompt": f"sky {n}"}}
    elif provider == "claid":
        resize = {"operations": {"resizing": {"width": 32}}, "output": {"format": "png"}}
        job = {"operation": "edit", "input": "in.png", "params": resize}
    else:
        job = {"operation": "text-to-image", "params": {"prompt": f"sea {n}"}}
    return {"id": f"{prefix}{n:02d}", "provider": provider, **job}


@pytest.fixture
def mixed_job() -> Callable[[str, int], dict[str, Any]]:
    """Manifest line ``n`` of a batch over A1D, Claid (input ``in.png``) and A2E in turn."""
    return _mixed_job

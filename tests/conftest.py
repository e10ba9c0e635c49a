"""Shared fixtures for the core tests: the fake provider plugin, an isolated mediatask home."""

from __future__ import annotations

import contextlib
import functools
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mediatask import PluginManager
from mediatask.testing import FakePlugin, Standalone, mediatask_command, standalone_emulator

pytest_plugins = ["mediatask.testing_postgres"]  # postgres_server, postgres_url


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

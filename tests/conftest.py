"""Shared fixtures for the core tests: the fake provider plugin, an isolated mediatask home."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from mediatask import PluginManager
from mediatask.testing import FakePlugin


@pytest.fixture(autouse=True)
def mediatask_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own key store and user journal, never the developer's own."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MEDIATASK_HOME", str(home))
    for name in ("MEDIATASK_A1D_KEY", "MEDIATASK_A1D_BASE_URL", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def fake_plugin() -> FakePlugin:
    return FakePlugin()


@pytest.fixture
def fake_plugins(fake_plugin: FakePlugin) -> PluginManager:
    return PluginManager.from_plugins({"fake": fake_plugin})


@attrs.frozen
class Standalone:
    """An emulator in its own process (``mediatask emulate``): it outlives the commands."""

    base_url: str
    key: str

    @property
    def env(self) -> dict[str, str]:
        return {"MEDIATASK_A1D_BASE_URL": self.base_url, "MEDIATASK_A1D_KEY": self.key}

    def stats(self) -> dict[str, int]:
        url = f"{self.base_url}/_emulator/stats"  # our own loopback emulator
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310  # http only
            return dict(json.load(answer)["stats"])


def start_emulator(key: str, seconds: float) -> tuple[subprocess.Popen[str], Standalone]:
    command = ["emulate", "a1d", "--key", key, "--processing-seconds", str(seconds)]
    process = subprocess.Popen(
        [sys.executable, "-m", "mediatask", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # "A1D emulator listening on URL (accepts ...)"
    match = re.search(r"listening on (\S+)", line)
    assert match, line
    return process, Standalone(match.group(1), key)


@pytest.fixture
def start_a1d() -> Iterator[Callable[[str, float], Standalone]]:
    """Start A1D emulators in subprocesses (key, task seconds); all stopped after the test."""
    processes: list[subprocess.Popen[str]] = []

    def start(key: str, seconds: float) -> Standalone:
        process, emulator = start_emulator(key, seconds)
        processes.append(process)
        return emulator

    yield start
    for process in processes:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def standalone_a1d(start_a1d: Callable[[str, float], Standalone]) -> Standalone:
    """The A1D emulator in a subprocess, quick tasks, accepting only its own key."""
    return start_a1d("sk-standalone-" + secrets.token_hex(6), 0.3)


def mediatask_command(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mediatask ARGS`` in a new process with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-m", "mediatask", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


@pytest.fixture
def mediatask_cmd() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`mediatask_command`, for tests (test modules cannot import each other)."""
    return mediatask_command

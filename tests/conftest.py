"""Shared fixtures for the core tests: the fake provider plugin from ``mediatask.testing``."""

from __future__ import annotations

import pytest

from mediatask import PluginManager
from mediatask.testing import FakePlugin


@pytest.fixture
def fake_plugin() -> FakePlugin:
    return FakePlugin()


@pytest.fixture
def fake_plugins(fake_plugin: FakePlugin) -> PluginManager:
    return PluginManager.from_plugins({"fake": fake_plugin})

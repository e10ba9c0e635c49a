"""The plugin manager: routing, checks at registration, entry-point loading."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import attrs
import pytest

from mediatask import Job, PluginError, PluginManager, Request, UnknownProviderError, hookimpl
from mediatask.providers.manager import PluginLoadWarning
from mediatask.testing import FAKE, FakePlugin

OTHER = attrs.evolve(FAKE, name="other", title="Other")
JOB = Job("fake", "upscale", ["https://x/y.png"])


class AuditPlugin:
    """A cross-cutting plugin: declares no provider, wraps every submit."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl(wrapper=True)
    def mediatask_submit(self, provider: str) -> Generator[None, Request, Request]:
        request = yield
        self.seen.append(provider)
        return attrs.evolve(request, headers={**request.headers, "X-Audit": "1"})


def test_calls_reach_only_the_owning_plugin_plus_wrappers() -> None:
    fake, other, audit = FakePlugin(), FakePlugin(OTHER), AuditPlugin()
    manager = PluginManager.from_plugins({"fake": fake, "other": other, "audit": audit})

    request = manager.submit("other", attrs.evolve(JOB, provider="other"))

    assert other.calls == ["submit other"]
    assert fake.calls == []
    assert audit.seen == ["other"]
    assert request.headers["X-Audit"] == "1"
    manager.submit("fake", JOB)
    assert fake.calls == ["submit fake"]
    assert other.calls == ["submit other"]


def test_routing_survives_registering_another_plugin_later() -> None:
    fake, other = FakePlugin(), FakePlugin(OTHER)
    manager = PluginManager.from_plugins({"fake": fake})
    manager.submit("fake", JOB)
    manager.register(other, name="other")
    manager.submit("fake", JOB)
    assert fake.calls == ["submit fake", "submit fake"]
    assert other.calls == []


def test_duplicate_provider_names_are_rejected() -> None:
    manager = PluginManager.from_plugins({"fake": FakePlugin()})
    with pytest.raises(PluginError, match="declares provider 'fake', which plugin 'fake'"):
        manager.register(FakePlugin(), name="copy")
    assert [p.name for p in manager.plugins] == ["fake"]


def test_async_hookimpls_are_rejected() -> None:
    class AsyncPlugin(FakePlugin):
        @hookimpl
        async def mediatask_poll(self) -> Request:  # type: ignore[override]
            return Request("GET", "/")

    with pytest.raises(PluginError, match="is async"):
        PluginManager.from_plugins({"fake": AsyncPlugin()})


def test_misspelled_hooks_are_rejected() -> None:
    class Typo:
        @hookimpl
        def mediatask_sumbit(self) -> None:
            pass

    with pytest.raises(PluginError, match="does not exist"):
        PluginManager.from_plugins({"typo": Typo()})


def test_unknown_provider_lists_the_installed_ones() -> None:
    manager = PluginManager.from_plugins({"fake": FakePlugin(), "other": FakePlugin(OTHER)})
    with pytest.raises(UnknownProviderError, match="installed providers: fake, other"):
        manager.provider("nope")


def test_a_plugin_bug_becomes_a_plugin_error() -> None:
    class Broken(FakePlugin):
        @hookimpl
        def mediatask_poll(self) -> Request:  # type: ignore[override]
            raise KeyError("taskId")

    manager = PluginManager.from_plugins({"fake": Broken()})
    from mediatask import TaskRef
    from mediatask.engine.client import utcnow

    with pytest.raises(PluginError, match="fake plugin failed in mediatask_poll: KeyError"):
        manager.poll("fake", TaskRef("fake", "1", utcnow()))


def test_an_answer_of_the_wrong_kind_names_the_hook() -> None:
    class Wrong(FakePlugin):
        @hookimpl
        def mediatask_submit(self) -> object:  # type: ignore[override]
            return "not a request"

        @hookimpl
        def mediatask_upload(self) -> None:
            return None  # a step must be a request or the final URL

    manager = PluginManager.from_plugins({"fake": Wrong()})
    with pytest.raises(PluginError, match="fake plugin's mediatask_submit returned 'not a"):
        manager.submit("fake", JOB)
    with pytest.raises(PluginError, match="fake plugin's mediatask_upload returned None"):
        manager.upload("fake", Path("a.png"), [])


def test_a_routed_call_takes_keywords_as_pluggy_does() -> None:
    from mediatask.providers import hookspecs

    manager = PluginManager.from_plugins({"fake": FakePlugin()})
    submit = manager._routed(hookspecs.mediatask_submit, Request)
    assert isinstance(submit(provider="fake", job=JOB, marker=""), Request)
    with pytest.raises(TypeError, match="mediatask_submit takes its arguments by keyword"):
        submit("fake", JOB, "")


def test_installed_entry_points_are_loaded() -> None:
    manager = PluginManager.from_entry_points(selected="echo")
    assert set(manager.providers) == {"echo"}
    record = next(p for p in manager.plugins if p.name == "echo")
    assert record.distribution == "mediatask-echo"
    assert "mediatask_submit" in record.hooks


def test_mediatask_plugins_restricts_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIATASK_PLUGINS", "nonexistent")
    with pytest.raises(UnknownProviderError, match="not installed: nonexistent"):
        PluginManager.from_entry_points()


def test_a_plugin_that_fails_to_import_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    broken = importlib.metadata.EntryPoint("broken", "mediatask_no_such_module", "mediatask")
    real = importlib.metadata.entry_points

    def fake_entry_points(**kwargs: str) -> object:
        return [*real(**kwargs), broken]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    with pytest.warns(PluginLoadWarning, match="'broken'.*failed to load"):
        manager = PluginManager.from_entry_points(selected="")
    assert "echo" in manager.providers
    assert [f.name for f in manager.failures] == ["broken"]

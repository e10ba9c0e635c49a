"""Capabilities that say what a provider can really do: a list whose tasks carry no marker
promises no look-up, and the uncertain advice and ``--resubmit-uncertain`` follow that."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from mediatask import Client, Job, PluginManager, Settings
from mediatask.engine.uncertain import advice, can_settle, risk
from mediatask.http.messages import Request, Response
from mediatask.journal.sqlite import Journal
from mediatask.model.values import Capabilities, Submitted
from mediatask.plugin import hookimpl
from mediatask.testing import FAKE, FakePlugin, ScriptedTransport


class ListingPlugin(FakePlugin):
    """The fake provider with a list of its tasks."""

    @hookimpl
    def mediatask_list(self, operation: str | None) -> Request:
        return Request("GET", "/jobs")

    @hookimpl
    def mediatask_read_list(self, response: Response) -> list[Submitted]:
        return [Submitted(str(item["id"])) for item in response.json_object()["jobs"]]


def _client(finds_marker: bool | None) -> Client:
    capabilities = attrs.evolve(FAKE.capabilities, list=True, finds_marker=finds_marker)
    fake = ListingPlugin(attrs.evolve(FAKE, capabilities=capabilities))
    return Client(
        plugins=PluginManager.from_plugins({"fake": fake}),
        settings=Settings(environ={"MEDIATASK_FAKE_KEY": "sk-0123456789"}),
        transport=ScriptedTransport([]),
    )


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite") as journal:
        journal.register("j1", Job("fake", "draw", (), {"prompt": "x"}))
        journal.submitting("j1", journal.marker("j1"))
        yield journal


def test_a_list_without_markers_is_not_searched_and_the_advice_says_so(journal: Journal) -> None:
    client, record = _client(False), journal.get("j1")
    assert record is not None

    assert not can_settle(client, record)
    assert "keeps no mark of mediatask's on its tasks" in advice(client, record)
    assert "check your" in advice(client, record)
    assert "cannot be asked whether it was created" in risk(client, record)


@pytest.mark.parametrize("finds_marker", [None, True])
def test_a_list_that_carries_markers_is_searched(
    journal: Journal, finds_marker: bool | None
) -> None:
    client, record = _client(finds_marker), journal.get("j1")
    assert record is not None

    assert can_settle(client, record)  # None: a plugin of today's shape, as before
    assert "looks for it in" in advice(client, record)


def test_searchable_follows_list_and_finds_marker() -> None:
    assert not Capabilities().searchable
    assert Capabilities(list=True).searchable
    assert not Capabilities(list=True, finds_marker=False).searchable
    assert not Capabilities(finds_marker=True).searchable

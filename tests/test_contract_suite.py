"""The provider contract suite catches what it promises to: checks run against broken plugins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import pytest

from mediatask.errors import AuthError, MediataskError
from mediatask.hookspecs import hookimpl
from mediatask.http import Request, Response
from mediatask.model import Capabilities, Status, TaskRef
from mediatask.testing import FAKE, FakePlugin, ProviderContract


class _Contract(ProviderContract):
    provider = "fake"
    jobs: ClassVar[Mapping[str, tuple[list[str], dict[str, Any]]]] = {"upscale": ([], {})}

    def status_payload(self, task: TaskRef, word: str) -> Mapping[str, Any]:
        return {"id": task.task_id, "state": word}


class LeakyPlugin(FakePlugin):
    """Puts the request's headers in its errors, and claims no stream while it has one."""

    def __init__(self) -> None:
        super().__init__(attrs.evolve(FAKE, capabilities=Capabilities()))

    @hookimpl
    def mediatask_read_error(self, request: Request, response: Response) -> MediataskError | None:
        if response.ok:
            return None
        return AuthError(f"refused: {dict(request.headers)}")


def _contract(plugin: object) -> ProviderContract:
    checked: ProviderContract = type("Checked", (_Contract,), {"plugin": plugin})()
    return checked


def test_a_plugin_that_raises_key_error_on_unknown_words_fails_the_suite() -> None:
    checked = _contract(FakePlugin())

    with pytest.raises(KeyError):
        checked.test_unknown_status_words_are_not_final()
    with pytest.raises(KeyError):
        checked.test_unreadable_payloads_raise_plugin_error()


def test_a_plugin_whose_capabilities_disagree_with_its_hooks_fails_the_suite() -> None:
    with pytest.raises(AssertionError):
        _contract(LeakyPlugin()).test_capabilities_agree_with_the_hooks()


def test_a_plugin_that_repeats_the_key_in_errors_fails_the_suite() -> None:
    with pytest.raises(AssertionError, match="contract-key"):
        _contract(LeakyPlugin()).test_errors_carry_no_key()


def test_a_plugin_that_declares_an_operation_without_a_sample_fails_the_suite() -> None:
    checked = type("Checked", (_Contract,), {"plugin": FakePlugin(), "jobs": {}})()

    with pytest.raises(AssertionError):
        checked.test_every_declared_operation_has_a_sample_job()


def test_a_status_word_read_as_another_status_fails_the_suite() -> None:
    # FakePlugin reads "done" as a success; a provider table saying "done" means failed is wrong.
    words = {"queued": Status.QUEUED, "done": Status.FAILED}
    checked = type("Checked", (_Contract,), {"plugin": FakePlugin(), "status_words": words})()

    with pytest.raises(AssertionError, match="done"):
        checked.test_status_words_read_as_declared()
    checked.status_words = {"queued": Status.QUEUED, "running": Status.RUNNING}
    checked.test_status_words_read_as_declared()

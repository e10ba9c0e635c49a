"""The provider contract suite catches what it promises to: checks run against broken plugins."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import pytest

from mediatask.http.messages import Request, Response
from mediatask.model.errors import AuthError, FailedTask, MediataskError
from mediatask.model.values import Capabilities, Job, Status, TaskRef
from mediatask.providers.hookspecs import hookimpl
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


class RetriedFailurePlugin(FakePlugin):
    """Reads a model's error answer as a server error to retry, not as the task's failure."""

    @hookimpl
    def mediatask_read_error(self, request: Request, response: Response) -> MediataskError | None:
        return None  # the core maps a 500 to UnavailableError: retried, never "failed"


class FailingAnswerPlugin(FakePlugin):
    """Reads the same answer as the task's failure."""

    @hookimpl
    def mediatask_read_error(self, request: Request, response: Response) -> MediataskError | None:
        if response.ok:
            return None
        return FailedTask(str(response.json_object().get("detail")), status=response.status)


FAILED_ANSWERS = ((500, {"detail": "the model failed"}, False),)


def test_a_failure_answer_read_as_an_error_to_retry_fails_the_suite() -> None:
    retried = _contract(RetriedFailurePlugin())
    type(retried).failed_answers = FAILED_ANSWERS
    failing = _contract(FailingAnswerPlugin())
    type(failing).failed_answers = FAILED_ANSWERS

    with pytest.raises(AssertionError):
        retried.test_failed_answers_read_as_the_tasks_end()
    failing.test_failed_answers_read_as_the_tasks_end()


class PagedPlugin(FakePlugin):
    """Lists in pages of one; ``stuck`` asks for the same page again and again."""

    def __init__(self, *, stuck: bool) -> None:
        super().__init__(attrs.evolve(FAKE, capabilities=Capabilities(list=True)))
        self.stuck = stuck

    @hookimpl
    def mediatask_list(self) -> Request:
        return Request("GET", "/jobs", params={"page": "1"})

    @hookimpl
    def mediatask_next_page(self, request: Request, response: Response) -> Request | None:
        if response.json_object().get("last"):
            return None
        page = 1 if self.stuck else int(request.params["page"]) + 1
        return Request("GET", "/jobs", params={"page": str(page)})


class _PagedContract(_Contract):
    def list_answer(self, request: Request, *, last: bool) -> Response:
        body = {"jobs": [{"id": "a", "state": "done"}], "last": last}
        return Response(200, {"content-type": "application/json"}, json.dumps(body).encode())


def test_a_next_page_that_repeats_the_request_fails_the_suite() -> None:
    stuck = type("Checked", (_PagedContract,), {"plugin": PagedPlugin(stuck=True)})()
    moving = type("Checked", (_PagedContract,), {"plugin": PagedPlugin(stuck=False)})()

    with pytest.raises(AssertionError, match="same request"):
        stuck.test_list_pages_lead_on_and_end()
    moving.test_list_pages_lead_on_and_end()


class _Sampled(_Contract):
    jobs: ClassVar[Mapping[str, tuple[list[str], dict[str, Any]]]] = {
        "upscale": (["photo.png"], {}),
        "draw": ([], {"prompt": "x"}),
    }


def _sampled(plugin: object) -> ProviderContract:
    checked: ProviderContract = type("Checked", (_Sampled,), {"plugin": plugin})()
    return checked


class MarkingPlugin(PagedPlugin):
    """Lists its tasks; puts the submit's marker on the task's name when ``marks``."""

    def __init__(self, *, marks: bool, finds_marker: bool | None = None) -> None:
        super().__init__(stuck=False)
        capabilities = Capabilities(list=True, finds_marker=finds_marker)
        self.info = attrs.evolve(FAKE, capabilities=capabilities)
        self.marks = marks

    @hookimpl
    def mediatask_submit(self, job: Job, marker: str) -> Request:  # type: ignore[override]  # a hookimpl takes the arguments it wants
        name = {"name": marker} if self.marks else {}
        return Request("POST", "/jobs", json={"inputs": list(job.inputs), **name})


def test_a_list_said_to_find_markers_that_no_submit_carries_fails_the_suite() -> None:
    checked = _sampled
    with pytest.raises(AssertionError, match=r"finds_marker=False"):
        checked(
            MarkingPlugin(marks=False)
        ).test_a_list_searched_for_markers_gets_them_from_the_submits()
    checked(MarkingPlugin(marks=True)).test_a_list_searched_for_markers_gets_them_from_the_submits()
    with pytest.raises(pytest.skip.Exception):  # declared truthfully: nothing to look up
        checked(
            MarkingPlugin(marks=False, finds_marker=False)
        ).test_a_list_searched_for_markers_gets_them_from_the_submits()


def test_a_submit_held_longer_than_its_own_timeout_fails_the_suite() -> None:
    class Holding(FakePlugin):
        @hookimpl
        def mediatask_submit(self, job: Job) -> Request:  # type: ignore[override]  # a hookimpl takes the arguments it wants
            return Request("POST", "/jobs", json={}, timeout=5)

    blocking = attrs.evolve(FAKE, capabilities=Capabilities(submit_blocks=30))
    with pytest.raises(AssertionError, match="5 s"):
        _sampled(Holding(blocking)).test_a_submit_that_may_block_gets_time_for_its_hold()


def test_a_rate_class_without_room_for_a_request_fails_the_suite() -> None:
    empty = attrs.evolve(FAKE, rate_classes={"submit": [(0, 60)]})
    with pytest.raises(AssertionError, match="rate class 'submit'"):
        _contract(FakePlugin(empty)).test_rate_classes_are_windows()

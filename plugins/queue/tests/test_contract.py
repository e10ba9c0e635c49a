"""The queue against the provider contract suite, result step and failure answers included."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from mediatask.plugin import Status, TaskRef
from mediatask.testing import ProviderContract


class TestQueueContract(ProviderContract):
    provider = "queue"
    jobs: ClassVar[Mapping[str, tuple[list[str], dict[str, Any]]]] = {
        "draw": ([], {"prompt": "a red square", "size": 16}),
    }
    status_words: ClassVar[Mapping[str, Status]] = {
        "IN_QUEUE": Status.QUEUED,
        "IN_PROGRESS": Status.RUNNING,
        "COMPLETED": Status.SUCCEEDED,
    }
    unreadable = ({"request_id": "t"}, {"request_id": "t", "status": ""})
    failed_answers: ClassVar[tuple[tuple[int, Mapping[str, Any], bool], ...]] = (
        (422, {"detail": "the model failed: out of memory", "error_type": "model"}, False),
        (500, {"detail": "the model crashed", "error_type": "model"}, False),
        (400, {"detail": "the request was canceled", "error_type": "canceled"}, True),
    )

    def status_payload(self, task: TaskRef, word: str) -> Mapping[str, Any]:
        return {"request_id": task.task_id, "status": word}

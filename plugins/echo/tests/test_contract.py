"""Echo against the provider contract suite: all a provider needs to be checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from mediatask.plugin import Status, TaskRef
from mediatask.testing import ProviderContract


class TestEchoContract(ProviderContract):
    provider = "echo"
    jobs: ClassVar[Mapping[str, tuple[list[str], dict[str, Any]]]] = {
        "mirror": (["photo.png"], {"axis": "vertical"}),
        "draw": ([], {"prompt": "a red square", "size": 16}),
        "caption": (["photo.png"], {}),
    }
    status_words: ClassVar[Mapping[str, Status]] = {
        "queued": Status.QUEUED,
        "running": Status.RUNNING,
        "done": Status.SUCCEEDED,
        "failed": Status.FAILED,
        "canceled": Status.CANCELED,
    }
    unreadable = ({"id": "t"}, {"id": "t", "state": "done"})

    def status_payload(self, task: TaskRef, word: str) -> Mapping[str, Any]:
        return {"id": task.task_id, "state": word, "result_url": "https://files.invalid/r.png"}

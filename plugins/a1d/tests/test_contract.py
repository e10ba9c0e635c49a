"""A1D against the provider contract suite (``mediatask.testing.ProviderContract``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from mediatask.model.values import Status, TaskRef
from mediatask.testing import ProviderContract


class TestA1DContract(ProviderContract):
    provider = "a1d"
    jobs: ClassVar[Mapping[str, tuple[list[str], dict[str, Any]]]] = {
        "image-upscaler": (["photo.png"], {"scale": 2}),
        "remove-bg": (["photo.png"], {}),
        "video-upscaler": (["clip.mp4"], {}),
        "image-vectorization": (["photo.png"], {}),
        "image-extends": (["photo.jpg"], {}),
        "image-generator": ([], {"prompt": "a lighthouse"}),
        "speedpainter": (["photo.jpg"], {}),
    }
    status_words: ClassVar[Mapping[str, Status]] = {  # the docs' and the clients' words
        "PENDING": Status.QUEUED,
        "WAITING": Status.QUEUED,
        "INIT": Status.QUEUED,
        "PROCESSING": Status.RUNNING,
        "FINISHED": Status.SUCCEEDED,
        "FAILED": Status.FAILED,
        "ERROR": Status.FAILED,
    }
    unreadable = ({"taskId": "t"}, {"taskId": "t", "status": ""})

    def status_payload(self, task: TaskRef, word: str) -> Mapping[str, Any]:
        return {"taskId": task.task_id, "status": word, "progress": 10}

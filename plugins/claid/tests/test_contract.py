"""Claid against the provider contract suite (``mediatask.testing.ProviderContract``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from mediatask.model import Status, TaskRef
from mediatask.testing import ProviderContract


class TestClaidContract(ProviderContract):
    provider = "claid"
    jobs: ClassVar[Mapping[str, tuple[list[str], dict[str, Any]]]] = {
        "edit": (["photo.png"], {"operations": {"resizing": {"width": 100}}}),
    }
    status_words: ClassVar[Mapping[str, Status]] = {
        "ACCEPTED": Status.QUEUED,
        "WAITING": Status.QUEUED,
        "PAUSED": Status.QUEUED,
        "PROCESSING": Status.RUNNING,
        "DONE": Status.SUCCEEDED,
        "ERROR": Status.FAILED,
        "CANCELLED": Status.CANCELED,
    }
    unreadable = ({"id": 1}, {"data": {"id": 1}}, {"data": "x"})

    def status_payload(self, task: TaskRef, word: str) -> Mapping[str, Any]:
        return {"data": {"id": 1, "status": word, "created_at": "2026-01-01T00:00:00+00:00"}}

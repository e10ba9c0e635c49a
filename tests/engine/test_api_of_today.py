"""A plugin written against the plugin API before this round keeps working unchanged.

``of_today/echo_plugin.py`` is the reference plugin as it was (its read_cancel returns a str,
its outputs are all files, it declares none of the newer capabilities); the whole contract
suite runs against it, and a cancel of a finished task is still said truthfully.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from mediatask.plugin import Status, TaskRef
from mediatask.testing import ProviderContract, sample_photo, samples_fixture


def _load() -> ModuleType:
    path = Path(__file__).parents[1] / "of_today" / "echo_plugin.py"
    spec = importlib.util.spec_from_file_location("echo_plugin_of_today", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


inputs_url = samples_fixture({"photo.png": (sample_photo(), "image/png")})


class TestEchoOfTodayContract(ProviderContract):
    provider = "echo"
    plugin = _load()
    jobs: ClassVar[Mapping[str, tuple[list[str], dict[str, Any]]]] = {
        "mirror": (["photo.png"], {"axis": "vertical"}),
        "draw": ([], {"prompt": "a red square", "size": 16}),
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

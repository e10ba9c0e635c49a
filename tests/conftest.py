"""Shared fixtures for the core tests: a fake provider plugin, registered per test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mediatask import (
    Capabilities,
    Job,
    Operation,
    Output,
    Param,
    PluginManager,
    ProviderInfo,
    Request,
    Response,
    Status,
    Submitted,
    TaskRef,
    Update,
    hookimpl,
)

FAKE = ProviderInfo(
    name="fake",
    title="Fake",
    base_url="https://api.fake.test",
    auth_scheme="Bearer",
    operations=[
        Operation(
            "upscale",
            "Upscale",
            ("image",),
            (Param("scale", "int", default=2, choices=(2, 4)), Param("note")),
        ),
        Operation("draw", "Draw", (), (Param("prompt", required=True),)),
    ],
    capabilities=Capabilities(stream=True),
)


class FakePlugin:
    """A provider plugin that speaks a tiny made-up API; records what it was asked."""

    def __init__(self, info: ProviderInfo = FAKE) -> None:
        self.info = info
        self.calls: list[str] = []

    @hookimpl
    def mediatask_providers(self) -> list[ProviderInfo]:
        return [self.info]

    @hookimpl
    def mediatask_submit(self, provider: str, job: Job) -> Request:
        self.calls.append(f"submit {provider}")
        return Request("POST", "/jobs", json={"inputs": list(job.inputs), **job.params})

    @hookimpl
    def mediatask_read_submission(self, response: Response) -> Submitted:
        data = response.json_object()
        update = _update(data) if data.get("state") == "done" else None
        return Submitted(data["id"], update=update)

    @hookimpl
    def mediatask_poll(self, task: TaskRef) -> Request:
        self.calls.append(f"poll {task.provider}")
        return Request("GET", f"/jobs/{task.task_id}")

    @hookimpl
    def mediatask_stream(self, task: TaskRef) -> Request:
        return Request("GET", f"/jobs/{task.task_id}/events")

    @hookimpl
    def mediatask_parse_result(self, payload: Mapping[str, Any]) -> Update:
        return _update(payload)


_STATES = {
    "queued": Status.QUEUED,
    "running": Status.RUNNING,
    "done": Status.SUCCEEDED,
    "failed": Status.FAILED,
}


def _update(payload: Mapping[str, Any]) -> Update:
    status = _STATES[payload["state"]]
    outputs = [Output(url=payload["url"], role="image")] if payload.get("url") else []
    return Update(status, payload["state"], payload.get("progress"), payload.get("error"), outputs)


@pytest.fixture
def fake_plugin() -> FakePlugin:
    return FakePlugin()


@pytest.fixture
def fake_plugins(fake_plugin: FakePlugin) -> PluginManager:
    return PluginManager.from_plugins({"fake": fake_plugin})

"""The one concurrency runner (mediatask.engine.fanout) behind run_many and batches, and the
engine <-> many import cycle gone."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import trio
import trio.testing

import mediatask
from mediatask.engine.fanout import JobRunner
from mediatask.model.errors import MediataskError, UsageError
from mediatask.model.values import Job

JOBS = [Job("fake", "draw", (), {"prompt": str(n)}) for n in range(5)]


class Slots:
    """Provider slots that only record who holds one."""

    def __init__(self) -> None:
        self.held: list[str] = []

    def slot(self, provider: str) -> AbstractAsyncContextManager[None]:
        """As ``Client.slot``: an unknown provider is refused at once."""
        if provider == "unknown":
            raise UsageError("no provider called unknown")
        return self._hold(provider)

    @asynccontextmanager
    async def _hold(self, provider: str) -> AsyncIterator[None]:
        self.held.append(provider)
        try:
            yield
        finally:
            self.held.remove(provider)


async def test_at_most_limit_items_run_at_once_each_holding_its_providers_slot() -> None:
    slots, release = Slots(), trio.Event()
    running: list[Job] = []
    most = 0
    reported: list[tuple[Job, object]] = []

    async def work(item: Job, job: Job) -> str:
        nonlocal most
        assert slots.held.count(job.provider) == len(running) + 1  # its slot is held
        running.append(job)
        most = max(most, len(running))
        await release.wait()
        running.remove(job)
        return str(job.params["prompt"])

    async def report(item: Job, done: str | MediataskError) -> None:
        reported.append((item, done))

    runner = JobRunner(trio.CapacityLimiter(2), slots.slot, lambda item: item, work, report)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runner.all, JOBS)
        await trio.testing.wait_all_tasks_blocked()
        assert len(running) == 2  # the other three wait for their turn
        release.set()
    assert most == 2
    assert sorted(str(done) for _, done in reported) == ["0", "1", "2", "3", "4"]
    assert slots.held == []


async def test_a_refused_item_is_reported_alone_and_the_others_run() -> None:
    slots = Slots()
    limit = trio.CapacityLimiter(1)
    reported: dict[str, object] = {}
    holding_when_reported: list[bool] = []

    def prepare(item: str) -> Job:
        if item == "bad":
            raise UsageError("bad job")
        return Job("unknown" if item == "lost" else "fake", "draw", (), {"prompt": item})

    async def work(item: str, job: Job) -> str:
        return f"ran {item}"

    async def report(item: str, done: str | MediataskError) -> None:
        holding_when_reported.append(trio.lowlevel.current_task() in limit.statistics().borrowers)
        reported[item] = done

    await JobRunner(limit, slots.slot, prepare, work, report).all(["bad", "ok", "lost"])
    assert reported["ok"] == "ran ok"
    assert isinstance(reported["bad"], UsageError)
    assert str(reported["lost"]) == "no provider called unknown"
    assert holding_when_reported == [False, False, False]  # reported after the limit is released


def _imports(module: str) -> set[str]:
    """Every mediatask module ``module`` names in an import, TYPE_CHECKING ones included."""
    root = Path(mediatask.__file__).parent
    path = root.joinpath(*module.split(".")[1:]).with_suffix(".py")
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("mediatask.")}


def test_many_and_what_it_imports_never_import_the_engine() -> None:
    seen: set[str] = set()
    todo = ["mediatask.engine.run_many"]
    while todo:
        for name in _imports(todo.pop()) - seen:
            seen.add(name)
            todo.append(name)
    assert "mediatask.engine.client" not in seen, sorted(seen)
    assert "mediatask.engine.fanout" in seen

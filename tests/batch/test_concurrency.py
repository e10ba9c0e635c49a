"""Adaptive concurrency: slots that grow while the provider accepts and shrink when it refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest
import trio
import trio.testing
from click.testing import CliRunner

from mediatask import Client, Job, PluginManager, PollPolicy, RetryPolicy, Settings, UsageError
from mediatask.cli import cli
from mediatask.emulator import EmulatedTask, Phase, TaskState
from mediatask.emulator.limits import TaskLimit
from mediatask.engine.concurrency import AdaptiveLimit, Slots
from mediatask.http.messages import Request, Response
from mediatask.model.values import Capabilities, TaskRef
from mediatask.providers.sandbox import open_sandbox
from mediatask.testing import FAKE, FakePlugin, FakeTransport, reply

POLLING_ONLY = attrs.evolve(FAKE, capabilities=Capabilities(stream=False))


async def hold(limit: AdaptiveLimit, accept: bool, release: trio.Event) -> None:
    async with limit:
        if accept:
            limit.accepted()
        await release.wait()


async def test_slots_grow_while_every_submit_is_accepted() -> None:
    limit = AdaptiveLimit()
    release = trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(40):
            nursery.start_soon(hold, limit, True, release)
        await trio.testing.wait_all_tasks_blocked()
        assert limit.statistics().in_flight == 40  # from 4, one more per accepted submit
        release.set()


async def test_slots_do_not_grow_while_unused() -> None:
    limit = AdaptiveLimit()
    release = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(hold, limit, True, release)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert limit.limit == 4


async def test_a_refusal_shrinks_to_a_fraction_of_what_was_accepted() -> None:
    limit = AdaptiveLimit()
    release = trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(hold, limit, True, release)
        await trio.testing.wait_all_tasks_blocked()
        assert limit.statistics().accepted == 10
        limit.refused()
        assert limit.limit == 8  # 0.8 of the 10 the provider held
        limit.refused()  # the same answer again changes nothing
        assert limit.limit == 8
        nursery.start_soon(hold, limit, True, release)
        await trio.testing.wait_all_tasks_blocked()
        assert limit.statistics().waiting == 1  # 10 held, 8 allowed
        release.set()
    assert limit.statistics().refusals == 2


async def test_a_ceiling_is_never_passed() -> None:
    limit = Slots({"fake": 3}).get("fake", "key", documented=None)
    release = trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(hold, limit, True, release)
        await trio.testing.wait_all_tasks_blocked()
        assert limit.statistics().in_flight == 3
        release.set()
    assert limit.statistics().peak == 3


async def test_waiting_jobs_get_freed_slots_in_arrival_order() -> None:
    limit = AdaptiveLimit(ceiling=1)
    order: list[int] = []
    release = [trio.Event() for _ in range(4)]

    async def job(number: int) -> None:
        async with limit:
            order.append(number)
            await release[number].wait()

    async with trio.open_nursery() as nursery:
        for number in range(3):
            nursery.start_soon(job, number)
            await trio.testing.wait_all_tasks_blocked()
        release[0].set()
        nursery.start_soon(job, 3)  # arrives as a slot is handed on: it must not take it
        for number in range(1, 4):
            await trio.testing.wait_all_tasks_blocked()
            release[number].set()
    assert order == [0, 1, 2, 3]
    assert limit.statistics().in_flight == 0


def test_slots_are_per_provider_and_key() -> None:
    slots = Slots()
    assert slots.get("a", "k1", None) is slots.get("a", "k1", None)
    assert slots.get("a", "k1", None) is not slots.get("a", "k2", None)
    assert slots.get("a", "k1", None) is not slots.get("b", "k1", None)
    assert slots.get("c", None, documented=2).ceiling == 2


def test_a_bad_ceiling_is_a_usage_error(fake_plugins: PluginManager) -> None:
    with pytest.raises(UsageError, match="fake must be 1 or more"):
        Client(plugins=fake_plugins, max_in_flight={"fake": 0})


async def test_a_refused_submit_shrinks_the_providers_slots(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    answers = [reply(429, {"message": "busy"}, headers={"Retry-After": "1"}), reply(200, {"id": 1})]

    class Refusing(FakeTransport):
        async def respond(self, request: Request) -> Response:
            return answers.pop(0)

    settings = Settings(environ={"MEDIATASK_FAKE_KEY": "k"})
    client = Client(plugins=fake_plugins, settings=settings, transport=Refusing())
    async with client.slot("fake"):
        await client.submit(Job("fake", "draw", params={"prompt": "p"}))
    stats = client.slot("fake").statistics()
    assert stats.refusals == 1
    assert stats.limit == 2  # fell to 1 (nothing was held then), +1/1 when the retry was taken


async def test_a_batch_converges_on_an_emulators_limit_with_no_failed_job(
    mediatask_plugins: PluginManager,
) -> None:
    # At most 12 jobs at once (12 open streams: the threaded transport holds 16 connections).
    policies = {"polling": PollPolicy(initial=0.05, maximum=0.2), "retry": RetryPolicy()}
    async with open_sandbox(mediatask_plugins, ["echo"], max_in_progress=8) as box:
        emulator = box.emulators["echo"]
        emulator.faults.processing_seconds = 0.3
        emulator.limit.retry_after = 0.2
        settings = Settings(overrides=box.settings, environ={})
        jobs = [Job("echo", "draw", params={"prompt": f"p{n}"}) for n in range(60)]
        with trio.fail_after(60):
            async with (
                Client(plugins=mediatask_plugins, settings=settings, **policies) as client,  # type: ignore[arg-type]  # policies by name
                client.run_many(jobs, concurrency=12) as outcomes,
            ):
                failed = [o.error for o in [o async for o in outcomes] if not o.ok]
    assert failed == []
    assert emulator.stats["busy_refusals"] > 0  # the limit was met, and learned
    assert 4 <= emulator.limit.peak <= 8
    assert client.slot("echo").statistics().limit <= 12


def test_max_in_flight_option_reaches_the_client_and_names_a_provider() -> None:
    job = ["run", "echo", "draw", "-p", "prompt=x", "--sandbox"]
    typo = CliRunner().invoke(cli, [*job, "--max-in-flight", "ecoh=3"])
    assert typo.exit_code == 1
    assert "ecoh" in typo.output
    assert "Traceback" not in typo.output
    malformed = CliRunner().invoke(cli, [*job, "--max-in-flight", "echo=0"])
    assert malformed.exit_code == 2
    assert "PROVIDER=N" in malformed.output


def test_emulate_takes_a_limit_of_tasks_in_progress() -> None:
    refused = CliRunner().invoke(cli, ["emulate", "echo", "--max-in-flight", "0"])
    assert refused.exit_code == 2
    assert "--max-in-flight" in refused.output


async def test_following_without_a_submit_counts_as_a_held_task(
    fake_plugins: PluginManager,
) -> None:
    # A resumed batch holds slots for tasks submitted by an earlier run: they grow the limit too.
    gate = trio.Event()

    class Held(FakeTransport):
        async def respond(self, request: Request) -> Response:
            await gate.wait()
            return reply(200, {"state": "done", "url": "https://c/o"})

    settings = Settings(environ={"MEDIATASK_FAKE_KEY": "k"})
    plugins = PluginManager.from_plugins({"fake": FakePlugin(POLLING_ONLY)})
    client = Client(plugins=plugins, settings=settings, transport=Held())
    tasks = [TaskRef("fake", str(n), datetime.now(UTC), "draw") for n in range(6)]

    async def resume(task: TaskRef) -> None:
        async with client.slot("fake"):
            await client.wait(task)

    async with trio.open_nursery() as nursery:
        for task in tasks:
            nursery.start_soon(resume, task)
        await trio.testing.wait_all_tasks_blocked()
        assert client.slot("fake").statistics().in_flight == 6  # not stuck at the initial 4
        gate.set()


async def test_an_emulators_limit_counts_each_keys_unfinished_tasks() -> None:
    limit = TaskLimit(max_in_progress=1)
    assert not limit.refuses("KEY a")
    task = EmulatedTask("t1", "op", created_at=0.0)
    limit.track(task)
    assert limit.refuses("KEY a")
    assert not limit.refuses("Bearer b")  # another key has its own count
    task.update(TaskState(Phase.SUCCEEDED), now=1.0)
    assert not limit.refuses("KEY a")
    assert limit.peak == 1

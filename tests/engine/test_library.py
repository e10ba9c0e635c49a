"""The library API from a trio program, a plain script and an asyncio program."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import trio

import mediatask
from mediatask import Job, Outcome, UnknownProviderError

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"


def prompts(*words: str) -> list[Job]:
    return [Job("echo", "draw", (), {"prompt": word}) for word in words]


async def test_trio_program_runs_many_with_a_concurrency_limit(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    jobs = [*prompts("a", "b", "c"), Job("echo", "mirror", [str(SAMPLE)]), Job("nope", "x")]
    seen: list[Outcome] = []
    with trio.fail_after(30):
        async with client.run_many(jobs, tmp_path, concurrency=2) as outcomes:
            async for outcome in outcomes:
                seen.append(outcome)

    assert sorted(o.index for o in seen) == [0, 1, 2, 3, 4]
    failed = [o for o in seen if not o.ok]
    assert [o.index for o in failed] == [4]
    assert isinstance(failed[0].error, UnknownProviderError)
    for outcome in seen:
        if outcome.ok:
            assert outcome.result is not None
            assert outcome.task is not None
            assert all(path.is_file() for path in outcome.result.files)
    assert box.emulators["echo"].stats["submissions"] == 4


async def test_trio_program_follows_updates_and_waits(mediatask_sandbox: Any) -> None:
    _, client = mediatask_sandbox
    with trio.fail_after(30):
        task = await client.submit(prompts("x")[0])
        statuses = []
        async with client.updates(task) as updates:
            async for update in updates:
                statuses.append(update.status)
        result = await client.wait(task)
    assert statuses[-1] is mediatask.Status.SUCCEEDED
    assert result.task == task


@pytest.fixture
def echo_env(standalone_echo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in standalone_echo.env.items():
        monkeypatch.setenv(name, value)


@pytest.mark.subprocess
@pytest.mark.usefixtures("echo_env")
def test_plain_script_uses_the_synchronous_facade(tmp_path: Path) -> None:
    result = mediatask.run(prompts("one")[0], out_dir=tmp_path)
    assert [path.parent for path in result.files] == [tmp_path]

    ended: list[int] = []
    outcomes = mediatask.run_many(
        prompts("a", "b", "c"),
        out_dir=tmp_path,
        concurrency=2,
        on_outcome=lambda o: ended.append(o.index),
    )
    assert [o.index for o in outcomes] == [0, 1, 2]
    assert all(o.ok for o in outcomes)
    assert sorted(ended) == [0, 1, 2]


@pytest.mark.subprocess
@pytest.mark.usefixtures("echo_env")
def test_asyncio_program_runs_the_facade_in_a_worker_thread(tmp_path: Path) -> None:
    async def main() -> list[Outcome]:
        ticks = 0

        async def heartbeat() -> None:  # the asyncio loop stays responsive meanwhile
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        beating = asyncio.create_task(heartbeat())
        outcomes = await asyncio.to_thread(mediatask.run_many, prompts("a", "b"), out_dir=tmp_path)
        beating.cancel()
        assert ticks > 0
        return outcomes

    outcomes = asyncio.run(main())
    assert [o.ok for o in outcomes] == [True, True]


def test_public_names_are_exported_and_documented() -> None:
    for name in mediatask.__all__:
        value = getattr(mediatask, name)
        assert getattr(value, "__doc__", None), name
    for name in ("Client", "Outcome", "run", "run_many", "open_client", "KeyStore", "Journal"):
        assert name in mediatask.__all__


@pytest.mark.usefixtures("echo_env")
@pytest.mark.subprocess
def test_submit_then_status_wait_and_download_by_handle_from_separate_calls(
    tmp_path: Path,
) -> None:
    task = mediatask.submit(prompts("x")[0])
    handle = task.handle  # what a later process has: a string
    assert mediatask.status(handle).status in set(mediatask.Status)
    result = mediatask.wait(handle, timeout=30)
    assert result.outputs
    saved = mediatask.download_outputs(handle, str(tmp_path), name="mirrored")
    assert [path.name for path in saved.files] == ["mirrored-image.png"]
    again = mediatask.download_outputs(task, tmp_path, name="mirrored")
    assert [path.name for path in again.files] == ["mirrored-image-2.png"]  # never overwritten


def test_run_takes_a_str_folder_and_names_the_file_after_the_input(tmp_path: Path) -> None:
    job = Job("echo", "mirror", [str(SAMPLE)])
    result = mediatask.run(job, out_dir=str(tmp_path), sandbox=True, sandbox_seconds=0.1)
    assert [path.name for path in result.files] == ["lighthouse-image.png"]


async def test_client_run_takes_a_str_folder(mediatask_sandbox: Any, tmp_path: Path) -> None:
    _, client = mediatask_sandbox
    with trio.fail_after(30):
        result = await client.run(Job("echo", "mirror", [str(SAMPLE)]), str(tmp_path))
    assert [path.parent for path in result.files] == [tmp_path]


def test_taskref_parse_reads_a_handle_and_refuses_anything_else() -> None:
    task = mediatask.TaskRef.parse("a2e:abc:123", operation="image-to-video")
    assert (task.provider, task.task_id, task.operation) == ("a2e", "abc:123", "image-to-video")
    assert task.handle == "a2e:abc:123"
    for bad in ("abc", ":abc", "a1d:"):
        with pytest.raises(mediatask.UsageError, match="PROVIDER:TASK_ID"):
            mediatask.TaskRef.parse(bad)


async def test_a_sync_call_inside_a_trio_loop_is_a_clear_error() -> None:
    with pytest.raises(mediatask.UsageError, match="inside a trio loop: use `async with"):
        mediatask.run(prompts("x")[0])
    with pytest.raises(mediatask.UsageError, match="inside a trio loop"):
        mediatask.status("echo:1")


def test_a_sync_call_inside_an_asyncio_loop_is_a_clear_error() -> None:
    async def main() -> None:
        with pytest.raises(mediatask.UsageError, match=r"asyncio\.to_thread"):
            mediatask.run_many(prompts("x"))

    asyncio.run(main())


def test_run_batch_resumes_from_its_journal(tmp_path: Path) -> None:
    jobs = [Job("echo", "mirror", [str(SAMPLE)]), *prompts("a", "b")]
    ended: list[str] = []
    summary = mediatask.run_batch(
        jobs, str(tmp_path), sandbox=True, sandbox_seconds=0.1, on_end=lambda r: ended.append(r.id)
    )
    assert summary.ok
    assert sorted(ended) == ["lighthouse", "line-2", "line-3"]
    assert (tmp_path / "lighthouse-image.png").is_file()
    again = mediatask.run_batch(jobs, tmp_path, sandbox=True, on_end=lambda r: ended.append(r.id))
    assert again.ok
    assert again.counts["skipped"] == 3  # finished jobs are not run again
    assert again.ended == 0
    assert len(ended) == 3


async def test_client_check_takes_a_str_folder(mediatask_sandbox: Any, tmp_path: Path) -> None:
    _, client = mediatask_sandbox
    checked = client.check(Job("echo", "mirror", [str(SAMPLE)]), str(tmp_path / "new"))
    assert checked.operation == "mirror"

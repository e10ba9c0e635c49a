"""Every A2E family through the library (``Client``) against the emulator: submit, follow, download.

Local inputs go through A2E's presigned upload; outputs are decoded to prove they are real.
Waits are the engine's own polling, never sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio
from click.testing import CliRunner
from PIL import Image

from mediatask import Job, TaskRef
from mediatask.cli import cli
from mediatask.model.errors import (
    InsufficientCreditsError,
    NotFoundError,
    RejectedError,
    TaskFailedError,
    UsageError,
)
from mediatask.model.values import Status

ANCHOR = "65f1c0de0a2e000000000001"
Decode = Callable[[bytes], tuple[int, int, int]]


async def balance(client: Any) -> float:
    credits = await client.credits("a2e")
    assert credits.unit == "coins"
    return float(credits.amount)


async def test_image_to_video_uploads_the_photo_and_downloads_a_playable_mp4(
    mediatask_sandbox: Any, samples: dict[str, Path], tmp_path: Path, decode: Decode
) -> None:
    sandbox, client = mediatask_sandbox
    emulator = sandbox.emulators["a2e"]
    with trio.fail_after(20):
        before = await balance(client)
        job = Job("a2e", "image-to-video", [str(samples["photo.jpg"])], {"prompt": "smiles"})
        result = await client.run(job, out_dir=tmp_path)
        after = await balance(client)
    assert emulator.stats["uploads"] == 1  # the local photo went through the presigned PUT
    assert emulator.stats["unauthorized"] == 0
    [path] = result.files
    assert path.suffix == ".mp4"
    frames, _, width = decode(path.read_bytes())
    assert frames >= 1
    assert width > 0
    assert result.extra["coins"] == 100  # the cost, recorded in the Result
    assert result.task.extra["coins"] == "100"
    assert before - after == 100


CASES = [
    ("talking-photo", ["photo.jpg"], {"prompt": "talks"}, "video"),
    ("talking-video", ["clip.mp4"], {"prompt": "talks"}, "video"),
    ("face-swap", ["photo.jpg", "clip.mp4"], {}, "video"),
    ("dubbing", ["clip.mp4"], {"target_lang": "en"}, "dubbed"),
    ("caption-removal", ["clip.mp4"], {}, "video"),
    ("avatar-video", ["speech.mp3"], {"anchor_id": ANCHOR, "title": "hello"}, "dubbed"),
    ("tts", [], {"msg": "Hello from the emulator", "tts_id": "en-US-1"}, "audio"),
    ("text-to-image", [], {"prompt": "a lighthouse", "width": 256, "height": 192}, "image"),
]


@pytest.mark.parametrize(("operation", "inputs", "params", "kind"), CASES)
async def test_every_family_runs_to_a_real_file_and_charges_its_coins(
    mediatask_sandbox: Any,
    samples: dict[str, Path],
    tmp_path: Path,
    decode: Decode,
    operation: str,
    inputs: list[str],
    params: dict[str, Any],
    kind: str,
) -> None:
    _, client = mediatask_sandbox
    with trio.fail_after(25):
        before = await balance(client)
        job = Job("a2e", operation, [str(samples[name]) for name in inputs], params)
        result = await client.run(job, out_dir=tmp_path)
        spent = before - await balance(client)
    [path] = result.files
    data = path.read_bytes()
    if kind == "image":
        with Image.open(path) as image:
            assert image.size == (256, 192)
    else:
        frames, audio_samples, _ = decode(data)
        assert audio_samples > 0 if kind in ("audio", "dubbed") else audio_samples == 0
        assert frames == 0 if kind == "audio" else frames >= 1
    coins = result.extra.get("coins", int(result.task.extra.get("coins", 0)))
    assert spent == coins  # the balance drops by exactly what the task says it cost
    if operation != "tts":  # TTS costs nothing in the emulator (an assumption: UNKNOWN)
        assert coins > 0


async def test_text_to_image_with_several_images_follows_every_task(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    _, client = mediatask_sandbox
    job = Job("a2e", "text-to-image", [], {"prompt": "cats", "width": 128, "height": 128})
    with trio.fail_after(20):
        task = await client.submit(Job("a2e", "text-to-image", [], {**job.params, "max_images": 3}))
        assert len(task.extra["task_ids"].split(",")) == 3
        result = await client.download(await client.wait(task), tmp_path)
    assert len(result.files) == 3
    assert result.extra["coins"] == 15
    assert len({path.read_bytes() for path in result.files}) == 3  # three different images


@pytest.mark.parametrize("operation", ["image-to-video", "face-swap"])
async def test_a_failed_task_raises_with_the_providers_message(
    mediatask_sandbox: Any, samples: dict[str, Path], operation: str
) -> None:
    sandbox, client = mediatask_sandbox
    sandbox.emulators["a2e"].faults.failure_rate = 1.0
    inputs = ["photo.jpg"] if operation == "image-to-video" else ["photo.jpg", "clip.mp4"]
    params = {"prompt": "x"} if operation == "image-to-video" else {}
    job = Job("a2e", operation, [str(samples[n]) for n in inputs], params)
    with trio.fail_after(20), pytest.raises(TaskFailedError, match="processing failed") as caught:
        await client.run(job)
    assert caught.value.update is not None
    assert caught.value.update.raw_status == "failed"


async def test_delete_is_refused_while_processing_then_allowed_when_completed(
    mediatask_sandbox: Any, samples: dict[str, Path]
) -> None:
    sandbox, client = mediatask_sandbox
    emulator = sandbox.emulators["a2e"]
    emulator.hold_work = True
    with trio.fail_after(20):
        before = await balance(client)
        task = await client.submit(
            Job("a2e", "talking-video", [str(samples["clip.mp4"])], {"prompt": "p", "duration": 5})
        )
        async with client.updates(task) as updates:
            async for update in updates:
                if update.raw_status == "processing":
                    break
        with pytest.raises(RejectedError, match=r"only before it is sent .* or once it has ended"):
            await client.cancel(task)
        emulator.release()
        await client.wait(task)
        message = await client.cancel(task)  # completed: allowed, and no refund
        assert message == f"deleted {task.handle}; no coins refunded (it had already run)"
        assert before - await balance(client) == 13
        with pytest.raises(NotFoundError):
            await client.poll(task)
    assert emulator.stats["deletes_refused"] == 1


async def test_deleting_an_initialized_task_refunds_its_coins(
    mediatask_sandbox: Any, samples: dict[str, Path]
) -> None:
    sandbox, client = mediatask_sandbox
    emulator = sandbox.emulators["a2e"]
    emulator.hold_queue = True
    with trio.fail_after(20):
        before = await balance(client)
        job = Job(
            "a2e", "talking-video", [str(samples["clip.mp4"])], {"prompt": "p", "duration": 5}
        )
        task = await client.submit(job)
        assert (await client.poll(task)).raw_status == "initialized"
        assert before - await balance(client) == 13
        message = await client.cancel(task)
        assert message == f"deleted {task.handle}; 13 coins refunded (it had not started)"
        assert await balance(client) == before
        with pytest.raises(NotFoundError):
            await client.poll(task)


async def test_an_image_to_video_task_starts_sent_and_cannot_be_deleted_until_it_ends(
    mediatask_sandbox: Any, samples: dict[str, Path]
) -> None:
    """Its check-status page: "The initial status will be sent"; the delete rule allows only
    initialized, completed or failed tasks. The refusal says when deleting works."""
    sandbox, client = mediatask_sandbox
    emulator = sandbox.emulators["a2e"]
    emulator.hold_queue = True
    with trio.fail_after(20):
        job = Job("a2e", "image-to-video", [str(samples["photo.jpg"])], {"prompt": "p"})
        task = await client.submit(job)
        assert (await client.poll(task)).raw_status == "sent"
        with pytest.raises(RejectedError, match="runs to its end: delete it then"):
            await client.cancel(task)
        emulator.release()
        await client.wait(task)
        assert "no coins refunded" in await client.cancel(task)


@pytest.mark.parametrize("mode", ["http200_code", "http4xx_spec"])
async def test_too_few_coins_is_insufficient_credits_in_either_envelope(
    mediatask_sandbox: Any, samples: dict[str, Path], mode: str
) -> None:
    sandbox, client = mediatask_sandbox
    emulator = sandbox.emulators["a2e"]
    emulator.error_mode, emulator.coins = mode, 50
    job = Job("a2e", "image-to-video", [str(samples["photo.jpg"])], {"prompt": "p"})
    with trio.fail_after(20), pytest.raises(InsufficientCreditsError, match="not enough coins"):
        await client.submit(job)
    assert emulator.coins == 50
    assert emulator.stats["submissions"] == 0


async def test_an_error_given_as_http_200_with_a_code_is_raised(mediatask_sandbox: Any) -> None:
    sandbox, client = mediatask_sandbox
    sandbox.emulators["a2e"].error_mode = "http200_code"
    task = TaskRef("a2e", "0" * 24, datetime.now(UTC), operation="image-to-video")
    with trio.fail_after(10), pytest.raises(NotFoundError, match="Task not found"):
        await client.poll(task)


async def test_a_suspected_minor_says_how_to_proceed(
    mediatask_sandbox: Any, samples: dict[str, Path]
) -> None:
    sandbox, client = mediatask_sandbox
    emulator = sandbox.emulators["a2e"]
    emulator.minor_detected = 1004
    job = Job("a2e", "image-to-video", [str(samples["photo.jpg"])], {"prompt": "p"})
    with trio.fail_after(20):
        with pytest.raises(RejectedError, match="minor_suspected_skip=true"):
            await client.submit(job)
        skipping = Job(
            job.provider, job.operation, job.inputs, {**job.params, "minor_suspected_skip": True}
        )
        await client.submit(skipping)  # the user vouches: accepted
        emulator.minor_detected = 1003
        with pytest.raises(RejectedError, match="detected a minor"):
            await client.submit(skipping)
    assert emulator.stats["submissions"] == 1


async def test_injected_server_errors_are_retried(
    mediatask_sandbox: Any, samples: dict[str, Path]
) -> None:
    sandbox, client = mediatask_sandbox
    emulator = sandbox.emulators["a2e"]
    job = Job("a2e", "talking-photo", [str(samples["photo.jpg"])], {"prompt": "p"})
    with trio.fail_after(20):
        task = await client.submit(job)
        emulator.faults.error_status, emulator.faults.error_count = 503, 2
        result = await client.wait(task)
    assert result.outputs
    assert emulator.stats["injected_errors"] == 2


async def test_list_shows_the_providers_records_with_their_state(
    mediatask_sandbox: Any, samples: dict[str, Path]
) -> None:
    _, client = mediatask_sandbox
    job = Job("a2e", "caption-removal", [str(samples["clip.mp4"])])
    with trio.fail_after(20):
        done = await client.run(job)
        [listed] = await client.list_tasks("a2e", "caption-removal")
        assert await client.list_tasks("a2e", "image-to-video") == []
        with pytest.raises(UsageError, match="no list"):
            await client.list_tasks("a2e", "tts")
    assert listed.task_id == done.task.task_id
    known = client.known_update(listed)
    assert known is not None
    assert known.status is Status.SUCCEEDED


async def test_a_handle_without_its_operation_asks_for_it(mediatask_sandbox: Any) -> None:
    _, client = mediatask_sandbox
    task = TaskRef("a2e", "0" * 24, datetime.now(UTC))
    with trio.fail_after(10), pytest.raises(UsageError, match="operation is needed"):
        await client.poll(task)


def test_cli_run_in_the_sandbox_uploads_and_downloads_an_mp4(
    samples: dict[str, Path], tmp_path: Path, decode: Decode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDIATASK_PLUGINS", raising=False)
    args = ["run", "a2e", "image-to-video", "--input", str(samples["photo.jpg"])]
    args += ["-p", "prompt=the person smiles", "--sandbox", "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    [path] = [Path(line) for line in result.stdout.split()]
    assert path.suffix == ".mp4"
    frames, _, _ = decode(path.read_bytes())
    assert frames >= 1


def test_cli_credits_prints_the_balance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIATASK_PLUGINS", raising=False)
    result = CliRunner().invoke(cli, ["credits", "a2e", "--sandbox"])
    assert result.exit_code == 0, result.output
    assert "5000" in result.stdout
    assert "coins" in result.stdout


def test_a_handle_unknown_to_the_journal_needs_its_operation(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mediatask.cli import cli

    handle = "a2e:" + "0" * 24
    env = {"MEDIATASK_HOME": str(tmp_path)}
    runner = CliRunner()
    without = runner.invoke(cli, ["status", handle, "--sandbox"], env=env)
    assert without.exit_code == 1
    assert "the task's operation is needed to find it" in without.output
    given = ["status", handle, "--operation", "image-to-video", "--sandbox"]
    with_operation = runner.invoke(cli, given, env=env)
    assert with_operation.exit_code == 1  # a fresh sandbox knows no such task, but it asked
    assert "a2e does not know this task" in with_operation.output

"""The A1D plugin through the whole engine, against its emulator in the sandbox."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import pytest
import trio
from PIL import Image

import mediatask
from mediatask import Job, Status, TaskFailedError, Update
from mediatask.emulator import media

SAMPLE = Path(__file__).parents[3] / "samples" / "lighthouse.png"


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A short MP4 made from the sample, as input for the video upscaler."""
    clip = media.speedpaint_video(SAMPLE.read_bytes(), 0.5, 0.5, 6, max_width=96)
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip.video.data)
    return path


def frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize(
    ("operation", "params", "check"),
    [
        ("remove-bg", {}, "alpha"),
        ("image-vectorization", {}, "svg"),
        ("image-extends", {}, "bigger"),
        ("speedpainter", {"fps": 6, "sketchDuration": 0.5, "colorFillDuration": 0.5}, "mp4"),
    ],
)
async def test_image_operations_end_to_end(
    mediatask_sandbox: Any, tmp_path: Path, operation: str, params: dict[str, Any], check: str
) -> None:
    _, client = mediatask_sandbox
    with trio.fail_after(30):
        result = await client.run(Job("a1d", operation, [str(SAMPLE)], params), tmp_path)
    main = result.files[0]
    if check == "alpha":
        with Image.open(main) as image:
            alpha = image.getchannel("A")
            assert alpha.getextrema() == (0, 255)  # some transparent, some opaque
    elif check == "svg":
        assert main.suffix == ".svg"
        assert b"<svg" in main.read_bytes()
    elif check == "bigger":
        with Image.open(main) as image, Image.open(SAMPLE) as original:
            assert image.width > original.width
            assert image.height > original.height
    else:
        assert frames(main) > 0
        assert [f.stem.rsplit("-", 1)[1] for f in result.files] == ["video", "sketch"]


async def test_the_upscaler_enlarges_by_its_scale_and_adds_a_thumbnail(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    # Moved from the core's CLI tests, which now run on the reference plugin.
    _, client = mediatask_sandbox
    with trio.fail_after(30):
        job = Job("a1d", "image-upscaler", [str(SAMPLE)], {"scale": 4})
        result = await client.run(job, tmp_path)
    assert [o.role for o in result.outputs] == ["image", "thumbnail"]
    with Image.open(SAMPLE) as original, Image.open(result.files[0]) as upscaled:
        assert upscaled.size == (original.width * 4, original.height * 4)


async def test_image_generator_takes_only_a_prompt(mediatask_sandbox: Any, tmp_path: Path) -> None:
    _, client = mediatask_sandbox
    with trio.fail_after(30):
        result = await client.run(
            Job("a1d", "image-generator", [], {"prompt": "a lighthouse"}), tmp_path
        )
    with Image.open(result.files[0]) as image:
        assert image.width > 0


async def test_video_upscaler_end_to_end(
    mediatask_sandbox: Any, tmp_path: Path, video: Path
) -> None:
    _, client = mediatask_sandbox
    with trio.fail_after(30):
        result = await client.run(Job("a1d", "video-upscaler", [str(video)]), tmp_path / "out")
    with av.open(str(video)) as before, av.open(str(result.files[0])) as after:
        assert after.streams.video[0].width == 2 * before.streams.video[0].width
    assert frames(result.files[0]) > 0


async def test_a_dropped_stream_falls_back_to_polling(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    sandbox, client = mediatask_sandbox
    emulator = sandbox.emulators["a1d"]
    emulator.faults.drop_stream_after = 1
    emulator.sse_duplicates = True
    seen: list[Update] = []
    with trio.fail_after(30):
        result = await client.run(
            Job("a1d", "image-upscaler", [str(SAMPLE)], {"scale": 2}),
            tmp_path,
            on_update=lambda task, update: seen.append(update),
        )
    assert result.files
    # A dropped stream is opened again (the failures count anew after each new update) and
    # polled only after 3 drops without one; it used to be polled after the first drop.
    assert emulator.stats["streams"] >= 4
    assert emulator.stats["polls"] >= 1
    assert seen[-1].status is Status.SUCCEEDED
    assert all(a != b for a, b in itertools.pairwise(seen))  # a duplicate is passed once


async def test_finished_on_submit_is_not_followed(mediatask_sandbox: Any, tmp_path: Path) -> None:
    sandbox, client = mediatask_sandbox
    emulator = sandbox.emulators["a1d"]
    emulator.finish_on_submit = True
    with trio.fail_after(30):
        result = await client.run(Job("a1d", "remove-bg", [str(SAMPLE)]), tmp_path)
    assert result.files
    assert emulator.stats["streams"] == 0
    assert emulator.stats["polls"] == 0


async def test_a_failed_task_says_so(mediatask_sandbox: Any, tmp_path: Path) -> None:
    sandbox, client = mediatask_sandbox
    emulator = sandbox.emulators["a1d"]
    emulator.faults.failure_rate = 1.0
    with trio.fail_after(30), pytest.raises(TaskFailedError, match=r"a1d:task_\w+ failed"):
        await client.run(Job("a1d", "remove-bg", [str(SAMPLE)]), tmp_path)


async def test_expired_results_cannot_be_downloaded(mediatask_sandbox: Any, tmp_path: Path) -> None:
    sandbox, client = mediatask_sandbox
    with trio.fail_after(30):
        result = await client.wait(await client.submit(Job("a1d", "remove-bg", [str(SAMPLE)])))
    # "available for 24 hours after completion": counted from when the client saw it done.
    day = result.finished_at + timedelta(hours=24)
    assert [output.expires_at for output in result.outputs] == [day] * len(result.outputs)
    sandbox.emulators["a1d"].clock.advance(24 * 3600 + 1)
    client.clock = lambda: day + timedelta(seconds=1)
    with pytest.raises(mediatask.ExpiredError, match=r"expired at .*run the job again"):
        await client.download(result, tmp_path)
    assert list(tmp_path.iterdir()) == []


async def test_a_result_gone_before_its_expiry_is_told_apart(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    """The provider deleted it early (our expiry is an estimate): a 404 is final, not retried
    for the whole budget, and says the link is gone."""
    sandbox, client = mediatask_sandbox
    with trio.fail_after(30):
        result = await client.wait(await client.submit(Job("a1d", "remove-bg", [str(SAMPLE)])))
    sandbox.emulators["a1d"].clock.advance(24 * 3600 + 1)
    with trio.fail_after(30), pytest.raises(mediatask.ExpiredError, match="no longer"):
        await client.download(result, tmp_path)


def test_the_synchronous_facade_runs_a_job(tmp_path: Path) -> None:
    result = mediatask.run(
        Job("a1d", "image-upscaler", [str(SAMPLE)], {"scale": 2}), out_dir=tmp_path, sandbox=True
    )
    with Image.open(result.files[0]) as image:
        assert image.size == (2 * 192, 2 * 128)
    assert isinstance(result.task.handle, str)

"""The engine against a scripted transport: lifecycle, streams, fall-back, retries, auth."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
import trio.testing

from mediatask import (
    AuthError,
    Client,
    Job,
    PluginManager,
    PollPolicy,
    RetryPolicy,
    Settings,
    Status,
    SubmitUncertainError,
    TaskFailedError,
    TaskRef,
    UsageError,
)
from mediatask.model.errors import UnavailableError
from mediatask.testing import ScriptedTransport, reply

KEY = "sk-sentinel-0123456789"
EVENT_STREAM = {"content-type": "text/event-stream"}


def client(plugins: PluginManager, transport: ScriptedTransport, **options: object) -> Client:
    settings = Settings(environ={"MEDIATASK_FAKE_KEY": KEY})
    return Client(
        plugins=plugins,
        settings=settings,
        transport=transport,
        polling=PollPolicy(initial=1, factor=2, maximum=8),
        retry=RetryPolicy(budget=10, base_delay=1, jitter=0),
        **options,  # type: ignore[arg-type]  # test-only pass-through
    )


def sse(*payloads: dict[str, object]) -> list[bytes]:
    return [f"data: {json.dumps(p)}\n\n".encode() for p in payloads]


URL_JOB = Job("fake", "upscale", ["https://in.test/cat.png"], {"scale": "4"})


async def test_submit_then_poll_until_done(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = ScriptedTransport(
        [
            reply(200, {"id": 7, "state": "queued"}),
            reply(200, {"state": "running", "progress": 0.5}),
            reply(200, {"state": "running", "progress": 0.5}),
            reply(200, {"state": "done", "url": "https://cdn.test/out.png"}),
        ],
        streams=[(404, {}, [b"{}"])],  # no stream for this task: fall back to polling
    )
    async with client(fake_plugins, transport) as c:
        task = await c.submit(URL_JOB)
        seen = []
        result = await c.wait(task, lambda t, u: seen.append((u.status, u.progress)))

    assert task.task_id == "7"
    assert task.handle == "fake:7"
    assert [s for s, _ in seen] == [Status.RUNNING, Status.SUCCEEDED]  # the repeat is sent once
    assert result.outputs[0].url == "https://cdn.test/out.png"
    submit = transport.sent[0]
    assert submit.json == {"inputs": ["https://in.test/cat.png"], "scale": 4}  # typed
    assert submit.url == "https://api.fake.test/jobs"
    assert submit.headers["Authorization"] == f"Bearer {KEY}"
    # nothing learned yet: the first poll waits `initial` (never at once after the submit),
    # then the waits grow: polls at 1, +2 (same), +4
    assert trio.current_time() == pytest.approx(7, abs=0.05)


async def test_finished_on_submit_needs_no_polling(fake_plugins: PluginManager) -> None:
    transport = ScriptedTransport([reply(200, {"id": "x", "state": "done", "url": "https://c/o"})])
    async with client(fake_plugins, transport) as c:
        result = await c.wait(await c.submit(URL_JOB))
    assert len(transport.sent) == 1
    assert result.outputs[0].url == "https://c/o"


async def test_stream_gives_progress_and_final(fake_plugins: PluginManager) -> None:
    chunks = sse({"state": "running", "progress": 0.25}, {"state": "done", "url": "https://c/o"})
    # split inside an event, as the network may
    split = [chunks[0][:7], chunks[0][7:] + chunks[1][:3], chunks[1][3:]]
    transport = ScriptedTransport([reply(200, {"id": "s1"})], streams=[(200, EVENT_STREAM, split)])
    async with client(fake_plugins, transport) as c:
        task = await c.submit(URL_JOB)
        async with c.updates(task) as updates:
            got = [(u.status, u.progress) async for u in updates]
    assert got == [(Status.RUNNING, 0.25), (Status.SUCCEEDED, None)]
    assert transport.sent[1].url == "https://api.fake.test/jobs/s1/events"


async def test_dropped_stream_falls_back_to_polling(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    # Each stream sends the same running state, then ends: opened again 3 times (no progress
    # in between), then polled. (Before streams were reopened, polling began at the first drop.)
    dropped = (200, EVENT_STREAM, sse({"state": "running", "progress": 0.5}))
    transport = ScriptedTransport(
        [reply(200, {"id": "d"}), reply(200, {"state": "done", "url": "https://c/o"})],
        streams=[dropped] * 4,
    )
    async with client(fake_plugins, transport) as c:
        result = await c.wait(await c.submit(URL_JOB))
    assert result.outputs[0].url == "https://c/o"
    sent = [r.url.rsplit("/", 1)[-1] for r in transport.sent]
    assert sent == ["jobs", "events", "events", "events", "events", "d"]


async def test_malformed_stream_event_falls_back_to_polling(fake_plugins: PluginManager) -> None:
    transport = ScriptedTransport(
        [reply(200, {"id": "m"}), reply(200, {"state": "done", "url": "https://c/o"})],
        streams=[(200, EVENT_STREAM, [b"data: {not json\n\n"])],
    )
    async with client(fake_plugins, transport) as c:
        result = await c.wait(await c.submit(URL_JOB))
    assert result.outputs


async def test_failed_task_raises_with_reason(fake_plugins: PluginManager) -> None:
    transport = ScriptedTransport(
        [reply(200, {"id": "f"})],
        streams=[(200, EVENT_STREAM, sse({"state": "failed", "error": "corrupt image"}))],
    )
    async with client(fake_plugins, transport) as c:
        with pytest.raises(TaskFailedError, match="fake:f failed: corrupt image"):
            await c.wait(await c.submit(URL_JOB))


async def test_rate_limited_poll_waits_retry_after(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = ScriptedTransport(
        [
            reply(429, {"message": "slow down"}, headers={"Retry-After": "7"}),
            reply(200, {"state": "done", "url": "https://c/o"}),
        ]
    )
    async with client(fake_plugins, transport) as c:
        task = await _task(c)
        update = await c.poll(task)
    assert update.status is Status.SUCCEEDED
    assert trio.current_time() == pytest.approx(7)


async def test_submit_is_retried_only_when_nothing_was_sent(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    class Flaky(ScriptedTransport):
        async def respond(self, request):  # type: ignore[no-untyped-def]
            self.sent.append(request)
            if len(self.sent) == 1:
                return reply(200, {"state": "running"})  # the provider has answered once
            if len(self.sent) == 2:
                raise UnavailableError("cannot reach https://api.fake.test: connection refused")
            if len(self.sent) == 3:
                raise UnavailableError("connection reset", maybe_sent=True)
            raise AssertionError("a submit that may have arrived was sent again")

    transport = Flaky([])
    async with client(fake_plugins, transport) as c:
        await c.poll(await _task(c))
        with pytest.raises(SubmitUncertainError, match="may have been created"):
            await c.submit(URL_JOB)
    assert len(transport.sent) == 3


async def test_server_error_on_submit_is_not_resent(fake_plugins: PluginManager) -> None:
    transport = ScriptedTransport([reply(502, {"message": "bad gateway"})])
    async with client(fake_plugins, transport) as c:
        with pytest.raises(SubmitUncertainError):
            await c.submit(URL_JOB)
    assert len(transport.sent) == 1


async def test_rejected_key_names_the_variable_and_never_the_key(
    fake_plugins: PluginManager,
) -> None:
    transport = ScriptedTransport([reply(401, {"error": "Unauthorized", "message": f"bad {KEY}"})])
    async with client(fake_plugins, transport) as c:
        with pytest.raises(AuthError) as caught:
            await c.submit(URL_JOB)
    message = str(caught.value)
    assert "MEDIATASK_FAKE_KEY" in message
    assert KEY not in message
    assert KEY not in repr(transport.sent[0])


async def test_key_is_sent_only_to_the_provider_origin(
    fake_plugins: PluginManager, tmp_path: Path
) -> None:
    transport = ScriptedTransport(
        [reply(200, {"id": "o", "state": "done", "url": "https://cdn.other.test/o.png"})],
        streams=[(200, {"content-length": "3"}, [b"PNG"])],
    )
    async with client(fake_plugins, transport) as c:
        result = await c.wait(await c.submit(URL_JOB))
        await c.download(result, tmp_path)  # the output lives elsewhere: no key
    download = transport.sent[-1]
    assert download.url == "https://cdn.other.test/o.png"
    assert "Authorization" not in download.headers


async def test_missing_key_is_a_config_error_before_sending(fake_plugins: PluginManager) -> None:
    transport = ScriptedTransport([])
    c = Client(plugins=fake_plugins, settings=Settings(environ={}), transport=transport)
    with pytest.raises(UsageError, match="set MEDIATASK_FAKE_KEY"):
        await c.submit(URL_JOB)
    assert transport.sent == []


async def test_local_file_for_url_only_provider_says_what_to_do(
    fake_plugins: PluginManager, tmp_path: Path
) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"png")
    c = client(fake_plugins, ScriptedTransport([]))
    with pytest.raises(UsageError, match="takes inputs by URL only"):
        await c.submit(Job("fake", "upscale", [str(image)]))
    with pytest.raises(UsageError, match=r"input file not found: nope\.png"):
        await c.submit(Job("fake", "upscale", ["nope.png"]))


async def test_download_writes_part_then_renames(
    fake_plugins: PluginManager, tmp_path: Path
) -> None:
    transport = ScriptedTransport(
        [reply(200, {"id": "dl", "state": "done", "url": "https://cdn.test/a/result.png"})],
        streams=[(200, {"content-length": "6"}, [b"abc", b"def"])],
    )
    async with client(fake_plugins, transport) as c:
        result = await c.download(await c.wait(await c.submit(URL_JOB)), tmp_path)
    assert result.files == (tmp_path / "dl-image.png",)
    assert (tmp_path / "dl-image.png").read_bytes() == b"abcdef"
    assert not list(tmp_path.glob("*.part"))


async def test_truncated_download_leaves_no_file(
    fake_plugins: PluginManager, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Retried until the budget (10 s: attempts at 0, 1, 3, 7 and 10 s) is spent."""
    transport = ScriptedTransport(
        [reply(200, {"id": "t", "state": "done", "url": "https://cdn.test/r.png"})],
        streams=[(200, {"content-length": "100"}, [b"abc"])] * 5,
    )
    async with client(fake_plugins, transport) as c:
        result = await c.wait(await c.submit(URL_JOB))
        with pytest.raises(UnavailableError, match="incomplete"):
            await c.download(result, tmp_path)
    assert list(tmp_path.iterdir()) == []


async def _task(c: Client) -> TaskRef:
    return TaskRef("fake", "p", datetime.now(UTC))

"""Downloads under faults, in virtual time: retried, resumed, told apart (expired, local, down)."""

from __future__ import annotations

import errno
import http.server
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from mediatask import Client, ExpiredError, Job, PluginManager, RetryPolicy, Settings
from mediatask.engine.download import fetch_to_file
from mediatask.http.messages import Request, Response
from mediatask.model.errors import LocalWriteError, ResultExpiredError, UnavailableError, UsageError
from mediatask.model.values import Output
from mediatask.testing import FakePlugin, FakeTransport, reply

START = datetime(2030, 1, 1, tzinfo=UTC)
DATA = bytes(range(256)) * 4  # 1 KiB
URL = "https://cdn.test/r/result.png"


def virtual_now() -> datetime:
    """Wall-clock time that moves with trio's (mock) clock."""
    return START + timedelta(seconds=trio.current_time())


@attrs.frozen
class Answer:
    """One scripted answer to a download request."""

    status: int = 200
    headers: Mapping[str, str] = attrs.field(factory=dict)
    chunks: tuple[bytes, ...] = ()
    then_break: bool = False
    """Raise a broken-connection error after the chunks, as a reset mid-body does."""


@attrs.define
class _Body:
    status: int
    headers: Mapping[str, str]
    chunks: list[bytes]
    then_break: bool

    async def read(self, max_bytes: int = 65536) -> bytes:
        await trio.lowlevel.checkpoint()
        if self.chunks:
            return self.chunks.pop(0)
        if self.then_break:
            raise UnavailableError(
                "the stream from https://cdn.test broke: ('Connection broken: "
                "IncompleteRead(10 bytes read, 90 more expected)', IncompleteRead(10 bytes read))"
            )
        return b""


@attrs.define
class FileHost(FakeTransport):
    """A transport for downloads only: answers each stream from a script, records requests."""

    answers: list[Answer]
    sent: list[Request] = attrs.field(factory=list)

    @asynccontextmanager
    async def open_stream(self, request: Request) -> AsyncIterator[_Body]:
        self.sent.append(request)
        answer = self.answers.pop(0)
        headers = {k.lower(): v for k, v in answer.headers.items()}
        yield _Body(answer.status, headers, list(answer.chunks), answer.then_break)


def whole(data: bytes = DATA) -> Answer:
    return Answer(200, {"content-length": str(len(data))}, (data,))


def ranged(start: int, data: bytes = DATA) -> Answer:
    headers = {
        "content-range": f"bytes {start}-{len(data) - 1}/{len(data)}",
        "content-length": str(len(data) - start),
    }
    return Answer(206, headers, (data[start:],))


POLICY = RetryPolicy(budget=60, base_delay=1, max_delay=8, jitter=0)


async def fetch(
    host: FileHost,
    folder: Path,
    *,
    output: Output | None = None,
    retry: RetryPolicy = POLICY,
    now: Callable[[], datetime] = virtual_now,
) -> Path:
    return await fetch_to_file(
        host,
        output or Output(URL, role="image"),
        folder,
        "job-image",
        now=now,
        label="fake:t1",
        retry=retry,
    )


async def test_a_5xx_is_retried(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    host = FileHost([Answer(502, {"retry-after": "3"}), Answer(503), whole()])
    path = await fetch(host, tmp_path)
    assert path.read_bytes() == DATA
    assert len(host.sent) == 3
    assert trio.current_time() == pytest.approx(3 + 2)  # Retry-After, then back-off 2 s


async def test_a_folder_removed_since_it_was_checked_is_made_again(tmp_path: Path) -> None:
    folder = tmp_path / "gone"  # the client checks each output folder once, not per download
    path = await fetch(FileHost([whole()]), folder)
    assert path.parent == folder
    assert path.read_bytes() == DATA


async def test_a_body_of_many_chunks_is_written_whole(tmp_path: Path) -> None:
    pieces = tuple(DATA[i : i + 7] for i in range(0, len(DATA), 7))
    host = FileHost([Answer(200, {"content-length": str(len(DATA))}, pieces)])
    path = await fetch(host, tmp_path)
    assert path.read_bytes() == DATA


async def test_a_reset_mid_body_resumes_with_a_range(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    host = FileHost(
        [
            Answer(200, {"content-length": str(len(DATA))}, (DATA[:100],), then_break=True),
            ranged(100),
        ]
    )
    path = await fetch(host, tmp_path)
    assert path.read_bytes() == DATA
    assert "range" not in {k.lower() for k in host.sent[0].headers}
    assert host.sent[1].headers["Range"] == "bytes=100-"
    assert not list(tmp_path.glob("*.part"))


async def test_a_host_that_ignores_the_range_is_read_again_from_the_start(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    host = FileHost([Answer(200, {"content-length": str(len(DATA))}, (DATA[:500],)), whole()])
    path = await fetch(host, tmp_path)
    assert host.sent[1].headers["Range"] == "bytes=500-"
    assert path.read_bytes() == DATA  # not the first 500 bytes twice


async def test_a_truncated_body_is_resumed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    host = FileHost([Answer(200, {"content-length": str(len(DATA))}, (DATA[:10],)), ranged(10)])
    assert (await fetch(host, tmp_path)).read_bytes() == DATA


async def test_progress_renews_the_budget(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A slow, flaky host that keeps sending bytes is never given up on."""
    step = 100
    answers = []
    for start in range(0, 1000, step):
        headers = dict(ranged(start).headers) if start else {"content-length": str(len(DATA))}
        chunk = DATA[start : start + step]
        answers.append(Answer(206 if start else 200, headers, (chunk,), then_break=True))
    answers.append(ranged(1000))
    retry = RetryPolicy(budget=2, base_delay=1, max_delay=1, jitter=0)
    path = await fetch(FileHost(answers), tmp_path, retry=retry)
    assert path.read_bytes() == DATA
    assert trio.current_time() > retry.budget  # longer than the budget, never stuck


async def test_spent_budget_fails_in_one_line_and_leaves_no_part(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    host = FileHost([Answer(500, {}, (b"<html><title>500 Oops</title></html>",))] * 20)
    with pytest.raises(UnavailableError) as caught:
        await fetch(host, tmp_path, retry=RetryPolicy(budget=10, base_delay=1, jitter=0))
    message = str(caught.value)
    assert message.startswith(
        "downloading the image of fake:t1 failed: HTTP 500 (tried 5 times over 10s; "
        "retry budget 10s)"
    )
    assert "\n" not in message
    assert "mediatask download fake:t1" in message
    assert trio.current_time() == pytest.approx(10)
    assert list(tmp_path.iterdir()) == []


async def test_a_broken_stream_is_described_without_reprs(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    host = FileHost([Answer(200, {"content-length": "100"}, (b"x" * 10,), then_break=True)])
    with pytest.raises(UnavailableError) as caught:
        await fetch(host, tmp_path, retry=RetryPolicy(budget=0))
    assert "IncompleteRead" not in str(caught.value)
    assert "the answer was cut short" in str(caught.value)


async def test_an_expired_link_is_not_requested(tmp_path: Path) -> None:
    host = FileHost([])
    output = Output(URL, role="image", expires_at=START - timedelta(seconds=1))
    with pytest.raises(ResultExpiredError, match="run the job again"):
        await fetch(host, tmp_path, output=output, now=lambda: START)
    assert host.sent == []


@pytest.mark.parametrize("status", [403, 404, 410])
async def test_a_gone_link_without_expiry_is_expired(tmp_path: Path, status: int) -> None:
    host = FileHost([Answer(status)])
    with pytest.raises(ResultExpiredError) as caught:
        await fetch(host, tmp_path)
    assert isinstance(caught.value, ExpiredError)  # what callers caught before
    assert len(host.sent) == 1


async def test_a_404_while_the_link_is_valid_is_retried(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    output = Output(URL, role="image", expires_at=START + timedelta(hours=1))
    host = FileHost([Answer(404), whole()])
    assert (await fetch(host, tmp_path, output=output)).read_bytes() == DATA


async def test_a_link_gone_again_and_again_before_its_expiry_is_expired(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """An expiry may be our estimate (a day from when we saw the task finish): a link that
    keeps answering 404 is taken as expired after a few tries, not retried for the budget."""
    output = Output(URL, role="image", expires_at=START + timedelta(hours=1))
    host = FileHost([Answer(404)] * 10)
    with pytest.raises(ResultExpiredError, match=r"3 times.*rerun_expired=True"):
        await fetch(host, tmp_path, output=output)
    assert len(host.sent) == 3


async def test_a_download_past_the_expiry_says_when_and_how_to_recover(tmp_path: Path) -> None:
    output = Output(URL, role="image", expires_at=START - timedelta(seconds=1))
    host = FileHost([whole()])
    with pytest.raises(
        ResultExpiredError, match=r"expired at .*run the job again.*rerun_expired=True"
    ):
        await fetch(host, tmp_path, output=output)
    assert host.sent == []


async def test_a_404_once_the_known_expiry_has_passed_is_expired_at_once(tmp_path: Path) -> None:
    """The expiry passed between the check before asking and the answer: no retry."""
    expiry = START + timedelta(seconds=1)
    times = iter([START, expiry + timedelta(seconds=1)])
    output = Output(URL, role="image", expires_at=expiry)
    host = FileHost([Answer(404), whole()])
    with pytest.raises(ResultExpiredError, match=r"expired at .* \(HTTP 404\).*rerun_expired=True"):
        await fetch(host, tmp_path, output=output, now=lambda: next(times))
    assert len(host.sent) == 1


async def test_a_link_that_expires_while_retrying_is_expired(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    output = Output(URL, role="image", expires_at=START + timedelta(seconds=5))
    host = FileHost([Answer(503)] * 10)
    with pytest.raises(ResultExpiredError):
        await fetch(host, tmp_path, output=output)
    assert trio.current_time() >= 5


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EMFILE, errno.EACCES])
async def test_a_local_write_failure_is_a_local_write_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    async def refuse(path: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(trio, "open_file", refuse)
    host = FileHost([whole()])
    with pytest.raises(LocalWriteError) as caught:
        await fetch(host, tmp_path)
    assert os.strerror(code) in str(caught.value)
    assert "mediatask download fake:t1" in str(caught.value)
    assert len(host.sent) == 1  # not retried: the host is fine


# -- many jobs: one job's local failure fails that job only ---------------------------------


@attrs.define
class Provider(FakeTransport):
    """The fake provider and its file host: every job is done at once, its output named by it."""

    sent: list[Request] = attrs.field(factory=list)

    async def respond(self, request: Request) -> Response:
        self.sent.append(request)
        name = Path(request.json["inputs"][0]).stem
        return reply(200, {"id": name, "state": "done", "url": f"https://cdn.test/{name}.png"})

    @asynccontextmanager
    async def open_stream(self, request: Request) -> AsyncIterator[_Body]:
        self.sent.append(request)
        yield _Body(200, {"content-length": "3"}, [b"png"], then_break=False)


def many_jobs(names: list[str]) -> list[Job]:
    return [Job("fake", "upscale", [f"https://in.test/{name}.png"]) for name in names]


def provider_client(plugins: PluginManager) -> Client:
    settings = Settings(environ={"MEDIATASK_FAKE_KEY": "sk-test"})
    return Client(plugins=plugins, settings=settings, transport=Provider())


async def test_run_many_fails_only_the_job_that_cannot_be_written(
    fake_plugins: PluginManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_file = trio.open_file

    async def full_for_b(path: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(path).name.startswith("b-"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return await open_file(path, *args, **kwargs)

    monkeypatch.setattr(trio, "open_file", full_for_b)
    async with (
        provider_client(fake_plugins) as client,
        client.run_many(many_jobs(["a", "b", "c"]), tmp_path) as outcomes,
    ):
        ended = {outcome.job.inputs[0]: outcome async for outcome in outcomes}
    failed = ended.pop("https://in.test/b.png")
    assert isinstance(failed.error, LocalWriteError)
    assert failed.task is not None  # the handle is kept: download it again later
    assert all(outcome.ok for outcome in ended.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-image.png", "c-image.png"]


async def test_run_many_with_one_unwritable_file_fails_that_job_only(
    fake_plugins: PluginManager, tmp_path: Path
) -> None:
    """A real failure, not a patched one (and one that holds for root too): a folder sits
    where job b's ``.part`` file must go."""
    (tmp_path / "b-image.png.part").mkdir()
    async with (
        provider_client(fake_plugins) as client,
        client.run_many(many_jobs(["a", "b", "c"]), tmp_path) as outcomes,
    ):
        ended = {outcome.job.inputs[0]: outcome async for outcome in outcomes}
    failed = ended.pop("https://in.test/b.png")
    assert isinstance(failed.error, LocalWriteError)
    assert "Is a directory" in str(failed.error)
    assert all(outcome.ok for outcome in ended.values())
    assert (tmp_path / "a-image.png").read_bytes() == b"png"
    assert (tmp_path / "c-image.png").read_bytes() == b"png"


async def test_run_many_into_an_unusable_folder_is_refused_before_any_submit(
    fake_plugins: PluginManager, fake_plugin: FakePlugin, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    async with provider_client(fake_plugins) as client:
        with pytest.raises(UsageError, match="is a file, not a folder"):
            client.run_many(many_jobs(["a", "b", "c"]), blocker / "out")
    assert not [call for call in fake_plugin.calls if call.startswith("submit")]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
async def test_a_read_only_folder_is_a_local_write_error(
    fake_plugins: PluginManager, tmp_path: Path
) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        async with (
            provider_client(fake_plugins) as client,
            client.run_many(many_jobs(["a", "b"]), folder) as outcomes,
        ):
            ended = [outcome async for outcome in outcomes]
    finally:
        folder.chmod(0o700)
    assert all(isinstance(outcome.error, LocalWriteError) for outcome in ended)
    assert "Permission denied" in str(ended[0].error)


# -- over a real connection ----------------------------------------------------------------


async def test_a_cut_download_resumes_over_http(tmp_path: Path) -> None:
    """The transport's own broken-read error leads to a Range request, and the file is whole."""
    from mediatask.http.http11 import Http11Transport
    from mediatask.testing import serving_in_thread

    ranges: list[str | None] = []

    class CutOnce(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # stdlib's name
            asked = self.headers.get("Range")
            ranges.append(asked)
            if asked is None:  # promise everything, send half, hang up
                self.send_response(200)
                self.send_header("Content-Length", str(len(DATA)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(DATA[:500])
                self.wfile.flush()
                self.close_connection = True
                return
            start = int(asked.removeprefix("bytes=").rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
            self.send_header("Content-Length", str(len(DATA) - start))
            self.end_headers()
            self.wfile.write(DATA[start:])

        def log_message(self, format: str, *args: object) -> None:  # stdlib's name
            pass

    with serving_in_thread(CutOnce) as url:
        transport = Http11Transport()
        path = await fetch_to_file(
            transport,
            Output(f"{url}/result.png", role="image"),
            tmp_path,
            "job-image",
            now=lambda: START,
            label="fake:t1",
            retry=RetryPolicy(budget=30, base_delay=0.01, max_delay=0.01),
        )
        await transport.aclose()
    assert path.read_bytes() == DATA
    assert ranges == [None, "bytes=500-"]  # resumed after the 500 bytes that arrived


# -- never over a file already there ------------------------------------------------------


async def test_a_download_never_replaces_a_file_already_there(tmp_path: Path) -> None:
    (tmp_path / "job-image.png").write_bytes(b"mine")
    first = await fetch(FileHost([whole()]), tmp_path)
    second = await fetch(FileHost([whole()]), tmp_path)
    assert (first.name, second.name) == ("job-image-2.png", "job-image-3.png")
    assert (tmp_path / "job-image.png").read_bytes() == b"mine"
    assert first.read_bytes() == second.read_bytes() == DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "job-image-2.png",
        "job-image-3.png",
        "job-image.png",
    ]


async def test_two_downloads_at_once_to_the_same_name_get_two_files(tmp_path: Path) -> None:
    paths: list[Path] = []

    async def one() -> None:
        paths.append(await fetch(FileHost([whole()]), tmp_path))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one)
        nursery.start_soon(one)
    assert sorted(p.name for p in paths) == ["job-image-2.png", "job-image.png"]
    assert all(p.read_bytes() == DATA for p in paths)


async def test_a_failed_download_gives_its_reserved_name_back(tmp_path: Path) -> None:
    (tmp_path / "job-image.png.part").mkdir()  # the part file cannot be written
    with pytest.raises(LocalWriteError):
        await fetch(FileHost([whole()]), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["job-image.png.part"]

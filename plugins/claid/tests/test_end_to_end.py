"""Claid end to end through mediatask's Client: URL inputs by the async endpoint, local files by
upload, rate limits kept, a forced 429 waited out. Real HTTP on loopback, one generous deadline
per test, no sleeps for synchronisation."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from PIL import Image

import mediatask_claid
from mediatask import Job, hookimpl
from mediatask.emulator import serving
from mediatask.engine.client import Client
from mediatask.engine.policy import RateLimiter, RetryPolicy
from mediatask.model.errors import RateLimitedError
from mediatask.model.values import ProviderInfo
from mediatask.providers.manager import PluginManager
from mediatask.settings.config import ProviderSettings, Settings
from mediatask_claid.emulator import ClaidEmulator

KEY = "claid-e2e-key"
VENDOR_PARAMS = {"operations.resizing.width": "1000", "operations.background.remove": "false"}
HOOKS = (
    "mediatask_validate",
    "mediatask_submit",
    "mediatask_read_submission",
    "mediatask_poll",
    "mediatask_parse_result",
    "mediatask_read_error",
)


def claid_plugin(limits: tuple[tuple[int, float], ...]) -> Any:
    """The Claid plugin's hooks, declaring ``limits`` instead of the documented ones."""
    info = attrs.evolve(mediatask_claid.INFO, rate_limits=limits)

    @hookimpl
    def mediatask_providers() -> list[ProviderInfo]:
        return [info]

    hooks = {name: staticmethod(getattr(mediatask_claid, name)) for name in HOOKS}
    scaled = type(
        "ScaledClaid", (), {"mediatask_providers": staticmethod(mediatask_providers), **hooks}
    )
    return scaled()


UNTIL_ANSWERED = 24 * 3600.0
"""A count_within no answer in these tests takes: a request is logged until answered."""


def client_for(base_url: str, limits: tuple[tuple[int, float], ...], **options: Any) -> Client:
    plugins = PluginManager.from_plugins({"claid": claid_plugin(limits)})
    clock = trio.lowlevel.current_clock()
    if isinstance(clock, trio.testing.MockClock) and clock.rate > 1:
        # The limiter logs a request when its answer arrives, or count_within seconds after it
        # was sent if the answer is slower. On a clock running RATE times real time a busy
        # machine's delay before the emulator counts a request is RATE times longer in virtual
        # seconds, without bound: here each request stays logged until its answer, which the
        # emulator always sends after counting it, so no delay can squeeze one into a window.
        def slower(info: ProviderInfo) -> RateLimiter:
            return RateLimiter(info.rate_limits, count_within=UNTIL_ANSWERED)

        options.setdefault("throttles", slower)
    settings = Settings(overrides={"claid": ProviderSettings(base_url, KEY)}, environ={})
    return Client(plugins=plugins, settings=settings, **options)


@pytest.fixture
async def emulator(inputs_url: str) -> AsyncIterator[tuple[ClaidEmulator, str]]:
    """A Claid emulator with its default limits and quick tasks; yields it and its base URL."""
    claid = ClaidEmulator(accepted_key=KEY)
    claid.faults.processing_seconds = 0.0
    async with serving(claid.app) as base_url:
        yield claid, base_url


async def test_a_url_runs_through_the_async_endpoint(
    mediatask_sandbox: Any, inputs_url: str, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    job = Job("claid", "edit", [f"{inputs_url}/samples/photo.png"], VENDOR_PARAMS)
    with trio.fail_after(20):
        result = await client.run(job, out_dir=tmp_path)
    assert result.task.task_id == "1"
    assert result.task.extra["result_path"] == "v1/image/edit/async/1"
    (path,) = result.files
    with Image.open(path) as image:
        assert (image.format, image.width) == ("JPEG", 1000)
    stats = box.emulators["claid"].stats
    assert (stats["submissions"], stats["uploads"]) == (1, 0)
    assert stats["polls"] >= 1


async def test_a_local_file_runs_through_the_upload_endpoint(
    mediatask_sandbox: Any, samples_dir: Path, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    job = Job("claid", "edit", [str(samples_dir / "photo.jpg")], VENDOR_PARAMS)
    with trio.fail_after(20):
        result = await client.run(job, out_dir=tmp_path)
    assert result.task.task_id.startswith("upload-")
    (path,) = result.files
    with Image.open(path) as image:
        assert image.width == 1000
    stats = box.emulators["claid"].stats
    assert (stats["uploads"], stats["submissions"], stats["polls"]) == (1, 0, 0)


async def test_a_nested_document_as_params_file_gives(
    mediatask_sandbox: Any, inputs_url: str, tmp_path: Path
) -> None:
    """What ``--params-file edit.json`` passes: the document itself, typed, in ``job.params``."""
    _, client = mediatask_sandbox
    document = {
        "operations": {
            "resizing": {"width": 40, "height": 40, "fit": "canvas"},
            "background": {"remove": True},
        },
        "output": {"format": {"type": "png", "compression": "best"}},
    }
    job = Job("claid", "edit", [f"{inputs_url}/samples/photo.png"], document)
    with trio.fail_after(20):
        result = await client.run(job, out_dir=tmp_path)
    with Image.open(result.files[0]) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (40, 40), "RGBA")


@pytest.fixture
def ten_times_faster() -> trio.testing.MockClock:
    """Trio's clock running 10x real time, for this test's client AND emulator alike.

    pytest-trio runs a test on a Clock fixture it requests. The client paces requests by
    ``trio.current_time()`` and the emulator counts its windows on it too, so both see Claid's
    documented limits (4/s, 120/min) unchanged, only a minute passes in six real seconds.
    """
    return trio.testing.MockClock(rate=10.0)


async def test_sixty_jobs_stay_under_the_default_limits(
    ten_times_faster: trio.testing.MockClock, inputs_url: str, tmp_path: Path
) -> None:
    """60 concurrent jobs against the emulator's default 4/s and 120/min policies: zero 429s.

    Each job is a submit and at least one poll: 120 requests or more, a whole minute window's
    worth, paced by the per-second window. The client knows only the limits the plugin declares.
    """
    claid = ClaidEmulator(accepted_key=KEY)
    assert claid.limits == mediatask_claid.INFO.rate_limits == ((4, 1.0), (120, 60.0))
    claid.faults.processing_seconds = 0.0
    results: list[Any] = []
    async with serving(claid.app) as base_url:
        client = client_for(base_url, mediatask_claid.INFO.rate_limits)

        async def one(index: int) -> None:
            job = Job(
                "claid",
                "edit",
                [f"{inputs_url}/samples/photo.png"],
                {"operations.resizing.width": "32"},
            )
            results.append(await client.run(job, out_dir=tmp_path / str(index)))

        with trio.fail_after(600):  # mock seconds: one real minute
            async with client, trio.open_nursery() as nursery:
                for index in range(60):
                    nursery.start_soon(one, index)
    assert len({result.task.task_id for result in results}) == 60
    for result in results:
        with Image.open(result.files[0]) as image:
            assert image.width == 32
    assert claid.stats["submissions"] == 60
    assert claid.stats["requests"] >= 120
    assert claid.stats["rate_limited"] == 0


async def test_without_declared_limits_the_same_burst_is_refused(inputs_url: str) -> None:
    """The control for the test above: a client that ignores the limits meets 429s."""
    claid = ClaidEmulator(accepted_key=KEY)
    refused: list[RateLimitedError] = []
    async with serving(claid.app) as base_url:
        client = client_for(base_url, (), retry=RetryPolicy(budget=0))

        async def one() -> None:
            try:
                await client.submit(Job("claid", "edit", [f"{inputs_url}/samples/photo.png"], {}))
            except RateLimitedError as exc:
                refused.append(exc)

        with trio.fail_after(20):
            async with client, trio.open_nursery() as nursery:
                for _ in range(12):
                    nursery.start_soon(one)
    assert refused
    assert claid.stats["rate_limited"] == len(refused)
    assert claid.stats["submissions"] == 12 - len(refused)


async def test_a_forced_429_is_waited_out_for_the_reset_time(
    emulator: tuple[ClaidEmulator, str], inputs_url: str
) -> None:
    claid, base_url = emulator
    claid.faults.error_status, claid.faults.error_count = 429, 1  # RateLimit-Reset: 1
    client = client_for(
        base_url,
        mediatask_claid.INFO.rate_limits,
        retry=RetryPolicy(base_delay=0.01, max_delay=0.02),
    )
    job = Job("claid", "edit", [f"{inputs_url}/samples/photo.png"], VENDOR_PARAMS)
    with trio.fail_after(20):
        async with client:
            started = trio.current_time()
            task = await client.submit(job)
            waited = trio.current_time() - started
            result = await client.wait(task)
    assert waited >= 1.0  # the reset the 429 gave, not the 0.01 s back-off
    assert result.outputs[0].width == 1000
    assert claid.stats["rate_limited"] == 1
    assert claid.stats["submissions"] == 1


class RecordingProxy:
    """An ASGI app in front of the emulator that keeps every request's headers and body bytes
    exactly as they arrived, then passes the request on unchanged; and, for each answer, when its
    request arrived and when it left (trio time), the method, its status and headers."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[tuple[float, float, str, int, dict[str, str]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        arrived = trio.current_time()
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.seen.append((headers, body))
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                message: dict[str, Any] = await receive()  # the client's disconnect, when it comes
                return message
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def noting(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answered = {k.decode().lower(): v.decode() for k, v in message["headers"]}
                left = trio.current_time()
                self.answers.append((arrived, left, scope["method"], message["status"], answered))
            await send(message)

        await self.inner(scope, replay, noting)


async def test_the_upload_parts_are_sent_as_the_reference_asks(
    samples_dir: Path, tmp_path: Path
) -> None:
    """The ``data`` part carries ``Content-Type: application/json``; the ``file`` part's
    filename is the file's stem (it names the result, "better not to include the extension")."""
    import email.parser
    import email.policy

    claid = ClaidEmulator(accepted_key=KEY)
    proxy = RecordingProxy(claid.app)
    async with serving(proxy) as base_url:
        client = client_for(base_url, ())
        job = Job("claid", "edit", [str(samples_dir / "photo.jpg")], VENDOR_PARAMS)
        with trio.fail_after(20):
            async with client:
                result = await client.run(job, out_dir=tmp_path)
    assert result.outputs[0].url.endswith("/photo.jpeg")
    ((headers, body),) = proxy.seen[:1]
    head = f"Content-Type: {headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts = {
        part.get_param("name", header="content-disposition"): part for part in message.iter_parts()
    }
    assert parts["data"]["Content-Type"] == "application/json"
    assert parts["data"].get_filename() is None
    assert parts["file"].get_filename() == "photo"
    assert parts["file"]["Content-Type"] == "image/jpeg"


@pytest.fixture
def twenty_times_faster() -> trio.testing.MockClock:
    """Trio's clock at 20x real time, for the client and the emulator alike (see above)."""
    return trio.testing.MockClock(rate=20.0)


async def test_forty_jobs_learn_a_smaller_accounts_windows_from_its_answers(
    twenty_times_faster: trio.testing.MockClock,
    inputs_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An account with 1/s and 30/min (``mediatask emulate claid --rate 1/s,30/min``) while the
    client starts from the documented 4/s and 120/min: the first answers list the account's
    windows, the client keeps to them, and only the burst before the first answer meets 429s
    (each waited out for its ``RateLimit-Reset``). Status reads are not counted."""
    caplog.set_level(logging.INFO, logger="mediatask")
    claid = ClaidEmulator(accepted_key=KEY)
    claid.configure("rate", "1/s,30/min")
    claid.faults.processing_seconds = 0.0
    proxy = RecordingProxy(claid.app)
    results: list[Any] = []
    async with serving(proxy) as base_url:
        client = client_for(base_url, mediatask_claid.INFO.rate_limits)

        async def one(index: int) -> None:
            job = Job("claid", "edit", [f"{inputs_url}/samples/photo.png"], {"operations": {}})
            results.append(await client.run(job, out_dir=tmp_path / str(index)))

        started = trio.current_time()
        with trio.fail_after(900):  # mock seconds
            async with client, trio.open_nursery() as nursery:
                for index in range(40):
                    nursery.start_soon(one, index)
        took = trio.current_time() - started
    assert len(results) == 40
    assert claid.stats["submissions"] == 40
    print("429s:", claid.stats["rate_limited"], "mock seconds:", round(took, 1))
    assert claid.stats["rate_limited"] <= 4  # the first second's burst at most
    assert took >= 60  # 30 a minute: the last ten waited for the minute window
    assert claid.stats["polls"] >= 1
    # Each 429 was waited out for its RateLimit-Reset (the emulator's whole seconds), by the
    # client's own account of its retries.
    resets = [
        float(headers["ratelimit-reset"]) for *_, status, headers in proxy.answers if status == 429
    ]
    waits = [record.getMessage() for record in caplog.records if "retrying in" in record.message]
    assert len(waits) == len(resets) == claid.stats["rate_limited"]
    assert all(
        wait.endswith(f"retrying in {reset:.1f}s")
        for wait, reset in zip(waits, sorted(resets), strict=True)
    )


async def test_result_reads_are_not_held_by_the_rate_windows(
    inputs_url: str, tmp_path: Path
) -> None:
    """An account with one processing request a minute: the submit uses it, and the job still
    ends at once, because Claid does not count reading a result (the polls go regardless)."""
    claid = ClaidEmulator(accepted_key=KEY)
    claid.configure("rate", "1/min")
    claid.faults.processing_seconds = 0.0
    async with serving(claid.app) as base_url:
        client = client_for(base_url, ((1, 60.0),))
        job = Job("claid", "edit", [f"{inputs_url}/samples/photo.png"], {"operations": {}})
        with trio.fail_after(20):  # real seconds: a counted poll would wait a minute
            async with client:
                result = await client.run(job, out_dir=tmp_path)
    assert result.files
    assert claid.stats["polls"] >= 1
    assert claid.stats["rate_limited"] == 0

"""The sender's retries in virtual time: by budget, Retry-After, and always cancellable."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest
import trio
import trio.lowlevel
import trio.testing

import mediatask
from mediatask import (
    Client,
    Job,
    PluginManager,
    RateLimitedError,
    RetryPolicy,
    Settings,
    SubmitUncertainError,
    TaskRef,
    TaskTimeoutError,
)
from mediatask.http.messages import Request, Response
from mediatask.model.errors import UnavailableError
from mediatask.testing import FAKE, FakePlugin, FakeTransport, ScriptedTransport, reply

JOB = Job("fake", "upscale", ["https://in.test/cat.png"])
TASK = TaskRef("fake", "t1", datetime(2030, 1, 1, tzinfo=UTC))
DONE = {"state": "done", "url": "https://cdn.test/o.png"}
NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center>"
    b"<h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n"
    b"</html>\r\n"
)
REFUSED = "cannot reach https://api.fake.test: connection refused"
RESET = "the connection to https://api.fake.test failed during the request: connection reset"


def make_client(
    plugins: PluginManager,
    transport: object,
    retry: RetryPolicy | None = None,
    environ: dict[str, str] | None = None,
) -> Client:
    return Client(
        plugins=plugins,
        settings=Settings(environ={"MEDIATASK_FAKE_KEY": "sk-test-key", **(environ or {})}),
        transport=transport,  # type: ignore[arg-type]  # test doubles
        retry=retry or RetryPolicy(base_delay=1, max_delay=30, jitter=0),
    )


@attrs.define
class Outage(FakeTransport):
    """Resets every connection until ``until`` (trio time), then answers ``answer``."""

    until: float
    answer: Response
    failure: str = RESET
    sent: list[Request] = attrs.field(factory=list)

    async def respond(self, request: Request) -> Response:
        self.sent.append(request)
        if trio.current_time() < self.until:
            raise UnavailableError(self.failure, maybe_sent=self.failure is RESET)
        return self.answer


async def test_a_provider_never_reached_fails_at_once_naming_the_variable(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Outage(until=10_000, answer=reply(200, DONE), failure=REFUSED)
    moved = {"MEDIATASK_FAKE_BASE_URL": "https://api.fake.test"}
    async with make_client(fake_plugins, transport, environ=moved) as client:
        with pytest.raises(UnavailableError) as caught:
            await client.poll(TASK)
    assert trio.current_time() == 0
    assert str(caught.value) == (
        "cannot reach https://api.fake.test: connection refused "
        "(fake has not answered yet; check MEDIATASK_FAKE_BASE_URL)"
    )
    async with make_client(fake_plugins, transport) as client:  # the default URL: no hint
        with pytest.raises(UnavailableError) as caught:
            await client.poll(TASK)
    assert str(caught.value) == (
        "cannot reach https://api.fake.test: connection refused (fake has not answered yet)"
    )


async def test_a_refused_connection_after_an_answer_is_an_outage_and_retried(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Outage(until=0, answer=reply(200, DONE), failure=REFUSED)
    async with make_client(fake_plugins, transport) as client:
        await client.poll(TASK)  # the provider answers once...
        transport.until = trio.current_time() + 120  # ...then refuses for two minutes
        update = await client.poll(TASK)
    assert update.status.is_final
    assert trio.current_time() >= 120


async def test_a_poll_outlasts_a_five_minute_outage(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Outage(until=300, answer=reply(200, DONE))
    async with make_client(fake_plugins, transport) as client:
        update = await client.poll(TASK)
    assert update.status.is_final
    assert 300 <= trio.current_time() <= 330  # noticed within one capped wait of the end


async def test_a_spent_budget_is_final_in_one_line(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Outage(until=10_000, answer=reply(200, DONE))
    moved = {"MEDIATASK_FAKE_BASE_URL": "https://api.fake.test"}  # the user's own: named
    async with make_client(fake_plugins, transport, RetryPolicy(budget=120), moved) as client:
        with pytest.raises(UnavailableError) as caught:
            await client.poll(TASK)
    assert trio.current_time() == pytest.approx(120)
    message = str(caught.value)
    assert "retry budget 120s" in message
    assert "MEDIATASK_FAKE_BASE_URL" in message
    assert "\n" not in message


async def test_a_retry_after_beyond_the_cap_is_final_at_once(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    hour = reply(503, {"message": "down"}, headers={"Retry-After": "3600"})
    transport = ScriptedTransport([hour])
    async with make_client(fake_plugins, transport) as client:
        with pytest.raises(UnavailableError, match="asked to wait 3600s"):
            await client.poll(TASK)
    assert trio.current_time() == 0
    assert len(transport.sent) == 1


async def test_a_submit_told_to_wait_an_hour_is_final_at_once(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    hour = reply(429, {"message": "quota"}, headers={"Retry-After": "3600"})
    transport = ScriptedTransport([hour])
    async with make_client(fake_plugins, transport) as client:
        with pytest.raises(RateLimitedError, match="asked to wait 3600s"):
            await client.submit(JOB)
    assert trio.current_time() == 0


@pytest.mark.parametrize("status", [429, 503])
async def test_a_refused_submit_is_sent_again_within_the_budget(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock, status: int
) -> None:
    refusal = reply(status, {"message": "busy"}, headers={"Retry-After": "20"})
    transport = ScriptedTransport([refusal, refusal, reply(200, {"id": "t9", "state": "queued"})])
    async with make_client(fake_plugins, transport) as client:
        task = await client.submit(JOB)
    assert task.task_id == "t9"
    assert trio.current_time() == pytest.approx(40)


async def test_a_submit_that_may_have_arrived_is_never_sent_again(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    page = reply(502, body=NGINX_502, headers={"content-type": "text/html"})
    transport = ScriptedTransport([page])
    async with make_client(fake_plugins, transport) as client:
        with pytest.raises(SubmitUncertainError) as caught:
            await client.submit(JOB)
    assert len(transport.sent) == 1
    assert "502 Bad Gateway" in str(caught.value)
    assert "<" not in str(caught.value)


async def test_a_429_without_retry_after_waits_for_the_rate_limit_reset(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    limited = reply(429, {"message": "slow down"}, headers={"RateLimit-Reset": "17"})
    transport = ScriptedTransport([limited, reply(200, DONE)])
    async with make_client(fake_plugins, transport) as client:
        await client.poll(TASK)
    assert trio.current_time() == pytest.approx(17)


async def test_an_html_error_page_is_named_by_its_title(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    page = reply(502, body=NGINX_502, headers={"content-type": "text/html"})
    transport = ScriptedTransport([page])
    async with make_client(fake_plugins, transport, RetryPolicy(budget=0)) as client:
        with pytest.raises(UnavailableError) as caught:
            await client.poll(TASK)
    assert str(caught.value).startswith("fake had a server error (HTTP 502) (502 Bad Gateway)")
    assert "<" not in str(caught.value)
    assert "nginx" not in str(caught.value)


async def test_a_connection_failure_is_described_without_reprs(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    class Broken(ScriptedTransport):
        async def respond(self, request: Request) -> Response:
            raise UnavailableError(
                "the connection to https://api.fake.test failed during the request: "
                "('Connection broken: IncompleteRead(12 bytes read, 88 more expected)', "
                "IncompleteRead(12 bytes read, 88 more expected))",
                maybe_sent=True,
            )

    async with make_client(fake_plugins, Broken(), RetryPolicy(budget=0)) as client:
        with pytest.raises(UnavailableError) as poll_failed:
            await client.poll(TASK)
        with pytest.raises(SubmitUncertainError) as submit_failed:
            await client.submit(JOB)
    for message in (str(poll_failed.value), str(submit_failed.value)):
        assert "IncompleteRead" not in message
        assert "the answer was cut short" in message


# -- Ctrl-C (cancellation) reaches every wait, within a second ------------------------------


async def test_cancel_reaches_a_retry_after_wait(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = ScriptedTransport([reply(503, {"message": "busy"}, headers={"Retry-After": "300"})])
    async with make_client(fake_plugins, transport) as client:
        with trio.move_on_after(1) as scope:
            await client.submit(JOB)
    assert scope.cancelled_caught
    assert trio.current_time() == pytest.approx(1)
    assert len(transport.sent) == 1


async def test_cancel_reaches_the_back_off_of_an_outage(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = Outage(until=10_000, answer=reply(200, DONE))
    async with make_client(fake_plugins, transport) as client:
        with trio.move_on_after(100) as scope:
            await client.poll(TASK)
    assert scope.cancelled_caught
    assert trio.current_time() == pytest.approx(100)


@pytest.fixture
def limited_plugins() -> PluginManager:
    """The fake provider with a declared rate limit of one request a minute."""
    info = attrs.evolve(FAKE, rate_limits=((1, 60.0),))
    return PluginManager.from_plugins({"fake": FakePlugin(info)})


async def test_cancel_reaches_the_rate_limiter_wait_of_a_submit(
    limited_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = ScriptedTransport([reply(200, {"id": "t1", "state": "queued"})])
    on_wire: list[float] = []
    async with make_client(limited_plugins, transport) as client:
        await client.submit(JOB)  # uses the minute's only request
        with trio.move_on_after(1) as scope:
            await client.submit(JOB, on_wire=lambda: on_wire.append(trio.current_time()))
    assert scope.cancelled_caught
    assert trio.current_time() == pytest.approx(1)
    assert on_wire == []  # never admitted, never sent
    assert len(transport.sent) == 1


async def test_the_submit_exchange_itself_is_shielded(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    class Slow(ScriptedTransport):
        async def respond(self, request: Request) -> Response:
            await trio.sleep(5)  # the answer takes five seconds
            return await super().respond(request)

    transport = Slow([reply(200, {"id": "t1", "state": "queued"})])
    submitted: list[TaskRef] = []
    async with make_client(fake_plugins, transport) as client:
        with trio.move_on_after(1) as scope:
            submitted.append(await client.submit(JOB))
            await trio.lowlevel.checkpoint()  # the next wait is cancelled
            raise AssertionError("cancellation must reach the first wait after the exchange")
    assert scope.cancelled_caught
    assert [task.task_id for task in submitted] == ["t1"]  # the answer was read, not lost
    assert trio.current_time() == pytest.approx(5)  # all Ctrl-C waited for


async def test_a_job_cancelled_before_its_turn_sends_nothing(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    transport = ScriptedTransport([reply(200, {"id": "t1", "state": "queued"})])
    async with make_client(fake_plugins, transport) as client:
        with trio.CancelScope() as scope:
            scope.cancel()
            await client.send("fake", Request("POST", "/jobs", json={}), submit=True)
    assert transport.sent == []


# -- deadlines from the library ---------------------------------------------------------------


@attrs.define
class NeverDone(FakeTransport):
    """A provider whose tasks run forever."""

    sent: list[Request] = attrs.field(factory=list)

    async def respond(self, request: Request) -> Response:
        self.sent.append(request)
        if request.method == "POST":
            return reply(200, {"id": "t1", "state": "queued"})
        return reply(200, {"state": "running"})


async def test_a_cancel_scope_is_the_deadline_of_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = attrs.evolve(FAKE, capabilities=attrs.evolve(FAKE.capabilities, stream=False))
    plugins = PluginManager.from_plugins({"fake": FakePlugin(fake)})
    async with make_client(plugins, NeverDone()) as client:
        task = await client.submit(JOB)
        with trio.move_on_after(3600) as scope:
            await client.wait(task)
    assert scope.cancelled_caught
    assert trio.current_time() == pytest.approx(3600)


def test_the_sync_run_raises_task_timeout_naming_the_task(fake_plugins: PluginManager) -> None:
    fake = attrs.evolve(FAKE, capabilities=attrs.evolve(FAKE.capabilities, stream=False))
    with pytest.raises(TaskTimeoutError) as caught:
        mediatask.run(
            JOB,
            plugins=PluginManager.from_plugins({"fake": FakePlugin(fake)}),
            settings=Settings(environ={"MEDIATASK_FAKE_KEY": "sk-test-key"}),
            transport=NeverDone(),
            timeout=0.2,
        )
    assert caught.value.handle == "fake:t1"
    assert str(caught.value) == "fake upscale timed out after 0.2s: fake:t1 goes on at the provider"


@attrs.define
class Timed(FakeTransport):
    """Answers ``answer`` to every request, noting when each arrived (trio time)."""

    answer: Response
    times: list[float] = attrs.field(factory=list)

    async def respond(self, request: Request) -> Response:
        self.times.append(trio.current_time())
        return attrs.evolve(self.answer, url=request.url)


async def test_windows_an_answer_lists_are_kept_even_when_none_were_declared(
    fake_plugins: PluginManager, autojump_clock: trio.testing.MockClock
) -> None:
    """The fake provider declares no rate limits; its answers say one request per 10 s."""
    listed = attrs.evolve(reply(200, DONE), headers={"RateLimit-Limit": "1, 1;w=10"})
    transport = Timed(listed)
    async with make_client(fake_plugins, transport) as client:
        for _ in range(3):
            await client.poll(TASK)
    # The first went before anything was known; from its answer on, one per 10 s.
    assert transport.times == pytest.approx([0.0, 0.0, 10.0])

"""Random faults in the emulators: each kind really happens, the spec, and the submit counters.

The emulator here is Echo's, the reference plugin's (it has submits, polls, streams and
downloads); the faults live in
middleware around every emulator, so the other providers get the same. Requests go out with
urllib3 from a worker thread, as mediatask's own would: what the client sees is the point.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import pytest
import trio
import urllib3
from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.emulator import Faults
from mediatask.emulator.faults import FAULT_KINDS, RandomFaults, RequestKind
from mediatask.emulator.submissions import job_identity
from mediatask.model.errors import ConfigError
from mediatask.providers.manager import PluginManager
from mediatask.providers.sandbox import SANDBOX_FAULTS_ENV, open_sandbox
from mediatask.testing import RawApi, raw_api, standalone_emulator
from mediatask_echo.emulator import EchoEmulator

KEY = "fault-test-key"
STREAM = {"Authorization": f"Bearer {KEY}", "Accept": "text/event-stream"}
LONG_STALL = 60.0
"""A stall far beyond the client's read timeout: the timeout, not the clock, shows the stall."""
SHORT_READ = urllib3.Timeout(connect=5, read=0.5)


class Api(RawApi):
    """Echo's calls, and its faults switched, over :class:`RawApi` (urllib3, worker threads)."""

    def faults(self, spec: str) -> None:
        self.emulator.faults.random_faults = RandomFaults.parse(spec)

    async def submit(self, prompt: str = "a lighthouse") -> urllib3.BaseHTTPResponse:
        body = {"operation": "draw", "prompt": prompt, "size": 16}
        return await self.request("POST", "/v1/echoes", body=body)

    async def finished_task(self) -> dict[str, Any]:
        """Submit with no faults and wait (on the task, not a clock) until it is final."""
        chaos, self.emulator.faults.random_faults = self.emulator.faults.random_faults, None
        try:
            answer = await self.submit(f"finished {len(self.emulator.submits.received)}")
        finally:
            self.emulator.faults.random_faults = chaos
        task_id = json.loads(answer.data)["id"]
        task = self.emulator.find_task(task_id)
        assert task is not None
        async with aclosing(task.states()) as states:
            async for state in states:
                if state.is_final:
                    break
        return dict(json.loads((await self._quiet_poll(task_id)).data))

    async def _quiet_poll(self, task_id: str) -> urllib3.BaseHTTPResponse:
        chaos, self.emulator.faults.random_faults = self.emulator.faults.random_faults, None
        try:
            return await self.request("GET", f"/v1/echoes/{task_id}")
        finally:
            self.emulator.faults.random_faults = chaos


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    emulator = EchoEmulator(
        faults=Faults(processing_seconds=0.3, progress_steps=3), accepted_key=KEY
    )
    async with raw_api(Api, emulator, "", auth=f"Bearer {KEY}") as opened:
        with trio.fail_after(30):
            yield opened


def no_answer(error: BaseException) -> bool:
    """The connection closed before any status line (urllib3 via http.client)."""
    return isinstance(error, urllib3.exceptions.ProtocolError) and "without response" in str(error)


# -- the spec ----------------------------------------------------------------------------------


def test_a_spec_sets_a_rate_for_all_kinds_a_seed_and_bounds() -> None:
    chaos = RandomFaults.parse("rate=0.1, seed=11, stall-seconds=0.5, retry-after=3")

    assert (chaos.rate, chaos.seed, chaos.stall_seconds, chaos.retry_after_seconds) == (
        0.1,
        11,
        0.5,
        3.0,
    )
    for request in RequestKind:
        rates = chaos.rates_for(request)
        assert sum(rates.values()) == pytest.approx(0.1)
        assert set(rates) == {kind for kind, hits in FAULT_KINDS.items() if request in hits}


def test_rates_per_kind_override_the_shared_rate() -> None:
    chaos = RandomFaults.parse("5xx=0.02,reset-after=0.01")

    assert chaos.rates_for(RequestKind.SUBMIT) == {"5xx": 0.02, "reset-after": 0.01}
    assert chaos.rates_for(RequestKind.DOWNLOAD) == {"5xx": 0.02}  # reset-after: API only
    assert RandomFaults.parse("rate=0.1,expired=0").rates_for(RequestKind.DOWNLOAD).keys() == {
        "5xx",
        "reset-before",
        "truncated",
        "html",
        "stall",
        "slow-download",
    }
    assert RandomFaults.parse(chaos.spec()) == chaos


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rate=2", "rate must be between 0 and 1"),
        ("boom=0.1", "'boom=0.1' is not NAME=VALUE"),
        ("5xx", "'5xx' is not NAME=VALUE"),
        ("5xx=often", "5xx must be a number"),
        ("seed=1.5", "seed must be a number"),
        ("5xx=0.6,html=0.6", "add up to over 1"),
        ("stall-seconds=-1", "stall_seconds must not be negative"),
    ],
)
def test_a_wrong_spec_is_a_one_line_error(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        RandomFaults.parse(spec)
    assert "\n" not in str(raised.value)


def test_the_same_seed_draws_the_same_faults() -> None:
    import random

    chaos = RandomFaults.parse("rate=0.3,seed=5")

    def draws() -> list[str | None]:
        rng = random.Random(chaos.seed)  # noqa: S311  # what the middleware does
        return [chaos.draw(RequestKind.STATUS, rng) for _ in range(200)]

    first = draws()
    assert first == draws()
    assert 30 < sum(kind is not None for kind in first) < 90  # about 30 %, not all or none


# -- each kind, as a client sees it ---------------------------------------------------------------


async def test_5xx_answers_a_server_error_and_creates_no_task(api: Api) -> None:
    api.faults("5xx=1,seed=1")

    answer = await api.submit()

    assert answer.status in (500, 502, 503, 504)
    assert json.loads(answer.data)["error"]
    assert api.emulator.stats["tasks_created"] == 0
    assert api.emulator.stats["fault 5xx"] == 1


async def test_429_answers_too_many_requests_with_retry_after(api: Api) -> None:
    api.faults("429=1,retry-after=7")

    answer = await api.submit()

    assert answer.status == 429
    assert answer.headers["retry-after"] == "7"
    assert api.emulator.stats["tasks_created"] == 0


async def test_reset_before_closes_without_an_answer_and_creates_no_task(api: Api) -> None:
    api.faults("reset-before=1")

    with pytest.raises(urllib3.exceptions.ProtocolError) as raised:
        await api.submit()

    assert no_answer(raised.value)
    assert api.emulator.stats["tasks_created"] == 0
    assert list(api.emulator.submits.received.values()) == [1]  # it did reach the provider


async def test_reset_after_creates_the_task_then_closes_without_an_answer(api: Api) -> None:
    api.faults("reset-after=1")

    with pytest.raises(urllib3.exceptions.ProtocolError) as raised:
        await api.submit()

    assert no_answer(raised.value)
    assert api.emulator.stats["tasks_created"] == 1
    assert list(api.emulator.submits.created.values()) == [1]


async def test_truncated_answers_stop_halfway_for_polls_and_downloads(api: Api) -> None:
    task = await api.finished_task()
    api.faults("truncated=1")

    for path in (f"/v1/echoes/{task['id']}", task["result_url"]):
        with pytest.raises(urllib3.exceptions.ProtocolError, match="IncompleteRead"):
            await api.request("GET", path)


async def test_malformed_answers_are_unreadable_json_after_the_provider_acted(api: Api) -> None:
    api.faults("malformed=1")

    answer = await api.submit()

    assert answer.status == 201
    assert answer.headers["content-length"] == str(len(answer.data))
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.data)
    assert api.emulator.stats["tasks_created"] == 1


async def test_html_answers_a_proxy_error_page(api: Api) -> None:
    api.faults("html=1")

    answer = await api.submit()

    assert answer.status == 502
    assert answer.headers["content-type"].startswith("text/html")
    assert b"<center><h1>502 Bad Gateway</h1></center>" in answer.data
    assert api.emulator.stats["tasks_created"] == 0


async def test_a_stall_holds_the_request_and_is_bounded(api: Api) -> None:
    api.faults(f"stall=1,stall-seconds={LONG_STALL}")
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        await api.request("GET", "/v1/echoes/x", http_timeout=SHORT_READ)

    api.faults("stall=1,stall-seconds=0.01")
    assert (await api.submit()).status == 201  # after the stall, the answer comes


async def stream_body(
    api: Api, task_id: str, read_timeout: urllib3.Timeout | None = None
) -> list[str]:
    """The ``data:`` lines of the task's event stream, read until it ends."""

    def read() -> list[str]:
        answer = api.pool.request(
            "GET",
            f"{api.base_url}/v1/echoes/{task_id}/events",
            headers=STREAM,
            preload_content=False,
            timeout=read_timeout or urllib3.Timeout(connect=5, read=20),
        )
        assert answer.headers["Content-Type"].startswith("text/event-stream")
        lines: list[str] = []
        try:
            for chunk in answer.stream(None):
                lines += [line for line in chunk.decode().split("\n") if line]
        except urllib3.exceptions.HTTPError as exc:
            lines.append(f"error: {type(exc).__name__}")
        finally:
            answer.release_conn()
        return lines

    return await trio.to_thread.run_sync(read)


async def running_task(api: Api) -> str:
    api.emulator.hold_work = True  # the stream's first event is not its last
    chaos, api.emulator.faults.random_faults = api.emulator.faults.random_faults, None
    answer = await api.submit("streamed")
    api.emulator.faults.random_faults = chaos
    return str(json.loads(answer.data)["id"])


async def test_a_cut_stream_drops_after_its_first_event(api: Api) -> None:
    task_id = await running_task(api)
    api.faults("stream-cut=1")

    lines = await stream_body(api, task_id)

    assert len(lines) == 2
    assert lines[0].startswith("data: {")
    assert lines[1] == "error: ProtocolError"  # the chunked answer never ended


async def test_a_stalled_stream_goes_quiet_after_its_first_event(api: Api) -> None:
    task_id = await running_task(api)
    api.emulator.release()  # without the stall, the next events come at once
    api.faults(f"stream-stall=1,stall-seconds={LONG_STALL}")

    lines = await stream_body(api, task_id, read_timeout=SHORT_READ)

    assert lines[0].startswith("data: {")
    assert lines[-1] == "error: ReadTimeoutError"
    assert len(lines) == 2


async def test_a_duplicating_stream_sends_every_event_twice(api: Api) -> None:
    task_id = await running_task(api)
    api.emulator.release()
    api.faults("stream-duplicate=1")

    lines = await stream_body(api, task_id)

    assert len(lines) >= 4
    assert lines[0::2] == lines[1::2]
    assert '"done"' in lines[-1]


async def test_a_slow_download_dribbles_the_file_and_ends_complete(api: Api) -> None:
    task = await api.finished_task()
    whole = (await api.request("GET", task["result_url"])).data
    api.faults(f"slow-download=1,stall-seconds={LONG_STALL}")
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        await api.request("GET", task["result_url"], http_timeout=SHORT_READ)

    api.faults("slow-download=1,stall-seconds=0.08")
    assert (await api.request("GET", task["result_url"])).data == whole


async def test_5xx_reset_and_html_hit_downloads_too(api: Api) -> None:
    task = await api.finished_task()
    api.faults("5xx=1")
    assert (await api.request("GET", task["result_url"])).status in (500, 502, 503, 504)
    api.faults("html=1")
    assert (await api.request("GET", task["result_url"])).status == 502
    api.faults("reset-before=1")
    with pytest.raises(urllib3.exceptions.ProtocolError) as raised:
        await api.request("GET", task["result_url"])
    assert no_answer(raised.value)


async def test_an_expired_link_stays_expired(api: Api) -> None:
    task, other = await api.finished_task(), await api.finished_task()
    api.faults("expired=1")
    assert (await api.request("GET", task["result_url"])).status == 404

    api.emulator.faults.random_faults = None
    assert (await api.request("GET", task["result_url"])).status == 404  # gone for good
    assert (await api.request("GET", other["result_url"])).status == 200  # only that file
    assert api.emulator.stats["expired_downloads"] == 2


async def test_faults_hit_at_their_rate_and_stats_count_them(api: Api) -> None:
    api.faults("rate=0.5,seed=3,stall-seconds=0,retry-after=0")
    answers = 0
    for n in range(40):
        try:
            await api.request("GET", f"/v1/echoes/nothing{n}")
            answers += 1
        except urllib3.exceptions.HTTPError:
            pass
    faults = {k: v for k, v in api.emulator.stats.items() if k.startswith("fault ")}

    assert 8 < sum(faults.values()) < 32
    assert set(faults) <= {
        f"fault {kind}" for kind in RandomFaults(rate=1).rates_for(RequestKind.STATUS)
    }
    assert api.emulator.stats["requests"] == 40
    assert answers >= 40 - sum(faults.values())


# -- counting submits per job -------------------------------------------------------------------


async def test_the_ledger_tells_a_second_task_for_the_same_job(api: Api) -> None:
    first = {"operation": "mirror", "image_url": "http://inputs.test/a.png"}
    await api.request("POST", "/v1/echoes", body=first)
    await api.request("POST", "/v1/echoes", body={**first, "image_url": "http://x/b.png"})
    assert api.emulator.submits.created_twice() == []

    await api.request("POST", "/v1/echoes", body=first)

    assert api.emulator.submits.created_twice() == ["url:http://inputs.test/a.png"]
    stats = json.loads((await api.request("GET", "/_emulator/stats")).data)
    assert stats["submits"]["url:http://inputs.test/a.png"] == {"received": 2, "created": 2}


async def test_a_refused_submit_is_received_but_creates_nothing(api: Api) -> None:
    body = {"operation": "mirror", "image_url": "http://x/a.png", "axis": "diagonal"}
    await api.request("POST", "/v1/echoes", body=body)

    assert api.emulator.submits.to_json() == {"url:http://x/a.png": {"received": 1, "created": 0}}


def test_an_upload_is_identified_by_its_file_and_a_prompt_by_its_body() -> None:
    body, content_type = urllib3.encode_multipart_formdata(
        {"file": ("in.png", b"PNG bytes", "image/png"), "data": '{"operations": {}}'}
    )
    again, other_boundary = urllib3.encode_multipart_formdata(
        {"file": ("other-name.png", b"PNG bytes", "image/png"), "data": "{}"}
    )

    assert job_identity(body, content_type).startswith("file:")
    assert job_identity(body, content_type) == job_identity(again, other_boundary)
    assert job_identity(b'{"prompt": "a"}', "application/json").startswith("body:")
    assert job_identity(b'{"prompt": "a"}', "") != job_identity(b'{"prompt": "b"}', "")


# -- where faults are set -------------------------------------------------------------------------


def test_emulate_refuses_a_wrong_fault_spec_in_one_line() -> None:
    result = CliRunner().invoke(cli, ["emulate", "echo", "--faults", "rate=7"])

    assert result.exit_code != 0
    assert "bad fault spec 'rate=7'" in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def plugins() -> PluginManager:
    return PluginManager.from_entry_points()


async def test_the_sandbox_takes_faults_as_an_option_or_from_the_environment(
    plugins: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_sandbox(plugins, ["echo"], faults="html=0.5,seed=2") as box:
        assert box.emulators["echo"].faults.random_faults == RandomFaults.parse("html=0.5,seed=2")

    monkeypatch.setenv(SANDBOX_FAULTS_ENV, "rate=0.1")
    async with open_sandbox(plugins, ["echo", "claid"]) as box:
        for emulator in box.emulators.values():
            assert emulator.faults.random_faults == RandomFaults(rate=0.1)

    monkeypatch.setenv(SANDBOX_FAULTS_ENV, "rate=x")
    with pytest.raises(ConfigError, match="rate must be a number"):
        async with open_sandbox(plugins, ["echo"]):
            pass


@pytest.mark.subprocess
def test_a_standalone_emulator_takes_faults_and_reports_submits_per_job() -> None:
    job = json.dumps({"operation": "mirror", "image_url": "http://inputs.test/one.png"}).encode()
    headers = {"Authorization": "Bearer standalone-key", "Content-Type": "application/json"}
    with (
        standalone_emulator("echo", "standalone-key", 0.1, faults="reset-after=1") as emulator,
        urllib3.PoolManager(retries=False) as pool,
    ):
        for _ in range(2):
            with pytest.raises(urllib3.exceptions.ProtocolError):
                pool.request("POST", f"{emulator.base_url}/v1/echoes", body=job, headers=headers)

        assert emulator.submits() == {
            "url:http://inputs.test/one.png": {"received": 2, "created": 2}
        }
        assert emulator.created_twice() == ["url:http://inputs.test/one.png"]
        assert emulator.stats()["fault reset-after"] == 2
        emulator.set_faults(None)
        answer = pool.request("POST", f"{emulator.base_url}/v1/echoes", body=job, headers=headers)
        assert answer.status == 201

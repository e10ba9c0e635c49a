"""Batches against the in-process sandbox: results, counts, limits, and resuming safely."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from mediatask import Client, Job, JobRecord, JobState, Journal, TaskRef
from mediatask.batch.manifest import Manifest, read_manifest
from mediatask.batch.runner import RESULTS_FILE, Batch, BatchOptions, Summary, submit_recorded
from mediatask.journal.lifecycle import IllegalMoveError
from mediatask.journal.sqlite import batch_journal_path
from mediatask.model.errors import MalformedPayloadError, UnavailableError
from mediatask.model.values import Result
from mediatask.providers.manager import PluginManager

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"


def write_manifest(folder: Path, count: int, *, bad_line: bool = False) -> Manifest:
    shutil.copy(SAMPLE, folder / "in.png")
    lines = []
    for n in range(count):
        if n % 3 == 0:
            job: dict[str, Any] = {"operation": "mirror", "input": "in.png"}
        elif n % 3 == 1:
            job = {"operation": "mirror", "input": "in.png", "params": {"axis": "vertical"}}
        else:
            job = {"operation": "draw", "params": {"prompt": f"scene {n}"}}
        lines.append(json.dumps({"provider": "echo", "id": f"job{n:02d}", **job}))
    if bad_line:
        lines.insert(2, "{this is not json")
    path = folder / "jobs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return read_manifest(path)


class Seen:
    """A batch observer that remembers what it was told."""

    def __init__(self, on_change: Callable[[Seen], None] | None = None) -> None:
        self.changes: list[tuple[str, str]] = []
        self.finished: list[JobRecord] = []
        self.started_with: tuple[int, int] | None = None
        self.notices: list[str] = []
        self.on_change = on_change

    def notice(self, text: str) -> None:
        self.notices.append(text)

    def started(self, total: int, done: int) -> None:
        self.started_with = (total, done)

    def changed(
        self, job_id: str, state: str, *, handle: str | None = None, progress: float | None = None
    ) -> None:
        self.changes.append((job_id, state))
        if self.on_change is not None:
            self.on_change(self)

    def ended(self, record: JobRecord) -> None:
        self.finished.append(record)

    def count(self, state: str) -> int:
        return sum(1 for _, s in self.changes if s == state)


async def run_batch(
    client: Client, journal: Journal, manifest: Manifest, out: Path, seen: Seen, **options: Any
) -> Summary:
    batch = Batch(client, journal, BatchOptions(out, **options), seen)
    await batch.run(manifest)
    return batch.summary(manifest)


def results(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / RESULTS_FILE).read_text().splitlines()]


async def test_a_batch_writes_every_output_and_a_results_line_per_job(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 12, bad_line=True)
    out = tmp_path / "out"
    seen = Seen()
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        summary = await run_batch(client, journal, manifest, out, seen, concurrency=16)

    assert summary.counts["succeeded"] == 12
    assert summary.counts["invalid"] == 1
    assert summary.total == 13
    assert not summary.ok
    assert seen.started_with == (13, 1)
    lines = results(out)
    assert lines[0]["status"] == "invalid"
    assert lines[0]["line"] == 3
    done = {line["job"]: line for line in lines[1:]}
    assert set(done) == {f"job{n:02d}" for n in range(12)}
    for job_id, line in done.items():
        assert line["status"] == "succeeded"
        assert line["handle"].startswith("echo:")
        assert [o["role"] for o in line["outputs"]] == ["image"]
        for output in line["outputs"]:
            path = Path(output["path"])
            assert path.is_file()
            assert path.name.startswith(f"{job_id}-{output['role']}.")
    assert box.emulators["echo"].stats["submissions"] == 12


async def test_a_max_in_flight_ceiling_holds(mediatask_sandbox: Any, tmp_path: Path) -> None:
    # (The providers' guessed caps are gone; a ceiling is now the caller's, as here.)
    _, sandboxed = mediatask_sandbox
    client = attrs.evolve(sandboxed, max_in_flight={"echo": 3})
    manifest = write_manifest(tmp_path, 10)
    in_flight: list[int] = []
    seen = Seen(lambda _: in_flight.append(client.slot("echo").statistics().in_flight))
    with trio.fail_after(30), Journal(batch_journal_path(tmp_path / "out")) as journal:
        await run_batch(client, journal, manifest, tmp_path / "out", seen, concurrency=16)
    assert max(in_flight) == 3


async def test_cancelled_halfway_then_rerun_submits_each_job_exactly_once(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 20)
    out = tmp_path / "out"
    with trio.fail_after(60), Journal(batch_journal_path(out)) as journal:
        with trio.CancelScope() as scope:

            def stop_after_eight(seen: Seen) -> None:
                if seen.count("submitted") >= 8:
                    scope.cancel()

            await run_batch(client, journal, manifest, out, Seen(stop_after_eight))
        halfway = journal.counts()
        assert halfway.get("pending", 0) > 0  # some never submitted
        assert halfway.get("submitted", 0) > 0  # some submitted, not finished
        assert "submitting" not in halfway  # the shielded submit got its handle

        seen = Seen()
        summary = await run_batch(client, journal, manifest, out, seen)

    assert summary.counts["succeeded"] + summary.counts["skipped"] == 20
    assert summary.ok
    assert box.emulators["echo"].stats["submissions"] == 20
    assert seen.count("submitting") == halfway["pending"]
    assert len(results(out)) == 20


def _preset(journal: Journal, manifest: Manifest, state: str) -> str:
    entry = manifest.entries[0]
    journal.register(entry.id, entry.job, line=entry.line)
    journal.submitting(entry.id)
    if state == "submitted":
        task = TaskRef("echo", "task_unknown", datetime.now(UTC), entry.job.operation)
        journal.submitted(entry.id, task)
    return entry.id


async def test_a_job_left_submitting_is_reported_not_resubmitted(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 2)
    out = tmp_path / "out"
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        job_id = _preset(journal, manifest, "submitting")
        summary = await run_batch(client, journal, manifest, out, Seen())
        record = journal.get(job_id)
        assert record is not None
        assert record.state is JobState.UNCERTAIN
        assert "--resubmit-uncertain" in (record.error or "")
        assert summary.counts["uncertain"] == 1
        assert box.emulators["echo"].stats["submissions"] == 1

        summary = await run_batch(client, journal, manifest, out, Seen(), resubmit_uncertain=True)
    assert summary.counts["succeeded"] == 1
    assert box.emulators["echo"].stats["submissions"] == 2


async def test_a_task_the_provider_forgot_is_lost_not_resubmitted(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 1)
    out = tmp_path / "out"
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        job_id = _preset(journal, manifest, "submitted")
        summary = await run_batch(client, journal, manifest, out, Seen())
        record = journal.get(job_id)
    assert record is not None
    assert record.state is JobState.LOST
    assert "echo:task_unknown is no longer known to echo" in (record.error or "")
    assert "--resubmit-lost" in (record.error or "")
    assert summary.counts["lost"] == 1
    assert box.emulators["echo"].stats["submissions"] == 0


async def test_a_failed_task_is_recorded_and_skipped_unless_retried(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 3)
    out = tmp_path / "out"
    box.emulators["echo"].faults.failure_rate = 1.0
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        summary = await run_batch(client, journal, manifest, out, Seen())
        assert summary.counts["failed"] == 3
        assert all(line["error"] for line in results(out))
        box.emulators["echo"].faults.failure_rate = 0.0
        again = await run_batch(client, journal, manifest, out, Seen())
        assert again.counts["failed"] == 3
        assert box.emulators["echo"].stats["submissions"] == 3
        retried = await run_batch(client, journal, manifest, out, Seen(), retry_failed=True)
    assert retried.counts["succeeded"] == 3
    assert box.emulators["echo"].stats["submissions"] == 6


async def test_retry_failed_submits_no_job_whose_history_shows_a_task_alive_or_saved(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 3)
    out = tmp_path / "out"
    task = TaskRef("echo", "t-alive", datetime(2026, 1, 1, tzinfo=UTC))
    seen = Seen()
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        for entry in manifest.entries:
            journal.register(entry.id, entry.job, line=entry.line)
        # job00: a task created, never ended by the provider, then written failed (a stale
        # worker's error path); job01: outputs saved, then written expired (a stale writer may
        # not write it failed: the lifecycle refuses); job02: refused.
        journal.submitting("job00", journal.marker("job00"))
        journal.submitted("job00", task)
        journal.ended("job00", JobState.FAILED, "lease lost", "lease lost")
        journal.submitting("job01", journal.marker("job01"))
        journal.submitted("job01", task)
        journal.succeeded("job01", Result(task, [], datetime(2026, 1, 1, tzinfo=UTC)))
        with pytest.raises(IllegalMoveError):
            journal.ended("job01", JobState.FAILED, "lease lost")
        journal.ended("job01", JobState.EXPIRED, "lease lost")
        journal.ended("job02", JobState.FAILED, "refused by the provider")
        summary = await run_batch(
            client, journal, manifest, out, seen, retry_failed=True, rerun_expired=True
        )
    assert box.emulators["echo"].stats["submissions"] == 1  # job02 alone
    assert summary.counts["succeeded"] == 1
    assert any("job00: not submitted again" in notice for notice in seen.notices)
    assert any("job01: not submitted again" in notice for notice in seen.notices)


async def test_an_invalid_job_is_refused_alone_and_not_journalled(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    _, client = mediatask_sandbox
    path = tmp_path / "jobs.jsonl"
    jobs = [
        Job("echo", "mirror", ["missing.png"]),
        Job("nope", "x"),
        Job("echo", "draw", (), {"prompt": "ok"}),
    ]
    path.write_text("\n".join(json.dumps(job.to_json()) for job in jobs) + "\n")
    manifest = read_manifest(path)
    out = tmp_path / "out"
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        summary = await run_batch(client, journal, manifest, out, Seen())
        assert [record.line for record in journal.records()] == [3]
    assert summary.counts["succeeded"] == 1
    assert summary.counts["invalid"] == 2
    assert summary.counts["failed"] == 0
    errors = sorted(line["error"] for line in results(out) if line["error"])
    assert errors[0].startswith("line 1: job ")
    assert "input file not found" in errors[0]
    assert errors[1].startswith("line 2: job ")
    assert "unknown provider 'nope'" in errors[1]
    assert {line["status"] for line in results(out) if line["error"]} == {"invalid"}


def a2e_manifest(folder: Path, count: int) -> Manifest:
    lines = [
        {"id": f"t{n}", "provider": "a2e", "operation": "text-to-image", "params": {"prompt": "p"}}
        for n in range(count)
    ]
    path = folder / "a2e.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return read_manifest(path)


async def test_a_failed_download_leaves_the_job_unfinished_and_a_plain_rerun_saves_it(
    mediatask_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 2)
    out = tmp_path / "out"

    async def broken(self: Client, result: Any, out_dir: Path, **options: Any) -> Any:
        raise UnavailableError("downloading the image of the task failed (HTTP 502)", status=502)

    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        with monkeypatch.context() as patched:
            patched.setattr(Client, "download", broken)
            first = await run_batch(client, journal, manifest, out, Seen())
        assert first.counts["unfinished"] == 2
        assert [s.flag for s in first.steps] == [""]  # the same command, no flag
        record = journal.get("job00")
        assert record is not None
        assert record.state is JobState.UNFINISHED
        assert "running the same command again goes on downloading it" in (record.error or "")
        stats = box.emulators["echo"].stats
        asked = stats["streams"] + stats["polls"]
        not_again = await run_batch(client, journal, manifest, out, Seen(), retry_failed=True)
        assert not_again.counts["succeeded"] == 2  # not submitted again: the flag is moot
        assert stats["streams"] + stats["polls"] == asked  # seen succeeding: only downloaded
    assert box.emulators["echo"].stats["submissions"] == 2
    assert not_again.ended == 2


async def test_an_expired_result_is_rerun_only_with_rerun_expired(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 1)
    out = tmp_path / "out"
    box.emulators["echo"].faults.result_ttl_seconds = 0.0
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        first = await run_batch(client, journal, manifest, out, Seen())
        assert first.counts["expired"] == 1
        assert first.reasons["expired"] == (("the result link expired", 1),)
        assert [s.flag for s in first.steps] == ["--rerun-expired"]
        box.emulators["echo"].faults.result_ttl_seconds = 3600.0
        plain = await run_batch(client, journal, manifest, out, Seen(), retry_failed=True)
        assert plain.counts["expired"] == 1
        assert box.emulators["echo"].stats["submissions"] == 1
        rerun = await run_batch(client, journal, manifest, out, Seen(), rerun_expired=True)
    assert rerun.counts["succeeded"] == 1
    assert box.emulators["echo"].stats["submissions"] == 2


async def test_an_unreadable_2xx_submit_answer_is_uncertain_not_failed(
    mediatask_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 1)
    out = tmp_path / "out"

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise MalformedPayloadError("echo sent a body that is not JSON: '<html>'")

    monkeypatch.setattr(PluginManager, "read_submission", unreadable)
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        summary = await run_batch(client, journal, manifest, out, Seen())
        record = journal.get("job00")
        assert record is not None
        again = await run_batch(client, journal, manifest, out, Seen(), retry_failed=True)
    assert record.state is JobState.UNCERTAIN
    assert "accepted the submit but its answer could not be read" in (record.error or "")
    assert "Echo (reference plugin) has no list of tasks" in (record.error or "")
    assert summary.counts["uncertain"] == 1
    assert [s.flag for s in summary.steps] == ["--resubmit-uncertain"]
    assert again.counts["uncertain"] == 1
    assert box.emulators["echo"].stats["submissions"] == 1  # --retry-failed did not pay again


async def test_a_submit_cancelled_before_the_wire_leaves_the_job_pending(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 1)
    entry = manifest.entries[0]
    with trio.fail_after(30), Journal(batch_journal_path(tmp_path / "out")) as journal:
        journal.register(entry.id, entry.job)
        with trio.CancelScope() as scope:
            scope.cancel()  # Ctrl-C came before the job got its turn: nothing is sent
            await submit_recorded(client, journal, entry.id, client.check(entry.job))
        assert journal.counts() == {"pending": 1}
    assert box.emulators["echo"].stats["submissions"] == 0


async def test_a_task_that_outruns_the_timeout_is_timed_out_then_followed_again(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 1)
    out = tmp_path / "out"
    box.emulators["echo"].faults.processing_seconds = 3.0
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        first = await run_batch(client, journal, manifest, out, Seen(), timeout=0.3)
        record = journal.get("job00")
        assert record is not None
        assert record.state is JobState.TIMED_OUT
        assert "after --timeout 0.3s" in (record.error or "")
        assert first.counts["timed-out"] == 1
        again = await run_batch(client, journal, manifest, out, Seen(), timeout=20)
    assert again.counts["succeeded"] == 1
    assert box.emulators["echo"].stats["submissions"] == 1


async def test_cancel_on_timeout_cancels_the_task_where_the_provider_can(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = a2e_manifest(tmp_path, 1)
    out = tmp_path / "out"
    box.emulators["a2e"].faults.processing_seconds = 30.0
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        summary = await run_batch(
            client, journal, manifest, out, Seen(), timeout=0.2, cancel_on_timeout=True
        )
        record = journal.get("t0")
        polls = box.emulators["a2e"].stats["polls"]
        again = await run_batch(client, journal, manifest, out, Seen())
    assert record is not None
    assert box.emulators["a2e"].stats["deletes"] == 1
    assert record.state is JobState.FAILED
    assert "was cancelled" in (record.error or "")
    assert summary.counts["failed"] == 1
    assert again.counts["failed"] == 1  # a cancelled task is not followed again
    assert box.emulators["a2e"].stats["polls"] == polls


async def test_an_uncertain_a2e_job_is_found_by_its_marker_and_followed(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = a2e_manifest(tmp_path, 2)
    out = tmp_path / "out"
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        for entry in manifest.entries:  # both killed while on the wire...
            journal.register(entry.id, entry.job, line=entry.line)
            journal.submitting(entry.id, journal.marker(entry.id))
        made = manifest.entries[0]  # ...and only the first reached A2E
        await client.submit(made.job, marker=journal.marker(made.id))
        seen = Seen()
        summary = await run_batch(client, journal, manifest, out, seen)
        found, missing = journal.get("t0"), journal.get("t1")
        assert found is not None
        assert missing is not None
        assert found.state is JobState.SUCCEEDED
        assert missing.state is JobState.UNCERTAIN
        assert f"had no task marked {missing.marker}" in (missing.error or "")
        assert f"its submit of {missing.sent_at[:10]}" in (missing.error or "")  # type: ignore[index]
        assert summary.counts["uncertain"] == 1
        assert [s.flag for s in summary.steps] == [""]  # a re-run looks again
        assert box.emulators["a2e"].stats["submissions"] == 1

        resubmitted = await run_batch(client, journal, manifest, out, seen, resubmit_uncertain=True)
    assert resubmitted.counts["succeeded"] == 1
    assert box.emulators["a2e"].stats["submissions"] == 2
    assert len(seen.notices) == 1
    assert seen.notices[0].startswith("t1: submitting again to A2E")
    assert "this pays for a second one" in seen.notices[0]


async def test_jobs_waiting_for_the_rate_limiter_at_ctrl_c_are_not_submitted(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    shutil.copy(SAMPLE, tmp_path / "in.png")
    edit = {"operations": {"resizing": {"width": 32}}, "output": {"format": "png"}}
    line = {"provider": "claid", "operation": "edit", "input": "in.png", "params": edit}
    path = tmp_path / "claid.jsonl"
    path.write_text("".join(json.dumps({"id": f"e{n}", **line}) + "\n" for n in range(8)))
    manifest = read_manifest(path)
    out = tmp_path / "out"
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        with trio.CancelScope() as scope:

            def stop_after_four(seen: Seen) -> None:  # Claid admits 4 a second
                if seen.count("submitted") >= 4:
                    scope.cancel()

            await run_batch(client, journal, manifest, out, Seen(stop_after_four), concurrency=8)
        counts = journal.counts()
        waited = [r for r in journal.records() if r.state is JobState.PENDING]
        histories = [[e.kind for e in journal.events(r.id)] for r in waited]
    assert counts.get("pending", 0) >= 3, counts  # they were waiting for the rate limiter...
    assert all("submitting" not in kinds for kinds in histories)  # ...so no intent was written
    assert "submitting" not in counts
    created = box.emulators["claid"].stats
    assert created["uploads"] + created["submissions"] == 8 - counts["pending"]


async def test_an_uncertain_job_of_an_operation_a2e_does_not_list_gets_advice_not_a_lookup(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    speech = {"msg": "hello", "tts_id": "en-US-1"}
    line = {"id": "s0", "provider": "a2e", "operation": "tts", "params": speech}
    path = tmp_path / "tts.jsonl"
    path.write_text(json.dumps(line) + "\n")
    manifest = read_manifest(path)
    out = tmp_path / "out"
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        entry = manifest.entries[0]
        journal.register(entry.id, entry.job, line=entry.line)
        journal.submitting(entry.id, journal.marker(entry.id))
        summary = await run_batch(client, journal, manifest, out, Seen())
        record = journal.get("s0")
    assert record is not None
    assert record.state is JobState.UNCERTAIN
    assert "A2E lists no such tasks to look it up in: check your A2E account" in (
        record.error or ""
    )
    assert [s.flag for s in summary.steps] == ["--resubmit-uncertain"]
    assert box.emulators["a2e"].stats["submissions"] == 0


async def test_a_finished_batch_copied_to_another_folder_has_nothing_to_do(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    first = tmp_path / "project"
    first.mkdir()
    manifest = write_manifest(first, 3)  # two lines name "in.png", beside the manifest
    with trio.fail_after(30), Journal(batch_journal_path(first / "out")) as journal:
        summary = await run_batch(client, journal, manifest, first / "out", Seen())
        before = {record.id: record.state for record in journal.records()}
    assert summary.counts["succeeded"] == 3
    sent = box.emulators["echo"].stats["submissions"]
    copy = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(first, copy)
    moved = read_manifest(copy / "jobs.jsonl")
    with trio.fail_after(30), Journal(batch_journal_path(copy / "out")) as journal:
        again = await run_batch(client, journal, moved, copy / "out", Seen())
        after = {record.id: record.state for record in journal.records()}
    assert box.emulators["echo"].stats["submissions"] == sent  # nothing submitted
    assert after == before  # nothing differs
    assert again.counts["invalid"] == 0
    assert again.counts["skipped"] == 3

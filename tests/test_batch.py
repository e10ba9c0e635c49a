"""Batches against the in-process sandbox: results, counts, limits, and resuming safely."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from mediatask import Client, Job, JobRecord, JobState, Journal, TaskRef
from mediatask.batch import RESULTS_FILE, Batch, BatchOptions, Summary
from mediatask.journal import batch_journal_path
from mediatask.manifest import Manifest, read_manifest

SAMPLE = Path(__file__).parent.parent / "samples" / "lighthouse.png"


def write_manifest(folder: Path, count: int, *, bad_line: bool = False) -> Manifest:
    shutil.copy(SAMPLE, folder / "in.png")
    lines = []
    for n in range(count):
        if n % 3 == 0:
            job: dict[str, Any] = {"operation": "image-upscaler", "input": "in.png"}
        elif n % 3 == 1:
            job = {"operation": "remove-bg", "input": "in.png"}
        else:
            job = {"operation": "image-generator", "params": {"prompt": f"scene {n}"}}
        lines.append(json.dumps({"provider": "a1d", "id": f"job{n:02d}", **job}))
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
        assert line["handle"].startswith("a1d:")
        assert [o["role"] for o in line["outputs"]] == ["image", "thumbnail"]
        for output in line["outputs"]:
            path = Path(output["path"])
            assert path.is_file()
            assert path.name.startswith(f"{job_id}-{output['role']}.")
    assert box.emulators["a1d"].stats["submissions"] == 12


async def test_the_providers_own_concurrency_limit_holds(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    _, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 10)
    in_flight: list[int] = []
    seen = Seen(lambda _: in_flight.append(client.slot("a1d").borrowed_tokens))
    with trio.fail_after(30), Journal(batch_journal_path(tmp_path / "out")) as journal:
        await run_batch(client, journal, manifest, tmp_path / "out", seen, concurrency=16)
    limit = client.provider("a1d").max_concurrency
    assert max(in_flight) == limit


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
    assert box.emulators["a1d"].stats["submissions"] == 20
    assert seen.count("submitting") == halfway["pending"]
    assert len(results(out)) == 20


def _preset(journal: Journal, manifest: Manifest, state: str) -> str:
    entry = manifest.entries[0]
    journal.register(entry.id, entry.job, line=entry.line)
    journal.submitting(entry.id)
    if state == "submitted":
        task = TaskRef("a1d", "task_unknown", datetime.now(UTC), entry.job.operation)
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
        assert box.emulators["a1d"].stats["submissions"] == 1

        summary = await run_batch(client, journal, manifest, out, Seen(), resubmit_uncertain=True)
    assert summary.counts["succeeded"] == 1
    assert box.emulators["a1d"].stats["submissions"] == 2


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
    assert "a1d:task_unknown is no longer known to a1d" in (record.error or "")
    assert "--resubmit-lost" in (record.error or "")
    assert summary.counts["lost"] == 1
    assert box.emulators["a1d"].stats["submissions"] == 0


async def test_a_failed_task_is_recorded_and_skipped_unless_retried(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    manifest = write_manifest(tmp_path, 3)
    out = tmp_path / "out"
    box.emulators["a1d"].faults.failure_rate = 1.0
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        summary = await run_batch(client, journal, manifest, out, Seen())
        assert summary.counts["failed"] == 3
        assert all(line["error"] for line in results(out))
        box.emulators["a1d"].faults.failure_rate = 0.0
        again = await run_batch(client, journal, manifest, out, Seen())
        assert again.counts["failed"] == 3
        assert box.emulators["a1d"].stats["submissions"] == 3
        retried = await run_batch(client, journal, manifest, out, Seen(), retry_failed=True)
    assert retried.counts["succeeded"] == 3
    assert box.emulators["a1d"].stats["submissions"] == 6


async def test_an_invalid_job_fails_alone(mediatask_sandbox: Any, tmp_path: Path) -> None:
    _, client = mediatask_sandbox
    path = tmp_path / "jobs.jsonl"
    jobs = [
        Job("a1d", "image-upscaler", ["missing.png"]),
        Job("nope", "x"),
        Job("a1d", "image-generator", (), {"prompt": "ok"}),
    ]
    path.write_text("\n".join(json.dumps(job.to_json()) for job in jobs) + "\n")
    manifest = read_manifest(path)
    out = tmp_path / "out"
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        summary = await run_batch(client, journal, manifest, out, Seen())
    assert summary.counts["succeeded"] == 1
    assert summary.counts["failed"] == 2
    errors = sorted(line["error"] for line in results(out) if line["error"])
    assert errors[0].startswith("line 1: input file not found")
    assert errors[1].startswith("line 2: unknown provider 'nope'")

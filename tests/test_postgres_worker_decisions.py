"""A worker's decisions on a shared ledger, in process against the sandbox's emulators."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console

from mediatask import Job, JobState
from mediatask.batch import Batch, BatchOptions
from mediatask.display import PlainDisplay
from mediatask.journal_postgres import PostgresJournal
from mediatask.workers import Worker

JOB = Job("a1d", "image-generator", (), {"prompt": "a lighthouse"})


def worker_on(ledger: PostgresJournal, client: Any, out: Path) -> Worker:
    display = PlainDisplay(Console(file=io.StringIO()))
    return Worker(Batch(client, ledger, BatchOptions(out), display), ledger)


async def test_a_submit_left_on_the_wire_by_a_dead_worker_is_uncertain_and_not_sent_again(
    postgres_url: str, mediatask_sandbox: Any, tmp_path: Path
) -> None:
    box, client = mediatask_sandbox
    with PostgresJournal(postgres_url, lease_seconds=-1) as dead:  # its lease has run out
        dead.register("gone", JOB, line=1)
        dead.register("fresh", JOB, line=2)
        dead.claim(1)
        dead.submitting("gone", dead.marker("gone"))
    with PostgresJournal(postgres_url) as ledger:
        await worker_on(ledger, client, tmp_path).run()
        gone, fresh = ledger.get("gone"), ledger.get("fresh")
    assert gone is not None
    assert fresh is not None
    assert gone.state is JobState.UNCERTAIN
    assert gone.reason == "its worker stopped while its submit to A1D was on the wire"
    assert f"worker {dead.worker} stopped (its lease ran out)" in (gone.error or "")
    assert fresh.state is JobState.SUCCEEDED
    assert box.emulators["a1d"].stats["submissions"] == 1  # only the fresh job

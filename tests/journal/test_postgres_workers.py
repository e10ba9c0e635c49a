"""Workers sharing one PostgreSQL ledger, one of them killed with SIGKILL again and again.

Three ``batch --journal postgresql://…`` processes run one manifest across the three providers'
emulators (standalone processes, so tasks outlive every kill). One worker is killed at seeded
random moments and started again each time; the others adopt its jobs once its leases run out.
At the end every job has succeeded or is uncertain saying why (its submit was on the wire when its
worker died; A2E's are looked up by marker), and the emulators' counters show no task created twice.

``MEDIATASK_PG_KILLS`` sets the number of kills, ``MEDIATASK_PG_JOBS`` the batch's size,
``MEDIATASK_PG_SEED`` the seed of the kill moments.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from mediatask.testing import Standalone, mediatask_process, standalone_emulators

pytestmark = pytest.mark.postgres

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"
KILLS = int(os.environ.get("MEDIATASK_PG_KILLS", "6"))
JOBS = int(os.environ.get("MEDIATASK_PG_JOBS", "45"))
SEED = int(os.environ.get("MEDIATASK_PG_SEED", "13"))
WORKERS = 3
KEYS = {"a1d": "pg-a1d-key", "claid": "pg-claid-key", "a2e": "sk_pg_a2e_key"}


@pytest.fixture
def emulators() -> Iterator[dict[str, Standalone]]:
    with standalone_emulators(KEYS, 1.0) as emulators:
        yield emulators


def creations(emulator: Standalone) -> int:
    """Tasks the emulator created (and charged for); a Claid upload is an edit done at once."""
    stats = emulator.stats()
    return stats.get("submissions", 0) + stats.get("uploads", 0)


def worker(
    folder: Path, env: dict[str, str], url: str, *, keep_errors: bool = True
) -> subprocess.Popen[bytes]:
    command = ["batch", "jobs.jsonl", "-o", "out"]
    command += ["--journal", url, "--lease", "2s", "--concurrency", "4"]
    return mediatask_process(*command, cwd=folder, env=env, errors=keep_errors)


def killed_holding_a_task(
    folder: Path, env: dict[str, str], url: str, emulators: dict[str, Standalone]
) -> None:
    """Start a worker and SIGKILL it as it prints its first submit, while no task can end (the
    emulators hold their work): it dies holding the lease of a job with a live task, which
    another worker must adopt, however slowly a busy machine started it."""
    for emulator in emulators.values():
        emulator.hold()
    victim = worker(folder, env, url)
    assert victim.stderr is not None
    for line in victim.stderr:
        if line.rstrip().endswith(b" submitted"):
            break
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    for emulator in emulators.values():
        emulator.release()


@pytest.mark.slow
def test_a_worker_killed_again_and_again_loses_nothing_and_pays_nothing_twice(
    emulators: dict[str, Standalone],
    postgres_url: str,
    tmp_path: Path,
    mediatask_home: Path,
    mixed_job: Callable[[str, int], dict[str, Any]],
) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.png")
    lines = [mixed_job("w", n) for n in range(JOBS)]
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    env = {**os.environ, "MEDIATASK_HOME": str(mediatask_home)}
    for emulator in emulators.values():
        env.update(emulator.env)
    moments = random.Random(SEED)  # noqa: S311  # kill moments, not secrets

    others = [worker(tmp_path, env, postgres_url) for _ in range(WORKERS - 1)]
    killed_holding_a_task(tmp_path, env, postgres_url, emulators)
    for _ in range(KILLS - 1):
        victim = worker(tmp_path, env, postgres_url, keep_errors=False)
        # A random moment to kill at, not a wait for something to happen.
        time.sleep(moments.uniform(0.5, 2.5))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    last = worker(tmp_path, env, postgres_url)
    errors = [process.communicate(timeout=180)[1].decode() for process in [*others, last]]

    with psycopg.connect(postgres_url, row_factory=dict_row) as db:
        rows = {row["id"]: row for row in db.execute("SELECT * FROM jobs").fetchall()}
        adopted = db.execute("SELECT COUNT(*) AS n FROM events WHERE kind = 'adopted'").fetchone()
    states = Counter(row["state"] for row in rows.values())
    provider = {line["id"]: line["provider"] for line in lines}
    ok = Counter(provider[row["id"]] for row in rows.values() if row["state"] == "succeeded")
    uncertain = [row for row in rows.values() if row["state"] == "uncertain"]
    unsure = Counter(provider[row["id"]] for row in uncertain)
    created = {name: creations(emulator) for name, emulator in emulators.items()}
    workers = {row["worker"] for row in rows.values()}
    print(f"{KILLS} kills, {JOBS} jobs: {dict(states)}; created {created}; adopted {adopted}")
    print(f"  {len(workers)} workers wrote the final states")
    for row in uncertain:
        print(f"  {row['id']} ({provider[row['id']]}) uncertain: {row['reason']}")
    assert len(rows) == JOBS
    assert adopted is not None
    assert adopted["n"] > 0  # the killed workers' jobs were taken over by the others
    assert set(states) <= {"succeeded", "uncertain"}, (dict(states), errors)
    for row in uncertain:  # a true reason: a submit on the wire when its worker died
        assert "on the wire" in row["error"] or "got no answer" in row["error"], row["error"]
    # Every task created belongs to one succeeded job or one uncertain job: none was created
    # twice. Every A2E task created was found by its marker and finished.
    for name in ("a1d", "claid", "a2e"):
        assert ok[name] <= created[name] <= ok[name] + unsure[name], (name, created, ok, unsure)
    assert created["a2e"] == ok["a2e"], (created, ok, unsure)
    for row in rows.values():
        if row["state"] == "succeeded":
            for output in json.loads(row["outputs"]):
                assert Path(tmp_path / "out", Path(output["path"]).name).stat().st_size > 0

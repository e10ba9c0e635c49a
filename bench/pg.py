"""The shared-ledger scenario: 3 workers on one Claid batch at Claid's 4/s + 120/min.

Issue 13's target: N workers sharing one key's rate windows through the PostgreSQL ledger draw
no 429 and finish within 10 % of the rate limit's *floor*, the time the windows alone impose
(the last of ``jobs`` one-request jobs may start no earlier than that, however many workers).
A throw-away PostgreSQL 15 (``tests/support/postgres.py``) and Claid's own emulator (which
answers 429 beyond its windows and counts them) run for the scenario; three ``mediatask batch
MANIFEST --journal postgresql://…`` processes start together, and the wall is from their start
to the last one's exit, process start-up included.

Run alone with ``BENCH_ONLY=pg make bench``; ``BENCH_PG_JOBS`` overrides the scale's job count.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "samples" / "lighthouse.png"
CLAID_WINDOWS = ((4, 1.0), (120, 60.0))
WORKERS = 3
KEY = "bench-pg-claid-key"


def floor_seconds(jobs: int, windows: Sequence[tuple[int, float]] = CLAID_WINDOWS) -> float:
    """When the last of ``jobs`` requests may start, the first at 0, sent as early as
    every window allows (a sliding window counts a request for ``seconds`` after it)."""
    starts: list[float] = []
    for _ in range(jobs):
        at = 0.0
        for limit, seconds in windows:
            if len(starts) >= limit:
                at = max(at, starts[-limit] + seconds)
        starts.append(at)
    return starts[-1] if starts else 0.0


def window_lag_ms(arrivals: Sequence[float], limit: int = 4, seconds: float = 1.0) -> float | None:
    """The median of how long after the ``limit``-th request before it (plus ``seconds``) each
    request arrived: 0 for a limiter that loses nothing."""
    lags = [arrivals[k] - arrivals[k - limit] - seconds for k in range(limit, len(arrivals))]
    return round(statistics.median(lags) * 1000, 1) if lags else None


def manifest(folder: Path, jobs: int) -> None:
    """``jobs`` one-request Claid edits (uploads of the sample, resized)."""
    shutil.copy(SAMPLE, folder / "in.png")
    resize = {"operations": {"resizing": {"width": 32}}, "output": {"format": "png"}}
    lines = [
        {"id": f"p{n:04d}", "provider": "claid", "operation": "edit", "input": "in.png",
         "params": resize}
        for n in range(jobs)
    ]  # fmt: skip
    (folder / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def run(jobs: int) -> dict[str, Any]:
    """One run of the scenario: its row for the bench table."""
    from mediatask.testing import standalone_emulator

    sys.path.insert(0, str(ROOT / "tests"))  # the tests' helpers: not in the library's wheel
    from support.postgres import running_server

    with (
        tempfile.TemporaryDirectory(prefix="mediatask-bench-pg-") as work,
        running_server() as server,
        standalone_emulator("claid", KEY, 0.3) as claid,
    ):
        folder = Path(work)
        manifest(folder, jobs)
        url = server.create_database("bench")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MEDIATASK_")},
            "MEDIATASK_HOME": str(folder / "home"),
            "NO_COLOR": "1",
            **claid.env,
        }
        command = [sys.executable, "-m", "mediatask", "batch", "jobs.jsonl", "-o", "out"]
        command += ["--journal", url, "--json", "-q"]  # stderr: errors only
        started = time.monotonic()
        workers = [
            subprocess.Popen(  # our own command, no shell
                command,
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(WORKERS)
        ]
        errors = [worker.communicate(timeout=60 + 3 * floor_seconds(jobs))[1] for worker in workers]
        wall = time.monotonic() - started
        stats = claid.stats()
        arrivals = claid.request_times()
    failed = [w.returncode for w in workers if w.returncode != 0]
    floor = floor_seconds(jobs)
    done = stats.get("uploads", 0)
    return {
        "scenario": f"pg: {WORKERS} workers, Claid 4/s+120/min",
        "contender": f"batch --journal ({jobs} jobs)",
        "status": "ok" if not failed and done == jobs else f"failed ({failed}, {done}/{jobs})",
        "wall_s": round(wall, 2),
        "floor_s": round(floor, 2),
        "wall_floor": round(wall / floor, 3) if floor else None,
        "rate_limited": stats.get("rate_limited", 0),
        # From the first request's arrival to the last's: the part the windows govern; the rest
        # of the wall is start-up (manifest, claims) before and the last answer, download and
        # exits after.
        "requests_span_s": round(arrivals[-1] - arrivals[0], 2) if arrivals else None,
        # How much later than the 4/s window allows each request arrived: the round trip the
        # limiter pays (a request counts from its answer, the provider's count from arrival).
        "window_lag_ms": window_lag_ms(arrivals),
        "stderr_tail": b"".join(errors).decode(errors="replace")[-600:],
    }


if __name__ == "__main__":
    print(json.dumps(run(int(os.environ.get("BENCH_PG_JOBS", "60"))), indent=2))

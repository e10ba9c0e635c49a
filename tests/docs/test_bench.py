"""``bench/run.py`` runs end to end: its server speaks both shapes and mediatask gets through.

Speed is not checked here (that is what the bench itself is for): only that every scenario runs,
that mediatask's jobs all finish against the bench server, and that the table and JSON come out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "run.py"


@pytest.mark.subprocess
@pytest.mark.slow
def test_the_bench_runs_at_tiny_scale(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "BENCH_SCALE": "tiny", "BENCH_OUT": str(out)}
    done = subprocess.run(
        [sys.executable, str(BENCH)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| scenario | contender |" in done.stdout
    rows = json.loads(out.read_text())["rows"]
    scenarios = {row["scenario"].split(":")[0].split(" ")[0] for row in rows}
    assert scenarios == {"a1d", "claid", "download", "start-up"}
    mediatask = [r for r in rows if r["contender"].startswith("mediatask") and "done" in r]
    assert len(mediatask) == 6  # run_many and batch in both shapes, 10,000 and the download
    for row in mediatask:
        assert row["status"] == "ok", row
        assert row["done"] == row["count"], row
    for row in (r for r in mediatask if "status_requests_per_task" in r):
        assert row["status_requests_per_task"] >= 1, row
    startup = [r for r in rows if r["scenario"] == "start-up"]
    assert {r["contender"] for r in startup} >= {"mediatask --help", "mediatask providers"}

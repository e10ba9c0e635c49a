"""Every provider's outputs say how long the provider keeps them (``expires_at`` in ``run
--json``): A2E from its record's time, Claid from its task's ``created_at`` (or, for an upload,
from when we saw the answer), A1D from when we saw the task finish."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediatask.cli import cli

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"
QUICK = {"MEDIATASK_SANDBOX_SECONDS": "0"}
JOBS = {
    "a1d": (["remove-bg", "-i", str(SAMPLE)], timedelta(hours=24)),
    "claid": (["edit", "-i", str(SAMPLE), "-p", "operations.resizing.width=40"], timedelta(days=1)),
    "a2e": (["text-to-image", "-p", "prompt=fog", "-p", "width=64", "-p", "height=64"], None),
}


@pytest.mark.parametrize("provider", sorted(JOBS))
def test_run_json_shows_when_each_output_expires(provider: str, tmp_path: Path) -> None:
    args, lifetime = JOBS[provider]
    command = ["run", provider, *args, "-o", str(tmp_path), "--json", "--sandbox"]
    result = CliRunner().invoke(cli, command, env=QUICK)
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    submitted = datetime.fromisoformat(outcome["task"]["submitted_at"])
    finished = submitted + timedelta(seconds=outcome["seconds"])
    assert outcome["outputs"]
    for output in outcome["outputs"]:
        expires = datetime.fromisoformat(output["expires_at"])
        assert expires > finished
        if lifetime is not None:  # counted from when we saw it done: the lifetime after that
            assert abs(expires - (finished + lifetime)) < timedelta(milliseconds=5)

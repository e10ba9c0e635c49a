"""``mediatask batch`` end to end: a 50-line sandbox manifest, and Ctrl-C then resume."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.testing import interrupt_batch

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"


def manifest_lines(count: int) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    for n in range(count):
        if n % 3 == 0:
            jobs.append({"operation": "mirror", "input": "in.png", "params": {"axis": "vertical"}})
        elif n % 3 == 1:
            jobs.append({"operation": "mirror", "input": "in.png"})
        else:
            jobs.append({"operation": "draw", "params": {"prompt": f"sky {n}"}})
    return [{"provider": "echo", "id": f"j{n:02d}", **job} for n, job in enumerate(jobs)]


def test_a_50_line_sandbox_batch_writes_everything_and_counts_right(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.png")
    lines = [json.dumps(job) for job in manifest_lines(50)]
    lines.insert(7, "{broken")  # line 8
    (tmp_path / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "jobs.jsonl"), "-o", str(out), "--sandbox"]
    env = {"MEDIATASK_SANDBOX_SECONDS": "0.1"}

    result = CliRunner().invoke(cli, args, env=env)

    assert result.exit_code == 1, result.output  # the broken line counts as a failure
    assert "jobs.jsonl: line 8: not valid JSON" in result.stderr
    assert "batch: 51 jobs, 1 already final" in result.stderr  # plain lines: not a terminal
    assert "│ succeeded │   50 │" in result.stdout
    assert "│ invalid   │    1 │" in result.stdout
    assert "│ total     │   51 │" in result.stdout
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 51
    assert sorted(r["job"] for r in results if r["status"] == "succeeded") == [
        f"j{n:02d}" for n in range(50)
    ]
    for r in results[1:]:
        assert {Path(o["path"]).name.split(".")[0] for o in r["outputs"]} == {f"{r['job']}-image"}
        assert all(Path(o["path"]).is_file() for o in r["outputs"])
    # A --sandbox batch journals apart from a real batch's (its tasks die with the command).
    assert (out / ".mediatask" / "sandbox-journal.sqlite").is_file()

    again = CliRunner().invoke(cli, [*args, "--json"], env=env)
    counts = json.loads(again.stdout)["counts"]
    assert counts["skipped"] == 50
    assert counts["invalid"] == 1
    assert counts["succeeded"] == 0


MIXED_JOBS: list[dict[str, Any]] = [
    {"provider": "a1d", "operation": "image-upscaler", "input": "in.png", "params": {"scale": 2}},
    {"provider": "a1d", "operation": "remove-bg", "input": "in.png"},
    {
        "provider": "claid",
        "operation": "edit",
        "input": "in.png",  # a local file: Claid's upload endpoint
        "params": {"operations": {"resizing": {"width": 64}}, "output": {"format": "png"}},
    },
    {
        "provider": "claid",
        "operation": "edit",
        "input": "in.png",
        "params": {"operations.adjustments.contrast": "20", "output.format": "webp"},
    },
    {
        "provider": "a2e",
        "operation": "text-to-image",
        "params": {"prompt": "a lighthouse", "width": 64, "height": 64},
    },
]
"""Five kinds of job over the three launch providers; the manifest repeats them."""


def test_a_50_line_batch_mixing_the_three_providers(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.png")
    jobs = [{"id": f"m{n:02d}", **MIXED_JOBS[n % 5]} for n in range(48)]
    jobs += [  # two real videos, from the local photo through A2E's presigned upload
        {"id": f"v{n}", "provider": "a2e", "operation": "image-to-video", "input": "in.png"}
        | {"params": {"prompt": "waves roll in"}}
        for n in range(2)
    ]
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(job) + "\n" for job in jobs))
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "jobs.jsonl"), "-o", str(out), "--sandbox"]

    result = CliRunner().invoke(cli, args, env={"MEDIATASK_SANDBOX_SECONDS": "0.1"})

    assert result.exit_code == 0, result.output
    assert "│ succeeded │   50 │" in result.stdout
    assert "│ total     │   50 │" in result.stdout
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["job"] for r in results) == sorted(job["id"] for job in jobs)
    providers = [r["handle"].split(":")[0] for r in results]
    counts = (providers.count("a1d"), providers.count("claid"), providers.count("a2e"))
    assert counts == (20, 19, 11)
    for r in results:
        assert r["status"] == "succeeded", r
        assert r["outputs"], r
        for output in r["outputs"]:
            path = Path(output["path"])
            assert path.is_file()
            assert path.stat().st_size > 0
            assert path.parent == out
            assert path.name.startswith(f"{r['job']}-")
    suffixes = {Path(o["path"]).suffix for r in results for o in r["outputs"]}
    assert {".png", ".webp", ".mp4"} <= suffixes


def test_a_clean_batch_exits_0_and_json_counts(tmp_path: Path) -> None:
    (tmp_path / "jobs.csv").write_text(
        "id,provider,operation,input,params\n"
        'a,echo,draw,,"{""prompt"": ""one""}"\n'
        'b,echo,draw,,"{""prompt"": ""two""}"\n'
    )
    args = ["batch", str(tmp_path / "jobs.csv"), "-o", str(tmp_path / "out"), "--sandbox"]
    result = CliRunner().invoke(cli, [*args, "--json"], env={"MEDIATASK_SANDBOX_SECONDS": "0.1"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["counts"]["succeeded"] == 2
    assert data["total"] == 2


def test_a_missing_manifest_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["batch", str(tmp_path / "no.jsonl"), "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot read the manifest" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.subprocess
def test_ctrl_c_halfway_then_the_same_command_finishes_without_resubmitting(
    standalone_echo: Any, tmp_path: Path
) -> None:
    job = {"provider": "echo", "operation": "draw"}
    jobs = [{**job, "params": {"prompt": f"p{n}"}} for n in range(20)]
    (tmp_path / "jobs.jsonl").write_text("\n".join(json.dumps(j) for j in jobs) + "\n")
    command = [sys.executable, "-m", "mediatask", "batch", str(tmp_path / "jobs.jsonl")]
    command += ["-o", str(tmp_path / "out")]
    env = {**os.environ, **standalone_echo.env}

    standalone_echo.hold()  # no task ends: at most --concurrency (8) are submitted before Ctrl-C
    first = interrupt_batch(*command[4:], env=env, after_submitted=6)
    rest = first.stderr
    assert first.returncode == 130, rest
    assert "interrupted: " in rest
    assert "run the same command to resume" in rest
    assert 6 <= standalone_echo.stats()["submissions"] <= 8
    standalone_echo.release()

    second = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert second.returncode == 0, second.stdout + second.stderr  # the summary names the state
    assert "│ total     │   20 │" in second.stdout
    assert standalone_echo.stats()["submissions"] == 20  # every job submitted exactly once
    results = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(r)["job"] for r in results) == sorted(
        f"line-{n}" for n in range(1, 21)
    )


@pytest.mark.subprocess
def test_jobs_list_and_show_read_a_batch_journal(
    standalone_echo: Any, tmp_path: Path, mediatask_cmd: Callable[..., Any]
) -> None:
    (tmp_path / "jobs.jsonl").write_text(
        json.dumps({"provider": "echo", "operation": "draw", "params": {"prompt": "x"}}) + "\n"
    )
    out = tmp_path / "out"
    ran = mediatask_cmd(
        "batch", str(tmp_path / "jobs.jsonl"), "-o", str(out), env=standalone_echo.env
    )
    assert ran.returncode == 0, ran.stderr
    listed = CliRunner().invoke(cli, ["jobs", "list", "--journal", str(out), "--json"])
    records = json.loads(listed.stdout)
    assert [(r["job"], r["state"]) for r in records] == [("line-1", "succeeded")]
    shown = CliRunner().invoke(cli, ["jobs", "show", "line-1", "--journal", str(out)])
    assert "submitted" in shown.stdout
    assert "downloaded" in shown.stdout


def test_two_batches_cannot_share_an_output_folder(tmp_path: Path) -> None:
    from mediatask.journal.sqlite import exclusive

    (tmp_path / "jobs.jsonl").write_text("")
    out = tmp_path / "out"
    with exclusive(out / ".mediatask" / "lock"):
        result = CliRunner().invoke(cli, ["batch", str(tmp_path / "jobs.jsonl"), "-o", str(out)])
    assert result.exit_code == 1
    assert f"another mediatask batch is using {out}: wait for it to end" in result.output


def test_a_bad_timeout_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "jobs.jsonl").write_text("")
    args = ["batch", str(tmp_path / "jobs.jsonl"), "-o", str(tmp_path / "out")]
    bad = CliRunner().invoke(cli, [*args, "--timeout", "soon"])
    assert bad.exit_code == 1
    assert "'soon' is not a duration: write e.g. 90 (seconds), 30s, 5m" in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    alone = CliRunner().invoke(cli, [*args, "--cancel-on-timeout"])
    assert alone.exit_code == 1
    assert "--cancel-on-timeout needs --timeout DURATION" in alone.output


def test_the_summary_names_the_command_that_recovers_each_state(tmp_path: Path) -> None:
    (tmp_path / "jobs.csv").write_text(
        "id,provider,operation,input,params\n"
        'a,echo,draw,,"{""prompt"": ""one""}"\n'
        "b,echo,mirror,missing.png,\n"
    )
    out = tmp_path / "out"
    args = ["batch", str(tmp_path / "jobs.csv"), "-o", str(out), "--sandbox", "--timeout", "5m"]
    env = {"MEDIATASK_SANDBOX_SECONDS": "0.1"}

    shown = CliRunner().invoke(cli, args, env=env)
    as_json = CliRunner().invoke(cli, [*args, "--json"], env=env)

    assert shown.exit_code == 1, shown.output
    assert "1 invalid: fix line 3, then run the same command" in shown.stdout
    assert "--retry-failed" not in shown.stdout  # nothing was sent: a retry would not help
    assert "input file not found" in shown.stdout
    assert "this run ended 1 job" in shown.stdout  # the invalid line was never run
    data = json.loads(as_json.stdout)
    assert data["counts"]["skipped"] == 1
    assert data["counts"]["invalid"] == 1
    assert data["ended"] == 0  # the re-run ended nothing: throughput counts no skipped job
    assert data["jobs_per_minute"] == 0
    assert data["next"] == [
        {
            "jobs": 1,
            "states": {"invalid": 1},
            "command": None,
            "does": "fix line 3, then run the same command",
        }
    ]
    assert data["reasons"]["invalid"][0]["jobs"] == 1

"""A batch checks every line before its first submit, as ``--dry-run`` checks it.

Against standalone emulators that count the requests reaching them: the invalid lines are
reported up front with their line numbers, none is sent or journalled, the rest runs; fixing
them makes the next run submit exactly those.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from click.testing import CliRunner

from mediatask.batch.manifest import read_manifest
from mediatask.batch.runner import Batch, BatchOptions
from mediatask.cli import cli
from mediatask.journal.sqlite import JobRecord, Journal, batch_journal_path
from mediatask.testing import Standalone, mediatask_command, serving_folder, standalone_emulator

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"
CLAID_EDIT = {"operations": {"resizing": {"width": 64}}, "output": {"format": "png"}}


@pytest.fixture
def emulators(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Standalone]]:
    """Echo, A1D and Claid emulators; Claid's key is not set (only its address)."""
    monkeypatch.delenv("MEDIATASK_CLAID_KEY", raising=False)
    with (
        standalone_emulator("echo", "precheck-echo", 0.1) as echo,
        standalone_emulator("a1d", "precheck-a1d", 0.1) as a1d,
        standalone_emulator("claid", "precheck-claid", 0.1) as claid,
    ):
        yield {"echo": echo, "a1d": a1d, "claid": claid}


def _env(emulators: dict[str, Standalone], *, claid_key: bool) -> dict[str, str]:
    env = {**emulators["echo"].env, **emulators["a1d"].env}
    env["MEDIATASK_CLAID_BASE_URL"] = emulators["claid"].base_url
    if claid_key:
        env["MEDIATASK_CLAID_KEY"] = emulators["claid"].key
    return env


def _lines(url: str, *, fixed: bool) -> list[dict[str, Any]]:
    """20 jobs; unless ``fixed``, lines 3, 7, 11, 15 and 19 are bad, each in its own way."""
    lines: list[dict[str, Any]] = [
        {"id": f"j{n:02d}", "provider": "echo", "operation": "draw", "params": {"prompt": f"{n}"}}
        for n in range(1, 21)
    ]
    lines[4] |= {"provider": "a1d", "operation": "image-generator"}
    lines[12] |= {"provider": "a1d", "operation": "image-generator"}
    lines[2] |= {"operation": "draw" if fixed else "paint"}  # unknown operation
    lines[6]["params"] = {"prompt": "7", "size": 32 if fixed else 48}  # not one of 16, 32, 64
    lines[10] |= {
        "operation": "mirror",
        "input": f"{url}/in.png" if fixed else "missing.png",
        "params": {},
    }
    lines[14] |= {  # A1D takes URLs only: a local file needs a file host
        "provider": "a1d",
        "operation": "image-upscaler",
        "input": f"{url}/in.png" if fixed else "in.png",
        "params": {"scale": 2},
    }
    lines[18] |= {"provider": "claid", "operation": "edit", "input": f"{url}/in.png"}
    lines[18]["params"] = CLAID_EDIT  # no key for Claid (the fix: set it)
    return lines


def _submits(emulators: dict[str, Standalone]) -> dict[str, int]:
    return {name: e.stats().get("submissions", 0) for name, e in emulators.items()}


def _invalid_lines(text: str) -> list[int]:
    return sorted(int(n) for n in re.findall(r"line (\d+): job j", text))


@pytest.mark.subprocess
def test_bad_lines_are_refused_up_front_and_fixing_them_submits_exactly_those(
    emulators: dict[str, Standalone], tmp_path: Path
) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.png")
    manifest = tmp_path / "jobs.jsonl"
    out = tmp_path / "out"
    with serving_folder(tmp_path) as url:
        manifest.write_text("".join(json.dumps(line) + "\n" for line in _lines(url, fixed=False)))
        args = ("batch", str(manifest), "-o", str(out))
        env = _env(emulators, claid_key=False)

        dry = mediatask_command(*args, "--dry-run", env=env)
        strict = mediatask_command(*args, "--strict", env=env)
        assert _submits(emulators) == {"echo": 0, "a1d": 0, "claid": 0}
        first = mediatask_command(*args, env=env)

        counts_first = _submits(emulators)
        claid_requests = len(emulators["claid"].request_times())
        results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        manifest.write_text("".join(json.dumps(line) + "\n" for line in _lines(url, fixed=True)))
        second = mediatask_command(*args, "--json", env=_env(emulators, claid_key=True))
        counts_second = _submits(emulators)

    # --dry-run and the real run name the same five lines, each with its fix.
    assert dry.returncode == 1, dry.stderr
    assert _invalid_lines(dry.stderr) == [3, 7, 11, 15, 19]
    assert "5 of 20 lines are invalid" in dry.stderr
    # --strict stops everything before any request; nothing is journalled.
    assert strict.returncode == 1, strict.stderr
    assert "--strict: 5 of 20 lines are invalid (lines 3, 7, 11, 15, 19)" in strict.stderr
    assert first.returncode == 1, first.stderr
    assert _invalid_lines(first.stderr) == _invalid_lines(dry.stderr)
    for fix in (
        "unknown operation 'paint' for echo: choose one of",
        "size",
        "missing.png",
        "--file-host",
        "MEDIATASK_CLAID_KEY",
    ):
        assert fix in first.stderr
    # ...reported before the batch starts its first job, and none of them sent.
    assert first.stderr.index("line 19: job j19") < first.stderr.index("batch: 20 jobs")
    assert counts_first == {"echo": 13, "a1d": 2, "claid": 0}
    assert claid_requests == 0
    invalid = sorted(r["line"] for r in results if r["status"] == "invalid")
    assert invalid == [3, 7, 11, 15, 19]
    assert sum(r["status"] == "succeeded" for r in results) == 15
    assert "--retry-failed" not in first.stdout
    assert "fix lines 3, 7, 11, 15, 19, then run the same command" in first.stdout

    # Fixed, the next run submits exactly those five, and all 20 have succeeded.
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["total"] == 20
    assert summary["counts"]["succeeded"] == 5
    assert summary["counts"]["skipped"] == 15
    added = {name: counts_second[name] - counts_first[name] for name in counts_second}
    assert added == {"echo": 3, "a1d": 1, "claid": 1}


@pytest.mark.subprocess
def test_an_invalid_line_is_not_journalled(
    emulators: dict[str, Standalone], tmp_path: Path
) -> None:
    manifest = tmp_path / "jobs.jsonl"
    lines = [
        {"id": "ok", "provider": "echo", "operation": "draw", "params": {"prompt": "a"}},
        {"id": "typo", "provider": "echo", "operation": "paint", "params": {"prompt": "b"}},
    ]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"

    ran = mediatask_command(
        "batch", str(manifest), "-o", str(out), env=_env(emulators, claid_key=False)
    )

    assert ran.returncode == 1, ran.stderr
    with Journal(batch_journal_path(out)) as journal:
        assert [record.id for record in journal.records()] == ["ok"]


class _Observer:
    """A batch observer that removes ``path`` once the batch starts running its jobs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.notices: list[str] = []

    def started(self, total: int, done: int) -> None:
        self.path.unlink(missing_ok=True)

    def changed(self, job_id: str, state: str, **_: Any) -> None:
        pass

    def ended(self, record: JobRecord) -> None:
        pass

    def notice(self, text: str) -> None:
        self.notices.append(text)


async def test_a_file_gone_after_the_checks_makes_its_line_invalid_and_the_next_run_sends_it(
    mediatask_sandbox: Any, tmp_path: Path
) -> None:
    _, client = mediatask_sandbox
    shutil.copy(SAMPLE, tmp_path / "in.png")
    manifest_path = tmp_path / "jobs.jsonl"
    line = {"id": "m", "provider": "echo", "operation": "mirror", "input": "in.png"}
    manifest_path.write_text(json.dumps(line) + "\n")
    manifest = read_manifest(manifest_path)
    out = tmp_path / "out"
    with trio.fail_after(30), Journal(batch_journal_path(out)) as journal:
        batch = Batch(client, journal, BatchOptions(out), _Observer(tmp_path / "in.png"))
        await batch.run(manifest)
        summary = batch.summary(manifest)
        assert summary.counts["invalid"] == 1
        assert summary.counts["failed"] == 0
        status = [json.loads(t)["status"] for t in (out / "results.jsonl").read_text().splitlines()]
        assert status == ["invalid"]

        shutil.copy(SAMPLE, tmp_path / "in.png")  # back: the next run checks it again, sends it
        again = Batch(client, journal, BatchOptions(out), _Observer(tmp_path / "other.png"))
        await again.run(manifest)
        assert again.summary(manifest).counts["succeeded"] == 1


def test_with_a_file_host_a_local_file_for_a1d_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.png")
    line = {"id": "u", "provider": "a1d", "operation": "image-upscaler", "input": "in.png"}
    (tmp_path / "jobs.jsonl").write_text(json.dumps(line | {"params": {"scale": 2}}) + "\n")
    monkeypatch.setenv("MEDIATASK_A1D_KEY", "sk-precheck")
    args = ["batch", str(tmp_path / "jobs.jsonl"), "-o", str(tmp_path / "out"), "--dry-run"]

    without = CliRunner().invoke(cli, args)
    hosted = CliRunner().invoke(cli, [*args, "--file-host", "s3://bucket/in"])

    assert without.exit_code == 1
    assert "line 1: job u: a1d takes inputs by URL only" in without.stderr
    assert hosted.exit_code == 0, hosted.output
    assert "<URL of in.png on s3://bucket/in>" in hosted.stdout

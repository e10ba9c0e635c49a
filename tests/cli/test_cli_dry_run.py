"""``--dry-run`` on run, submit and batch: all checked, the requests printed, nothing sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.journal.sqlite import JOURNAL_FILE
from mediatask.testing import Standalone, standalone_emulator

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"
KEY = "sk-dry-run-" + "9f3a1c7e5b"


@pytest.fixture(scope="module")
def a2e() -> Iterator[Standalone]:
    with standalone_emulator("a2e", KEY, 0.1) as emulator:
        yield emulator


def _nothing_sent(emulator: Standalone, home: Path) -> None:
    assert emulator.stats().get("requests", 0) == 0
    assert not (home / JOURNAL_FILE).exists()


@pytest.mark.subprocess
def test_run_dry_run_prints_the_uploads_and_the_submit_and_sends_nothing(
    a2e: Standalone, isolated: Path
) -> None:
    args = ["run", "a2e", "image-to-video", "-i", str(SAMPLE), "-p", "prompt=sea", "--dry-run"]
    result = CliRunner().invoke(cli, args, env=a2e.env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"POST {a2e.base_url}/api/v1/r2/upload-presigned-url" in out
    assert f"then: upload lighthouse.png ({SAMPLE.stat().st_size} bytes)" in out
    assert f"POST {a2e.base_url}/api/v1/userImage2Video/start" in out
    assert "Authorization: <redacted>" in out
    assert '"prompt": "sea"' in out
    assert KEY not in result.output
    _nothing_sent(a2e, isolated)


def test_submit_dry_run_json_and_a_multipart_body_named_not_sent(isolated: Path) -> None:
    args = ["submit", "claid", "edit", "-i", str(SAMPLE), "--key", KEY, "--dry-run", "--json"]
    args += ["--params-file", str(_edit(isolated))]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (request,) = document["jobs"][0]["requests"]
    assert request["method"] == "POST"
    assert request["headers"]["Authorization"] == "<redacted>"
    size = SAMPLE.stat().st_size
    assert request["body"]["multipart"]["file"] == f"<file lighthouse.png, {size} bytes>"
    assert KEY not in result.output
    assert not (isolated / JOURNAL_FILE).exists()


def _edit(folder: Path) -> Path:
    path = folder / "edit.json"
    path.write_text(json.dumps({"operations": {"resizing": {"width": 100}}}))
    return path


@pytest.mark.subprocess
def test_dry_run_still_checks_everything(a2e: Standalone, isolated: Path) -> None:
    args = ["run", "a2e", "image-to-video", "-i", str(SAMPLE), "--dry-run"]
    result = CliRunner().invoke(cli, args, env=a2e.env)
    assert result.exit_code == 1
    assert "missing parameter prompt" in result.output
    no_key = {**a2e.env, "MEDIATASK_A2E_KEY": ""}
    args += ["-p", "prompt=x"]
    result = CliRunner().invoke(cli, args, env=no_key)
    assert result.exit_code == 1
    assert "key" in result.output.lower()
    _nothing_sent(a2e, isolated)


@pytest.mark.subprocess
def test_batch_dry_run_prints_each_job_and_sends_nothing(a2e: Standalone, tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    lines = [
        {
            "id": f"j{n}",
            "provider": "a2e",
            "operation": "image-to-video",
            "input": str(SAMPLE),
            "params": {"prompt": f"p{n}"},
        }
        for n in range(2)
    ]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"
    args = ["batch", str(manifest), "-o", str(out), "--dry-run", "--json"]
    result = CliRunner().invoke(cli, args, env=a2e.env)
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)["jobs"]
    assert [job["id"] for job in jobs] == ["j0", "j1"]
    assert a2e.stats().get("requests", 0) == 0
    assert not (out / ".mediatask").exists()


def test_url_only_provider_local_file_dry_run_needs_the_sandbox(isolated: Path) -> None:
    args = ["run", "echo", "mirror", "-i", str(SAMPLE), "--dry-run", "--key", KEY]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1
    assert "by URL only" in refused.stderr
    served = CliRunner().invoke(cli, [*args, "--sandbox"])
    assert served.exit_code == 0, served.output
    assert "<URL of lighthouse.png on the sandbox's file host>" in served.stdout
    assert not (isolated / JOURNAL_FILE).exists()

"""Outputs that are values, not files (a caption, a score): carried, shown, kept.

Echo's ``caption`` operation answers with one line of text; ``run`` prints it, ``--json``, the
journal and a batch's results file keep it, and nothing is downloaded for it.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from mediatask.cli import cli
from mediatask.journal.sqlite import SANDBOX_JOURNAL_FILE
from mediatask.model.values import Output, lasting
from mediatask.settings.keys import home_dir

CAPTION = "a 8x4 image, mostly #0a141e"


def sandbox_journal() -> Path:
    """Where ``run --sandbox`` journals its jobs: apart from the real ones, in the home."""
    return home_dir() / SANDBOX_JOURNAL_FILE


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.new("RGB", (8, 4), (10, 20, 30)).save(path)
    return path


def test_a_value_output_reads_back_as_it_was_written() -> None:
    caption = Output.text("a boat at dusk", role="caption")
    scores = Output.data({"cat": 0.9, "dog": [0.1]}, role="scores")

    assert (caption.kind, caption.mime_type, caption.downloadable) == ("text", "text/plain", False)
    assert (scores.kind, scores.mime_type) == ("json", "application/json")
    assert [Output.from_json(o.to_json()) for o in (caption, scores)] == [caption, scores]
    assert scores.shown() == '{"cat":0.9,"dog":[0.1]}'
    assert Output(value=3, role="score").kind == "json"  # the kind follows the value
    assert "value" not in Output("https://x.test/a.png").to_json()  # a file's form unchanged


def test_an_output_needs_a_url_or_a_value_and_a_value_must_be_json() -> None:
    with pytest.raises(ValueError, match="give the file's URL, or a value"):
        Output()
    with pytest.raises(TypeError, match=r"Output\.value must be JSON"):
        Output(value={1, 2})


def test_a_value_does_not_expire_with_the_provider_s_files() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    file, caption = lasting([Output("https://x.test/a.png"), Output.text("hi")], 60, now)

    assert file.expires_at is not None
    assert caption.expires_at is None


def test_run_prints_a_caption_and_json_and_the_journal_keep_it(photo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["run", "echo", "caption", "-i", str(photo), "-o", str(tmp_path / "out"), "--sandbox"]

    printed = runner.invoke(cli, args)
    as_json = runner.invoke(cli, [*args, "--json"])
    journal = runner.invoke(cli, ["jobs", "list", "--json", "--journal", str(sandbox_journal())])

    assert printed.exit_code == 0, printed.output
    assert printed.stdout.splitlines() == [CAPTION]
    outputs = json.loads(as_json.stdout)["outputs"]
    assert [(o["role"], o["kind"], o["value"]) for o in outputs] == [("caption", "text", CAPTION)]
    assert json.loads(as_json.stdout)["files"] == []
    records = json.loads(journal.stdout)
    assert [o["value"] for r in records for o in r["outputs"]] == [CAPTION, CAPTION]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_batch_s_results_file_keeps_a_caption_beside_a_file(photo: Path, tmp_path: Path) -> None:
    shutil.copy(photo, tmp_path / "in.png")
    lines = [
        {"id": "c", "provider": "echo", "operation": "caption", "input": "in.png"},
        {"id": "m", "provider": "echo", "operation": "mirror", "input": "in.png"},
    ]
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out"

    ran = CliRunner().invoke(
        cli, ["batch", str(tmp_path / "jobs.jsonl"), "-o", str(out), "--sandbox"]
    )

    assert ran.exit_code == 0, ran.output
    results = {
        r["job"]: r["outputs"]
        for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())
    }
    assert [(o["value"], o["path"]) for o in results["c"]] == [(CAPTION, None)]
    assert Path(results["m"][0]["path"]).is_file()
    assert "value" not in results["m"][0]


def test_jobs_show_prints_a_caption(photo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["run", "echo", "caption", "-i", str(photo), "-o", str(tmp_path / "out"), "--sandbox"]
    assert runner.invoke(cli, args).exit_code == 0
    listed = runner.invoke(cli, ["jobs", "list", "--json", "--journal", str(sandbox_journal())])
    job = json.loads(listed.stdout)[0]["job"]

    shown = runner.invoke(cli, ["jobs", "show", job, "--journal", str(sandbox_journal())])

    assert f"  caption: {CAPTION}" in shown.stdout.splitlines()

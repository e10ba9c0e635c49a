"""Outputs named for people: after the input, a --name template, never over an existing file.

The done-when of the feature is the last test: a batch over a folder of 50 images (its manifest
made by ``mediatask manifest``) writes ``NAME-image.png`` for each and nothing oddly named, and
a second run into the same folder keeps every file of the first.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediatask.batch.manifest import read_manifest
from mediatask.cli import cli
from mediatask.engine.naming import STDIN_FOLDER, default_stem, input_stem, render_name
from mediatask.model.errors import UsageError
from mediatask.model.suggest import did_you_mean

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"


@pytest.mark.parametrize(
    ("source", "stem"),
    [
        ("photos/cat.png", "cat"),
        ("/abs/dir/my cat.jpeg", "my cat"),
        ("https://cdn.test/a/b/dog.webp?sig=1#x", "dog"),
        ("https://cdn.test/", None),
        ("", None),
    ],
)
def test_input_stem_is_the_files_name_without_folders_or_query(
    source: str, stem: str | None
) -> None:
    assert input_stem(source) == stem


def test_default_stem_is_the_first_input_made_safe_else_the_fallback() -> None:
    assert default_stem(["shots/my cat.png"], "task_1") == "my_cat"
    assert default_stem(["../CON.png"], "task_1") == "_CON"
    assert default_stem(["https://cdn.test/"], "task_1") == "task_1"
    assert default_stem([], "task_1") == "task_1"
    stdin_copy = f"/var/tmp/{STDIN_FOLDER}x1/stdin.png"  # noqa: S108  # a name, never opened
    assert default_stem([stdin_copy], "task_1") == "task_1"  # not "stdin"


def test_a_name_template_fills_its_fields_and_refuses_unknown_ones() -> None:
    fields = {"input": "cat", "task": "t1", "provider": "a1d", "operation": "remove-bg"}
    assert render_name("{input}-{operation}", fields) == "cat-remove-bg"
    assert render_name("plain", fields) == "plain"
    assert render_name("../{input}/x", fields) == "cat_x"  # made safe: no folders
    with pytest.raises(UsageError, match=r"unknown field \{inptu\} \(did you mean input\?\)"):
        render_name("{inptu}-x", fields)
    with pytest.raises(UsageError, match="braces"):
        render_name("{input", fields)


def test_did_you_mean_only_for_a_close_word() -> None:
    assert did_you_mean("image-upscale", ["image-upscaler", "remove-bg"]) == (
        " (did you mean image-upscaler?)"
    )
    assert did_you_mean("widht", ["width", "height"]) == " (did you mean width?)"
    assert did_you_mean("zebra", ["width", "height"]) == ""


def test_run_names_outputs_after_the_input_and_numbers_a_second_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIATASK_SANDBOX_SECONDS", "0.1")
    photo = tmp_path / "my photo.png"
    shutil.copy(SAMPLE, photo)
    out = tmp_path / "out"
    args = ["run", "echo", "mirror", "-i", str(photo), "--sandbox", "-o", str(out), "-q"]
    first = CliRunner().invoke(cli, args)
    second = CliRunner().invoke(cli, args)
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    names = [Path(line).name for line in (first.stdout + second.stdout).splitlines()]
    assert names == ["my_photo-image.png", "my_photo-image-2.png"]
    third = CliRunner().invoke(cli, [*args, "--overwrite", "--name", "{input}-{operation}"])
    assert third.exit_code == 0, third.output
    assert Path(third.stdout.strip()).name == "my_photo-mirror-image.png"
    bad = CliRunner().invoke(cli, [*args, "--name", "{colour}"])
    assert bad.exit_code == 1
    assert "unknown field {colour}" in bad.output


def test_manifest_command_refuses_a_folder_without_media_and_a_typo(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    empty = CliRunner().invoke(cli, ["manifest", str(tmp_path), "echo", "mirror"])
    assert empty.exit_code == 1
    assert "no image file" in empty.output
    typo = CliRunner().invoke(cli, ["manifest", str(tmp_path), "echo", "mirorr"])
    assert typo.exit_code == 1
    assert "did you mean mirror?" in typo.output


def test_a_batch_over_a_folder_of_50_images_names_files_after_them_and_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDIATASK_SANDBOX_SECONDS", "0.05")
    photos = tmp_path / "photos"
    photos.mkdir()
    names = [f"beach {n:02d}" for n in range(48)] + ["dup", "x"]
    for name in names:
        shutil.copy(SAMPLE, photos / f"{name}.png")
    shutil.copy(SAMPLE, photos / "dup.jpg")  # a second "dup": job dup-2
    os.remove(photos / "x.png")
    (photos / ".hidden.png").write_bytes(b"x")
    (photos / "notes.txt").write_text("not an image")
    (photos / "clip.mp4").write_bytes(b"a video: not for an image operation")
    jobs = tmp_path / "jobs.jsonl"
    made = CliRunner().invoke(
        cli, ["manifest", str(photos), "echo", "mirror", "-p", "axis=vertical", "-o", str(jobs)]
    )
    assert made.exit_code == 0, made.output
    assert "50 jobs" in made.stderr
    assert "passed over 3 other files" in made.stderr
    lines = [json.loads(line) for line in jobs.read_text().splitlines()]
    assert len(lines) == 50
    assert lines[0] == {
        "provider": "echo",
        "operation": "mirror",
        "input": "photos/beach 00.png",
        "params": {"axis": "vertical"},
    }
    ids = [entry.id for entry in read_manifest(jobs).entries]
    assert ids[:2] == ["beach_00", "beach_01"]
    assert ids[-2:] == ["dup", "dup-2"]

    out = tmp_path / "out"
    batch = ["batch", str(jobs), "-o", str(out), "--sandbox", "--json"]
    first = CliRunner().invoke(cli, batch)
    assert first.exit_code == 0, first.output
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    expected = sorted(f"{job}-image.png" for job in ids)
    assert files == sorted([*expected, "results.jsonl"])  # named after the inputs, nothing else
    before = {name: (out / name).read_bytes() for name in expected}
    mtimes = {name: (out / name).stat().st_mtime_ns for name in expected}

    shutil.rmtree(out / ".mediatask")  # a fresh run into the same folder, same names
    second = CliRunner().invoke(cli, batch)
    assert second.exit_code == 0, second.output
    assert {name: (out / name).read_bytes() for name in expected} == before
    assert {name: (out / name).stat().st_mtime_ns for name in expected} == mtimes
    again = sorted(p.name for p in out.iterdir() if p.name.endswith("-image-2.png"))
    assert again == sorted(f"{job}-image-2.png" for job in ids)

"""Jobs are checked against the declared operation before any network call."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediatask import Job, UnknownProviderError, UsageError
from mediatask.model.values import Operation
from mediatask.providers.validate import (
    check_concurrency,
    check_job,
    check_local_input,
    check_out_dir,
    sniff,
    url_scheme,
)
from mediatask.testing import FAKE


def test_values_are_typed_and_defaults_filled() -> None:
    job = check_job(FAKE, Job("fake", "upscale", ["https://x/a.png"], {"scale": "4"}))
    assert job.params == {"scale": 4}
    job = check_job(FAKE, Job("fake", "upscale", ["https://x/a.png"]))
    assert job.params == {"scale": 2}


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (Job("fake", "upscale", ["u"], {"scale": "3"}), "scale must be one of 2, 4, got '3'"),
        (Job("fake", "upscale", ["u"], {"scale": "big"}), r"scale must be a whole number \(2, 4\)"),
        (
            Job("fake", "upscale", ["u"], {"scal": "2"}),
            r"unknown parameter 'scal' \(did you mean scale\?\); known .*scale",
        ),
        (Job("fake", "draw"), "missing parameter prompt: pass -p prompt=VALUE"),
        (Job("fake", "draw", ["u"], {"prompt": "p"}), "takes no input file"),
        (Job("fake", "upscale"), r"takes 1 input\(s\) \(image\), got 0"),
    ],
)
def test_bad_jobs_say_what_to_fix(job: Job, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_job(FAKE, job)


def test_unknown_operation_lists_the_choices() -> None:
    with pytest.raises(UnknownProviderError, match="choose one of: upscale, draw"):
        check_job(FAKE, Job("fake", "nope"))


# -- local files, URLs and the output folder ---------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(8), ("png", {"image"})),
        (b"\xff\xd8\xff\xe0" + bytes(8), ("jpeg", {"image"})),
        (b"GIF89a" + bytes(8), ("gif", {"image"})),
        (b"RIFF\0\0\0\0WEBPVP8 ", ("webp", {"image"})),
        (b"\0\0\0\x1cftypavif", ("avif/heic", {"image"})),
        (b"\0\0\0\x1cftypisom", ("mp4", {"video", "audio"})),
        (b"\0\0\0\x1cftypM4A ", ("m4a", {"audio"})),
        (b"RIFF\0\0\0\0WAVEfmt ", ("wav", {"audio"})),
        (b"ID3\x03\0\0\0\0", ("mp3", {"audio"})),
        (b"\x1a\x45\xdf\xa3" + bytes(8), ("webm/mkv", {"video", "audio"})),
        (b"hello, world\n", None),
        (b"", None),
    ],
)
def test_sniff_names_the_format_from_the_first_bytes(
    head: bytes, expected: tuple[str, set[str]] | None
) -> None:
    found = sniff(head)
    assert (found[0], set(found[1])) == expected if found else expected is None


LIMITED = Operation("shrink", "Shrink", ("image",), input_kinds=("image",), max_input_bytes=1024)


def test_a_file_over_the_operations_limit_says_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(3000))
    with pytest.raises(
        UsageError, match=r"big\.png is 2\.9 KiB: fake shrink takes at most 1\.0 KiB"
    ):
        check_local_input("fake shrink", LIMITED, 0, str(big))
    small = tmp_path / "small.png"
    small.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10))
    assert check_local_input("fake shrink", LIMITED, 0, str(small)) == small


def test_an_operation_without_kinds_takes_any_non_empty_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.png"
    notes.write_text("text")
    assert check_local_input("fake upscale", FAKE.operations[0], 0, str(notes)) == notes


@pytest.mark.parametrize(
    ("value", "scheme"),
    [("ftp://x/y", "ftp"), ("data:image/png;base64,AA", "data"), ("cat.png", None), ("/a:b", None)],
)
def test_url_scheme(value: str, scheme: str | None) -> None:
    assert url_scheme(value) == scheme


def test_a_local_file_whose_name_looks_like_a_scheme_is_still_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("ab:cat.png").write_bytes(b"x")
    job = check_job(FAKE, Job("fake", "upscale", ["ab:cat.png"]))
    assert job.inputs == ("ab:cat.png",)
    with pytest.raises(UsageError, match="ab: URLs are not supported"):
        check_job(FAKE, Job("fake", "upscale", ["ab:dog.png"]))


def test_the_output_folder_is_created_and_probed(tmp_path: Path) -> None:
    check_out_dir(tmp_path / "new" / "deeper")
    assert (tmp_path / "new" / "deeper").is_dir()
    assert list((tmp_path / "new" / "deeper").iterdir()) == []  # the probe leaves nothing
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match=r"afile is a file, not a folder: choose another out_dir="):
        check_out_dir(tmp_path / "afile" / "sub")


@pytest.mark.parametrize("value", [0, -1, 1.5, "4", None, True])
def test_concurrency_must_be_a_whole_number_of_at_least_one(value: object) -> None:
    with pytest.raises(UsageError, match="concurrency must be"):
        check_concurrency(value)

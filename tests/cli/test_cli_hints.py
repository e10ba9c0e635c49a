"""Library errors name the option that fixes them as a structured hint: the library says it in
its own words (a keyword argument), the command line as its flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediatask.cli.base import CommandError, user_errors
from mediatask.model.errors import Hint, MediataskError, ResultExpiredError, UsageError
from mediatask.model.values import Job, Operation, ProviderInfo
from mediatask.providers.validate import check_job, check_out_dir


def test_a_hinted_error_says_the_option_as_a_keyword_argument_or_as_a_flag() -> None:
    error = UsageError.hinted(
        "a local file: publish it (", Hint.FILE_HOST, ") or add ", Hint.SANDBOX
    )
    assert (
        str(error)
        == "a local file: publish it (file_host='s3://BUCKET/PREFIX') or add sandbox=True"
    )
    assert error.said(flags=True) == (
        "a local file: publish it (--file-host s3://BUCKET/PREFIX) or add --sandbox"
    )
    assert error.hints == (Hint.FILE_HOST, Hint.SANDBOX)


def test_an_error_without_a_hint_is_said_the_same_both_ways() -> None:
    error = MediataskError("no such task")
    assert error.said(flags=True) == str(error) == "no such task"
    assert error.hints == ()


def test_a_hinted_error_keeps_its_own_fields() -> None:
    error = ResultExpiredError.hinted("gone: ", Hint.RERUN_EXPIRED, status=410)
    assert error.status == 410
    assert str(error) == "gone: `run_batch(…, rerun_expired=True)`"
    assert error.said(flags=True) == "gone: `mediatask batch … --rerun-expired`"


def _a_wrong_job() -> UsageError:
    upscale = Operation("upscale", "Upscale", inputs=("image",))
    info = ProviderInfo("fake", "Fake", "https://fake.test", "bearer", (upscale,))
    with pytest.raises(UsageError) as caught:
        check_job(info, Job("fake", "upscale", (), {}))
    return caught.value


def test_the_library_names_its_keyword_argument() -> None:
    error = _a_wrong_job()
    assert str(error) == "fake upscale takes 1 input(s) (image), got 0: pass inputs=[...]"
    assert error.hints == (Hint.INPUT,)


def test_the_command_line_names_its_flag() -> None:
    with pytest.raises(CommandError) as caught, user_errors():
        raise _a_wrong_job()
    assert caught.value.message == "fake upscale takes 1 input(s) (image), got 0: pass --input"


def test_an_output_folder_in_the_way_is_said_both_ways(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError) as caught:
        check_out_dir(tmp_path / "afile")
    assert str(caught.value).endswith("choose another out_dir=")
    assert caught.value.said(flags=True).endswith("choose another -o/--out")

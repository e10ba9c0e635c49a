"""Jobs are checked against the declared operation before any network call."""

from __future__ import annotations

import pytest

from mediatask import Job, UnknownProviderError, UsageError
from mediatask.testing import FAKE
from mediatask.validate import check_job


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
        (Job("fake", "upscale", ["u"], {"scal": "2"}), "unknown parameter 'scal'; known .*scale"),
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

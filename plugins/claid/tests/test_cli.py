"""`mediatask run claid edit` from the command line: in the sandbox and against `mediatask emulate`.

The vendor's sample request (PROVIDERS.md 3.4) is the parameters throughout: width 1000, no
background removal. Its input URL cannot be reached here, so a loopback server plays it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from click.testing import CliRunner
from PIL import Image

from mediatask.cli import cli
from mediatask.testing import Standalone, mediatask_command, standalone_emulator

VENDOR_DOCUMENT = {"operations": {"resizing": {"width": 1000}, "background": {"remove": False}}}
VENDOR_PARAMS = ["-p", "operations.resizing.width=1000", "-p", "operations.background.remove=false"]


@pytest.fixture
def standalone() -> Iterator[Standalone]:
    """`mediatask emulate claid --key K` in its own process, with quick tasks."""
    with standalone_emulator("claid", "claid-standalone-key", 0.2) as running:
        yield running


def widths(stdout: str) -> list[int]:
    """The widths of the images whose paths a command printed."""
    found = []
    for line in stdout.split():
        with Image.open(line) as image:
            found.append(image.width)
    return found


def test_run_in_the_sandbox_by_url_and_by_upload(
    threaded_samples_url: str, samples_dir: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    for source in (f"{threaded_samples_url}/photo.png", str(samples_dir / "photo.jpg")):
        args = ["run", "claid", "edit", "-i", source, *VENDOR_PARAMS, "-o", str(tmp_path)]
        result = runner.invoke(cli, [*args, "--sandbox"])
        assert result.exit_code == 0, result.output
        assert widths(result.stdout) == [1000]


@pytest.mark.subprocess
def test_the_vendors_sample_request_against_the_standalone_emulator(
    standalone: Standalone, threaded_samples_url: str
) -> None:
    sample = {"input": f"{threaded_samples_url}/photo.png", **VENDOR_DOCUMENT}
    answer = urllib3.request(
        "POST",
        f"{standalone.base_url}/v1-beta1/image/edit/async",
        json=sample,
        headers={"Authorization": f"Bearer {standalone.key}"},
        timeout=10,
    )
    assert answer.status == 200
    body = answer.json()
    assert list(body) == ["data"]
    data = body["data"]
    assert list(data) == ["id", "status", "result_url", "created_at", "request"]
    assert (data["id"], data["status"], data["request"]) == (1, "ACCEPTED", sample)
    assert data["result_url"] == f"{standalone.base_url}/v1-beta1/image/edit/async/1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", data["created_at"])
    assert answer.headers["RateLimit-Limit"] == "120, 120;w=60, 4;w=1"
    assert "x-request-id" in answer.headers


@pytest.mark.subprocess
def test_run_against_the_standalone_emulator_with_a_params_file(
    standalone: Standalone, threaded_samples_url: str, tmp_path: Path
) -> None:
    params = tmp_path / "edit.json"
    params.write_text(json.dumps(VENDOR_DOCUMENT))
    args = ["run", "claid", "edit", "-o", str(tmp_path), "--params-file", str(params)]
    by_url = mediatask_command(*args, "-i", f"{threaded_samples_url}/photo.png", env=standalone.env)
    assert by_url.returncode == 0, by_url.stderr
    assert by_url.stderr.startswith("submitted claid:1\n")
    assert widths(by_url.stdout) == [1000]
    overridden = [*args, "-p", "output.format=png", "-i", f"{threaded_samples_url}/photo.jpg"]
    as_png = mediatask_command(*overridden, env=standalone.env)
    assert as_png.returncode == 0, as_png.stderr
    (path,) = as_png.stdout.split()
    assert path.endswith(".png")
    counts = standalone.stats()
    assert counts["submissions"] == 2
    assert counts.get("uploads", 0) == counts.get("rate_limited", 0) == 0


@pytest.mark.subprocess
def test_an_invalid_document_is_refused_before_the_network(standalone: Standalone) -> None:
    ran = mediatask_command(
        "run",
        "claid",
        "edit",
        "-i",
        "https://example.com/shoe.png",
        "-p",
        "operations.resizing.fit=squash",
        env=standalone.env,
    )
    assert ran.returncode == 1
    assert ran.stderr.strip() == (
        "Error: claid edit: operations.resizing.fit: must be one of crop, bounds, cover, canvas, "
        "outpaint"
    )
    assert standalone.stats().get("requests", 0) == 0


@pytest.mark.subprocess
def test_mediatask_emulate_takes_the_accounts_rate() -> None:
    """``mediatask emulate claid --rate 1/s,30/min``: the answers list those windows, and a
    second processing request within the second is refused."""
    with standalone_emulator("claid", "k", 0.1, options=("--rate", "1/s,30/min")) as running:
        headers = {"Authorization": "Bearer k"}
        answers = [
            urllib3.request("POST", f"{running.base_url}/v1/image/edit", body=b"{", headers=headers)
            for _ in range(2)
        ]
    assert answers[0].headers["RateLimit-Limit"] == "1, 30;w=60, 1;w=1"  # the second's is out
    assert [answer.status for answer in answers] == [400, 429]
    wrong = mediatask_command("emulate", "claid", "--rate", "fast", env={})
    assert wrong.returncode != 0
    assert "--rate: 'fast' is not a rate" in wrong.stderr

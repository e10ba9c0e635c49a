"""Local files for URL-only providers through the user's own S3-compatible bucket.

The store is a real S3-compatible HTTP server (moto's, started in a thread on loopback by the
fixture), never a mock of the client: mediatask uploads with boto3, A1D's standalone emulator
fetches the presigned URL over loopback as the real API would, and the object is gone after.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import mediatask
from mediatask.engine.file_host import FILE_HOST_ENV, S3Location, open_file_host, s3_client
from mediatask.model.errors import ConfigError
from mediatask.testing import Standalone, mediatask_command

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"
BUCKET = "media-inputs"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server in a thread on a free loopback port; its base URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The standard AWS variables pointing at the test's store (never the developer's files),
    set here and returned for the commands' subprocesses; a fresh bucket per test."""
    env = {
        "AWS_ACCESS_KEY_ID": "test-access-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret-" + secrets.token_hex(4),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance metadata lookups off the loopback
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", FILE_HOST_ENV):
        monkeypatch.delenv(name, raising=False)
    client = s3_client()
    if not any(bucket["Name"] == BUCKET for bucket in client.list_buckets()["Buckets"]):
        client.create_bucket(Bucket=BUCKET)
    for key in _objects():  # the server lives for the module; each test starts empty
        client.delete_object(Bucket=BUCKET, Key=key)
    return env


def _objects() -> list[str]:
    listing: dict[str, Any] = s3_client().list_objects_v2(Bucket=BUCKET)
    return [item["Key"] for item in listing.get("Contents", [])]


@pytest.fixture
def a1d(start_a1d: Callable[[str, float], Standalone]) -> Standalone:
    return start_a1d("sk-file-host-" + secrets.token_hex(4), 0.2)


@pytest.mark.subprocess
def test_a_local_file_reaches_a1d_through_the_bucket_and_is_gone_after(
    s3_env: dict[str, str], a1d: Standalone, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    shutil.copy(SAMPLE, photo)
    done = mediatask_command(
        "run", "a1d", "image-upscaler", "--input", str(photo), "-p", "scale=2",
        "-o", str(tmp_path / "out"), "--file-host", f"s3://{BUCKET}/jobs", "--json",
        env={**s3_env, **a1d.env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    image = next(Path(name) for name in result["files"] if "image" in Path(name).name)
    with Image.open(SAMPLE) as source, Image.open(image) as upscaled:
        assert upscaled.size == (source.width * 2, source.height * 2)  # it read our bytes
    assert a1d.submits()
    assert all(key.startswith("url:http://127.0.0.1") for key in a1d.submits())
    assert _objects() == []


@pytest.mark.subprocess
def test_the_environment_configures_it_once_and_a_batch_cleans_up_every_object(
    s3_env: dict[str, str], a1d: Standalone, tmp_path: Path
) -> None:
    manifest = tmp_path / "jobs.jsonl"
    lines = []
    for n in range(3):
        shutil.copy(SAMPLE, tmp_path / f"photo{n}.png")
        job = {"id": f"p{n}", "provider": "a1d", "operation": "remove-bg"}
        lines.append(json.dumps({**job, "input": str(tmp_path / f"photo{n}.png")}))
    manifest.write_text("\n".join(lines) + "\n")
    env = {**s3_env, **a1d.env, FILE_HOST_ENV: f"s3://{BUCKET}/batch"}
    done = mediatask_command("batch", str(manifest), "-o", str(tmp_path / "out"), env=env)
    assert done.returncode == 0, done.stderr
    assert len(a1d.submits()) == 3
    assert _objects() == []


@pytest.mark.subprocess
def test_submit_leaves_the_object_for_the_provider_to_fetch_later(
    s3_env: dict[str, str], a1d: Standalone, tmp_path: Path
) -> None:
    done = mediatask_command(
        "submit", "a1d", "remove-bg", "--input", str(SAMPLE),
        "--file-host", f"s3://{BUCKET}/later", env={**s3_env, **a1d.env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [key] = _objects()
    assert key.startswith("later/")
    assert key.endswith("/lighthouse.png")


@pytest.mark.parametrize(
    ("change", "spec", "said"),
    [
        ({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, f"s3://{BUCKET}/x",
         r"no S3 credentials found: set AWS_ACCESS_KEY_ID"),
        ({}, "s3://no-such-bucket-here/x",
         r"s3://no-such-bucket-here/x: the bucket does not exist"),
        ({}, "gs://media/x", r"is not an S3 location: write s3://BUCKET/PREFIX"),
        ({}, "https://files.example.com/x", r"an http file host must be the sandbox's"),
    ],
)  # fmt: skip
@pytest.mark.subprocess
def test_a_file_host_that_cannot_work_is_one_line_before_any_submit(
    s3_env: dict[str, str], a1d: Standalone, change: dict[str, str], spec: str, said: str
) -> None:
    env = {**s3_env, **a1d.env, **change}
    done = mediatask_command(
        "run", "a1d", "remove-bg", "--input", str(SAMPLE), "--file-host", spec, env=env
    )
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert re.search(said, line), line
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in done.stderr
    assert a1d.submits() == {}


@pytest.mark.subprocess
def test_without_a_file_host_the_refusal_names_it(a1d: Standalone) -> None:
    done = mediatask_command("run", "a1d", "remove-bg", "--input", str(SAMPLE), env=a1d.env)
    assert done.returncode != 0
    assert "--file-host s3://BUCKET/PREFIX" in done.stderr
    assert a1d.submits() == {}


async def test_the_library_publishes_presigned_urls_and_deletes_on_close(
    s3_env: dict[str, str],
) -> None:
    async with open_file_host(f"s3://{BUCKET}/lib") as host:
        url = host.publish(SAMPLE)
        assert "X-Amz-Signature=" in url
        assert "X-Amz-Expires=3600" in url
        [key] = _objects()
        assert key.startswith("lib/")
        assert key.endswith("/lighthouse.png")
    assert _objects() == []


def test_a_location_is_parsed_with_or_without_a_prefix() -> None:
    assert S3Location.parse("s3://b/a/b/") == S3Location("b", "a/b")
    assert S3Location.parse("s3://b").key("t", "x.png") == "t/x.png"
    with pytest.raises(ConfigError, match="s3://BUCKET/PREFIX"):
        S3Location.parse("s3:///prefix")


@pytest.mark.subprocess
def test_a_dry_run_names_the_bucket_and_uploads_nothing(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**s3_env, "MEDIATASK_A1D_KEY": "sk-dry"}
    done = mediatask_command(
        "run", "a1d", "remove-bg", "--input", str(SAMPLE), "--dry-run",
        "--file-host", f"s3://{BUCKET}/dry", env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"<URL of lighthouse.png on s3://{BUCKET}/dry>" in done.stdout
    assert _objects() == []


@pytest.mark.subprocess
def test_the_library_takes_a_file_host_too(
    s3_env: dict[str, str], a1d: Standalone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in a1d.env.items():
        monkeypatch.setenv(name, value)
    job = mediatask.Job("a1d", "remove-bg", [str(SAMPLE)])
    result = mediatask.run(job, out_dir=tmp_path, file_host=f"s3://{BUCKET}/py")
    assert result.files
    assert _objects() == []


@pytest.mark.subprocess
async def test_each_object_goes_when_its_task_ends_and_a_live_tasks_stays(
    s3_env: dict[str, str], a1d: Standalone, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in a1d.env.items():
        monkeypatch.setenv(name, value)
    job = mediatask.Job("a1d", "remove-bg", [str(SAMPLE)])
    async with mediatask.open_client(file_host=f"s3://{BUCKET}/jobs") as client:
        await client.run(job)
        assert _objects() == []  # gone with its task, before the client closes
        await client.submit(job)
        [alive] = _objects()
    assert _objects() == [alive]  # its task may not have fetched it yet


@pytest.mark.subprocess
def test_a_command_whose_jobs_need_no_file_host_never_checks_it(
    s3_env: dict[str, str], standalone_echo: Standalone, tmp_path: Path
) -> None:
    env = {**standalone_echo.env, FILE_HOST_ENV: "s3://no-such-bucket-here/x"}
    done = mediatask_command("run", "echo", "draw", "-p", "prompt=x", "-o", str(tmp_path), env=env)
    assert done.returncode == 0, done.stderr
    refused = mediatask_command(
        "run", "a1d", "remove-bg", "--input", str(SAMPLE), env={**env, "MEDIATASK_A1D_KEY": "k"}
    )
    assert "s3://no-such-bucket-here/x: the bucket does not exist" in refused.stderr

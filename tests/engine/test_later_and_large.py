"""Results after payment: a Claid upload handle used later, a failed download, a large input."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from mediatask import Result, UsageError
from mediatask.cli import cli
from mediatask.engine.client import Client
from mediatask.providers.sandbox import FILE_CHUNK, FileHost
from mediatask.testing import Standalone, mediatask_command, standalone_emulator

SAMPLES = Path(__file__).parents[2] / "samples"


@pytest.mark.subprocess
def test_a_claid_upload_handle_works_in_later_processes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with standalone_emulator("claid", "sk-upload-later", 0.1) as claid:
        env = {**claid.env, "MEDIATASK_HOME": str(home)}
        submitted = mediatask_command(
            "submit",
            "claid",
            "edit",
            "--input",
            str(SAMPLES / "lighthouse.png"),
            "-p",
            "operations.resizing.width=40",
            env=env,
        )
        assert submitted.returncode == 0, submitted.stderr
        handle = submitted.stdout.strip()
        assert handle.startswith("claid:upload-")

        status = mediatask_command("status", handle, env=env)
        assert status.returncode == 0, status.stderr
        assert f"{handle}  DONE" in status.stdout
        waited = mediatask_command("wait", handle, env=env)
        assert waited.returncode == 0, waited.stderr
        assert "image: http" in waited.stdout
        watched = mediatask_command("watch", handle, env=env)
        assert watched.returncode == 0, watched.stderr
        downloaded = mediatask_command("download", handle, "-o", str(tmp_path / "out"), env=env)
        assert downloaded.returncode == 0, downloaded.stderr
        stats = claid.stats()
    with Image.open(downloaded.stdout.strip()) as image:
        assert image.width == 40
    assert stats["uploads"] == 1  # paid once: the later commands read the journal
    assert stats.get("polls", 0) == 0


def _big_png(folder: Path) -> Path:
    big = folder / "big.png"
    with big.open("wb") as file:  # a PNG signature, then 70 MiB the emulator never decodes
        file.write(b"\x89PNG\r\n\x1a\n")
        for _ in range(70):
            file.write(os.urandom(2**20))
    return big


def _run_big(tmp_path: Path, seconds: str) -> subprocess.Popen[str]:
    command = ["run", "echo", "mirror", "-i", str(_big_png(tmp_path)), "--sandbox"]
    env = {**os.environ, "MEDIATASK_HOME": str(tmp_path / "home")}
    return subprocess.Popen(
        [sys.executable, "-m", "mediatask", *command, "-o", str(tmp_path / "out")],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**env, "MEDIATASK_SANDBOX_SECONDS": seconds},
    )


@pytest.mark.subprocess
def test_a_70_mib_input_on_the_sandbox_ends_with_its_reason_and_no_hang(tmp_path: Path) -> None:
    # Before the file host streamed, this command hung for good (deaf to Ctrl-C and SIGTERM);
    # the timeout only stops a regression from hanging the suite.
    with _run_big(tmp_path, "0") as run:
        code = run.wait(timeout=120)
        assert run.stderr is not None
        stderr = run.stderr.read()
    assert code == 1, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert "failed: input URL http://127.0.0.1:" in last
    assert "big.png is larger than" in last


@pytest.mark.subprocess
def test_ctrl_c_ends_a_sandbox_run_with_a_70_mib_input(tmp_path: Path) -> None:
    with _run_big(tmp_path, "30") as run:
        assert run.stderr is not None
        assert run.stderr.readline().startswith("submitted echo:")
        run.stderr.readline()  # the first status: the emulator is fetching the input
        run.send_signal(signal.SIGINT)
        code = run.wait(timeout=30)
        rest = run.stderr.read()
    assert code == 130, rest
    assert "interrupted: task echo:" in rest
    assert "Traceback" not in rest


@pytest.mark.subprocess
def test_a_download_that_fails_after_payment_loses_neither_handle_nor_result(
    standalone_echo: Standalone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in standalone_echo.env.items():
        monkeypatch.setenv(name, value)
    real_download = Client.download

    async def disk_full(self: Client, result: Result, out_dir: Path, **kw: Any) -> Result:
        raise UsageError(f"cannot write {out_dir}: No space left on device")

    monkeypatch.setattr(Client, "download", disk_full)
    runner = CliRunner()
    ran = runner.invoke(
        cli, ["run", "echo", "draw", "-p", "prompt=a lamp", "-o", str(tmp_path / "a")]
    )
    assert ran.exit_code == 1
    assert "No space left on device" in ran.output
    handle = re.search(r"note: (echo:\S+) succeeded; fetch its outputs again with", ran.output)
    assert handle is not None, ran.output
    polls = standalone_echo.stats().get("polls", 0) + standalone_echo.stats().get("streams", 0)

    monkeypatch.setattr(Client, "download", real_download)
    again = runner.invoke(cli, ["download", handle[1], "-o", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    assert Path(again.stdout.split()[0]).is_file()
    stats = standalone_echo.stats()
    assert stats["submissions"] == 1  # paid once
    assert stats.get("polls", 0) + stats.get("streams", 0) == polls  # the journal had it


async def _get(host: FileHost, url: str, method: str = "GET") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    path = url.removeprefix(host.base_url)
    await host({"type": "http", "method": method, "path": path}, receive, send)
    return sent


async def test_the_file_host_streams_a_published_file_in_chunks(tmp_path: Path) -> None:
    data = os.urandom(FILE_CHUNK * 2 + 1000)
    (tmp_path / "clip.mp4").write_bytes(data)
    host = FileHost(base_url="http://127.0.0.1:1")
    url = host.publish(tmp_path / "clip.mp4")
    start, *bodies = await _get(host, url)
    assert start["status"] == 200
    assert (b"content-length", str(len(data)).encode()) in start["headers"]
    assert (b"content-type", b"video/mp4") in start["headers"]
    assert len(bodies) == 3  # read and sent a chunk at a time, never whole
    assert [body["more_body"] for body in bodies] == [True, True, False]
    assert b"".join(body["body"] for body in bodies) == data
    head = await _get(host, url, "HEAD")
    assert head[1]["body"] == b""


async def test_the_file_host_serves_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"x")
    host = FileHost(base_url="http://127.0.0.1:1")
    url = host.publish(tmp_path / "a.png")
    (tmp_path / "a.png").unlink()
    (tmp_path / "a.png").mkdir()  # replaced by a folder after publishing
    for path in (url, f"{host.base_url}/files/unknown/a.png", f"{host.base_url}/etc/passwd"):
        assert (await _get(host, path))[0]["status"] == 404

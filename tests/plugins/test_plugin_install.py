"""A provider plugin installed from its own directory is found and used with no core change."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediatask.testing import serving_in_thread

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "mediatask-{name}"
version = "1.2.3"
dependencies = []

[project.entry-points.mediatask]
{name} = "mediatask_{name}"

[tool.setuptools]
py-modules = ["mediatask_{name}"]
"""

PARROT = '''
"""A provider whose API answers every job as already finished."""
from mediatask import (Operation, Output, Param, ProviderInfo, Request, Status, Submitted,
                       Update, hookimpl)

INFO = ProviderInfo(name="parrot", title="Parrot", base_url="https://parrot.invalid",
                    auth_scheme="Token",
                    operations=[Operation("say", "Say", (), (Param("text", required=True),))])

@hookimpl
def mediatask_providers():
    return [INFO]

@hookimpl
def mediatask_submit(job):
    return Request("POST", "/say", json={"text": job.params["text"]})

@hookimpl
def mediatask_read_submission(response):
    data = response.json_object()
    return Submitted(data["id"], update=mediatask_parse_result(data))

@hookimpl
def mediatask_poll(task):
    return Request("GET", "/say/" + task.task_id)

@hookimpl
def mediatask_parse_result(payload):
    return Update(Status.SUCCEEDED, "ok", outputs=[Output(payload["url"], role="text")])
'''


def install(source: Path, target: Path, name: str, module: str) -> None:
    source.mkdir()
    (source / "pyproject.toml").write_text(PYPROJECT.format(name=name))
    (source / f"mediatask_{name}.py").write_text(textwrap.dedent(module))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )


class _ParrotApi(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the stdlib's name
        assert self.headers["Authorization"] == "Token parrot-key"
        text = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"]
        self.server.said = text  # type: ignore[attr-defined]
        host = f"http://{self.headers['Host']}"
        self._send("application/json", json.dumps({"id": "1", "url": f"{host}/said.txt"}))

    def do_GET(self) -> None:
        self._send("text/plain", self.server.said)  # type: ignore[attr-defined]

    def _send(self, mime: str, text: str) -> None:
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", mime)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # stdlib's name
        pass


@pytest.fixture
def parrot_api() -> Iterator[str]:
    with serving_in_thread(_ParrotApi) as url:
        yield url


def mediatask(*args: str, path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(path), **env}
    environ.pop("MEDIATASK_PLUGINS", None)
    return subprocess.run(
        [sys.executable, "-m", "mediatask", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


@pytest.mark.subprocess
def test_installed_plugin_is_discovered_and_used(tmp_path: Path, parrot_api: str) -> None:
    site = tmp_path / "site"
    install(tmp_path / "parrot", site, "parrot", PARROT)

    listed = mediatask("providers", path=site, env={})
    assert listed.returncode == 0, listed.stderr
    assert "parrot  Parrot" in listed.stdout

    env = {"MEDIATASK_PARROT_BASE_URL": parrot_api, "MEDIATASK_PARROT_KEY": "parrot-key"}
    out = tmp_path / "out"
    ran = mediatask("run", "parrot", "say", "-p", "text=hello", "-o", str(out), path=site, env=env)
    assert ran.returncode == 0, ran.stderr
    assert (out / "1-text.txt").read_text() == "hello"


@pytest.mark.subprocess
def test_a_plugin_that_raises_on_import_leaves_the_cli_working(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install(tmp_path / "broken", site, "broken", "raise RuntimeError('boom at import')\n")

    listed = mediatask("providers", path=site, env={})
    assert listed.returncode == 0, listed.stderr
    assert "echo  Echo (reference plugin)" in listed.stdout
    assert listed.stderr.strip() == (
        "warning: mediatask plugin 'broken' (mediatask-broken) failed to load and is skipped: "
        "RuntimeError: boom at import"
    )

    plugins = mediatask("plugins", "--json", path=site, env={})
    assert plugins.returncode == 0, plugins.stderr
    failures = json.loads(plugins.stdout)["failures"]
    assert {
        "name": "broken",
        "distribution": "mediatask-broken",
        "reason": "RuntimeError: boom at import",
    } in failures

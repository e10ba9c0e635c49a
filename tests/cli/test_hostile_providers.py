"""Hostile providers, through the CLI: task ids that are paths never write outside ``-o``; keys a
server echoes back never appear in anything mediatask prints, logs or stores.

Each server speaks just enough of one provider's API (A1D, Claid, A2E) for ``mediatask run``:
the submit, one poll, the result file.
"""

from __future__ import annotations

import functools
import http.server
import json
import secrets
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import attrs
import pytest
from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.testing import mediatask_command, serving_in_thread

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

RUN_ARGS = {
    "a1d": ["a1d", "image-generator", "-p", "prompt=x"],
    "claid": ["claid", "edit", "--input", "https://example.com/in.png"],
    "a2e": ["a2e", "text-to-image", "-p", "prompt=x"],
}


@attrs.frozen
class Script:
    """What a hostile server answers: the task id, and where it echoes the key it was sent."""

    provider: str
    task_id: str = "t1"
    echo: str | None = None
    """``None`` (a clean success), ``401``, ``500``, ``failure`` (the task fails saying it),
    ``header`` (a success whose headers carry it)."""
    said: str | None = None
    """What the server says instead of echoing the key."""


def _echo_of(authorization: str) -> str:
    """What a careless server says back: the header and the key, bare and URL-encoded."""
    key = authorization.partition(" ")[2]
    return f"invalid key: {authorization} ({quote(key, safe='')}; {quote_plus(key)}; {key})"


class Hostile(http.server.BaseHTTPRequestHandler):
    """One provider's API, as a :class:`Script` says."""

    def __init__(self, *args: Any, script: Script, **kwargs: Any) -> None:
        self.script = script
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: object) -> None:  # stdlib's name
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        kind = "image/png" if isinstance(body, bytes) else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # stdlib's name
        if self.path.startswith("/files/"):
            self._send(200, PNG)
        else:
            self._answer(submit=False)

    def do_POST(self) -> None:  # stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(submit=True)

    def _answer(self, *, submit: bool) -> None:
        script = self.script
        said = script.said or _echo_of(self.headers.get("Authorization", ""))
        if script.echo == "401":
            self._send(401, {"error": said, "message": said, "msg": said, "code": 401})
            return
        if script.echo == "500" and submit:
            self._send(500, {"error": said, "error_message": said, "msg": said})
            return
        headers = {"WWW-Authenticate": said, "X-Echo": said} if script.echo == "header" else {}
        failed = script.echo == "failure"
        link = f"http://{self.headers['Host']}/files/result.png"
        answer = getattr(self, "_" + script.provider)(submit, failed, said, link)
        self._send(200, answer, headers)

    def _a1d(self, submit: bool, failed: bool, said: str, link: str) -> Any:
        if failed:
            return {"taskId": self.script.task_id, "status": "FAILED", "error": said}
        return {"taskId": self.script.task_id, "status": "FINISHED", "imageUrl": link}

    def _claid(self, submit: bool, failed: bool, said: str, link: str) -> Any:
        task = {"id": self.script.task_id, "status": "ACCEPTED"}
        if submit:
            return {"data": {**task, "result_url": f"/v1/image/edit/async/{self.script.task_id}"}}
        if failed:
            return {"data": {**task, "status": "ERROR", "errors": [{"error": said}]}}
        output = {"tmp_url": link, "mime": "image/png"}
        return {"data": {**task, "status": "DONE", "result": {"output_object": output}}}

    def _a2e(self, submit: bool, failed: bool, said: str, link: str) -> Any:
        record = {"_id": self.script.task_id, "current_status": "initialized"}
        if submit:
            return {"code": 0, "data": record}
        if failed:
            return {
                "code": 0,
                "data": {**record, "current_status": "failed", "failed_message": said},
            }
        return {"code": 0, "data": {**record, "current_status": "completed", "image_urls": [link]}}


@pytest.fixture
def hostile() -> Iterator[Callable[[Script], dict[str, str]]]:
    """Start hostile servers: each call serves a script and returns the env that points at it."""
    import contextlib

    with contextlib.ExitStack() as running:

        def start(script: Script) -> dict[str, str]:
            url = running.enter_context(
                serving_in_thread(functools.partial(Hostile, script=script))
            )
            name = script.provider.upper()
            return {f"MEDIATASK_{name}_BASE_URL": url}

        yield start


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


HOSTILE_IDS = [
    "../../esc-trav",
    "../../../../../../../../tmp/esc-abs",
    "..",
    "sub/dir/x",
    "-rf",
    ".hidden",
    "CON",
    "nul\x00byte",
    "line\nbreak\x1b[31m",
    "x" * 300,
    "任务/../../é" * 20,
]


@pytest.mark.parametrize("provider", ["a1d", "a2e"])
def test_hostile_task_ids_never_write_outside_the_output_folder(
    provider: str, hostile: Callable[[Script], dict[str, str]], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    out = work / "deep" / "out"
    absolute = str(tmp_path / "abs-esc")  # an absolute id that would land in tmp_path
    written: set[str] = set()
    for task_id in [*HOSTILE_IDS, absolute]:
        env = {**hostile(Script(provider, task_id)), f"MEDIATASK_{provider.upper()}_KEY": "k"}
        result = CliRunner().invoke(cli, ["run", *RUN_ARGS[provider], "-o", str(out)], env=env)
        assert result.exit_code == 0, (task_id, result.output)
        paths = [Path(line) for line in result.stdout.splitlines()]
        assert len(paths) == 1, (task_id, result.stdout)
        assert paths[0].parent == out, (task_id, paths)
        assert paths[0].read_bytes() == PNG
        written.add(paths[0].name)
    assert _files(tmp_path) == {out / name for name in written}  # nothing anywhere else
    assert len(written) == len(HOSTILE_IDS) + 1  # distinct ids, distinct files


def test_a_hostile_claid_task_id_and_result_name_stay_inside(
    hostile: Callable[[Script], dict[str, str]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = {**hostile(Script("claid", "9" * 300)), "MEDIATASK_CLAID_KEY": "k"}
    named = ["--name", "{task}"]  # the outputs are named after the input, unless told otherwise
    result = CliRunner().invoke(cli, ["run", *RUN_ARGS["claid"], *named, "-o", str(out)], env=env)
    assert result.exit_code == 0, result.output
    (path,) = [Path(line) for line in result.stdout.splitlines()]
    assert path.parent == out
    assert len(path.name) < 120
    assert path.name.startswith("9" * 40)
    assert _files(tmp_path) == {path}
    refused = CliRunner().invoke(
        cli,
        ["run", *RUN_ARGS["claid"], "-o", str(out)],
        env={**env, **hostile(Script("claid", "../x"))},
    )
    assert refused.exit_code == 1
    assert "not an integer" in refused.output


@pytest.mark.subprocess
@pytest.mark.slow
def test_keys_echoed_by_any_provider_are_never_printed_logged_or_stored(
    hostile: Callable[[Script], dict[str, str]],
    mediatask_home: Path,
    tmp_path: Path,
) -> None:
    sentinel = f"sk-ECHO/{secrets.token_hex(8)}+Z="
    forms = {sentinel, quote(sentinel, safe=""), quote_plus(sentinel)}
    out = tmp_path / "out"
    runs: list[subprocess.CompletedProcess[str]] = []

    def run(*args: str, env: dict[str, str], ok: bool, stdin: str | None = None) -> str:
        done = mediatask_command(*args, env=env, stdin=stdin)
        runs.append(done)
        assert (done.returncode == 0) is ok, (args, done.stdout, done.stderr)
        return done.stderr

    run("keys", "set", "claid", env={}, ok=True, stdin=sentinel + "\n")
    for provider, args in RUN_ARGS.items():
        key_env = {} if provider == "claid" else {f"MEDIATASK_{provider.upper()}_KEY": sentinel}
        for echo in ("401", "500", "failure", "header"):
            env = {
                **hostile(Script(provider, "t1" if provider != "claid" else "7", echo)),
                **key_env,
            }
            said = run("-vv", "run", *args, "-o", str(out / provider), env=env, ok=echo == "header")
            assert "mediatask" in said  # -vv logged
            if echo != "header":  # the error names what the server said, key scrubbed
                (error,) = [line for line in said.splitlines() if line.startswith("Error:")]
                assert "invalid key" in error, (provider, echo, said)
                assert "<redacted>" in error, (provider, echo, said)
        env = {**hostile(Script(provider, "9", "failure")), **key_env}
        manifest = tmp_path / f"{provider}.jsonl"
        job = {"provider": provider, "operation": args[1], "params": {"prompt": "x"}}
        if provider == "claid":
            job = {"provider": "claid", "operation": "edit", "inputs": [args[3]]}
        manifest.write_text(json.dumps(job) + "\n")
        run("-vv", "batch", str(manifest), "-o", str(out / f"batch-{provider}"), env=env, ok=False)
        # --key, not in the environment or the store, is scrubbed as well
        env = {**hostile(Script(provider, "8", "failure"))}
        said = run("run", *args, "--key", sentinel, env=env, ok=False)
        assert "invalid key: " in said
        assert "<redacted>" in said

    # credentials in the base URL: a key, or a password of any other kind
    password = "pw-" + secrets.token_hex(8)
    forms.add(password)
    for userinfo in (f"user:{quote(sentinel, safe='')}", f"user:{password}"):
        env = {**hostile(Script("a1d", "6", "401")), "MEDIATASK_A1D_KEY": sentinel}
        env["MEDIATASK_A1D_BASE_URL"] = env["MEDIATASK_A1D_BASE_URL"].replace(
            "http://", f"http://{userinfo}@"
        )
        run("-vv", "run", *RUN_ARGS["a1d"], env=env, ok=False)
        run("-vv", "status", "a1d:task_x", env=env, ok=False)

    for done in runs:
        for form in forms:
            assert form not in done.stdout, (done.args, form)
            assert form not in done.stderr, (done.args, form)
    stored = [p for p in (*_files(mediatask_home), *_files(tmp_path)) if p.name != "keys.json"]
    assert any(p.name == "journal.sqlite" for p in stored)
    assert any(p.name == "results.jsonl" for p in stored)
    for path in stored:
        data = path.read_bytes()
        for form in forms:
            assert form.encode() not in data, (path, form)
    with sqlite3.connect(mediatask_home / "journal.sqlite") as db:
        errors = [row[0] for row in db.execute("SELECT error FROM jobs WHERE error IS NOT NULL")]
    assert errors
    assert all("<redacted>" in error for error in errors), errors


@pytest.mark.parametrize("provider", list(RUN_ARGS))
@pytest.mark.parametrize("echo", ["401", "500", "failure"])
def test_an_echoed_key_is_scrubbed_from_the_error_and_the_journal(
    provider: str,
    echo: str,
    hostile: Callable[[Script], dict[str, str]],
    mediatask_home: Path,
    tmp_path: Path,
) -> None:
    sentinel = f"sk-ECHO/{secrets.token_hex(8)}+Z="
    env = {**hostile(Script(provider, "7", echo)), f"MEDIATASK_{provider.upper()}_KEY": sentinel}
    result = CliRunner().invoke(cli, ["run", *RUN_ARGS[provider], "-o", str(tmp_path)], env=env)
    assert result.exit_code == 1, result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "invalid key: " in error
    assert error.count("<redacted>") == 4, error  # after the scheme; encoded twice; bare
    journal = (mediatask_home / "journal.sqlite").read_bytes()
    for form in (sentinel, quote(sentinel, safe=""), quote_plus(sentinel)):
        assert form not in result.output
        assert form.encode() not in journal


@pytest.mark.parametrize("provider", list(RUN_ARGS))
def test_a_failure_reason_with_control_characters_is_printed_as_one_line(
    provider: str, hostile: Callable[[Script], dict[str, str]], tmp_path: Path
) -> None:
    said = "bad input\x1b[2J\x1b[31m\r\nError: nothing failed\x07\x00"
    env = {
        **hostile(Script(provider, "7", "failure", said)),
        f"MEDIATASK_{provider.upper()}_KEY": "k",
    }
    result = CliRunner().invoke(cli, ["run", *RUN_ARGS[provider], "-o", str(tmp_path)], env=env)
    assert result.exit_code == 1, result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "bad input" in error
    assert "nothing failed" in error
    assert not any(ord(c) < 32 for c in error), repr(error)

"""A key never leaves the key store: not in output, logs, journals, results or error messages."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_a_sentinel_key_appears_only_in_the_key_store(
    start_a1d: Callable[[str, float], Any],
    mediatask_home: Path,
    tmp_path: Path,
    mediatask_cmd: Callable[..., Any],
) -> None:
    sentinel = "sk-SENTINEL-" + secrets.token_hex(8)
    emulator = start_a1d(sentinel, 0.2)
    env = {"MEDIATASK_A1D_BASE_URL": emulator.base_url}  # no MEDIATASK_A1D_KEY: the store
    out = tmp_path / "out"
    (tmp_path / "jobs.jsonl").write_text(
        json.dumps({"provider": "a1d", "operation": "image-generator", "params": {"prompt": "a"}})
        + "\n"
    )
    runs = []

    def run(*args: str, stdin: str | None = None, ok: bool = True) -> Any:
        done = mediatask_cmd(*args, env=env, stdin=stdin)
        runs.append(done)
        assert (done.returncode == 0) is ok, (args, done.stderr)
        return done

    run("keys", "set", "a1d", stdin=sentinel + "\n")
    ran = run("-vv", "run", "a1d", "image-generator", "-p", "prompt=x", "-o", str(out), "--json")
    handle = json.loads(ran.stdout)["handle"]
    for command in ("status", "wait", "watch"):
        run("-vv", command, handle)
    run("-vv", "download", handle, "-o", str(out))
    submitted = run("-vv", "submit", "a1d", "image-generator", "-p", "prompt=y")
    run("-vv", "wait", submitted.stdout.strip())
    run("-vv", "batch", str(tmp_path / "jobs.jsonl"), "-o", str(out / "batch"))
    run("-vv", "status", "a1d:task_does_not_exist", ok=False)
    run("jobs", "list", "--json")
    run("jobs", "show", handle, "--json")
    run("keys", "list", "--json")
    run("providers", "--json")
    # A wrong key in the environment (it wins over the store) is named, never printed:
    env["MEDIATASK_A1D_KEY"] = sentinel + "-wrong"
    refused = run("-vv", "run", "a1d", "image-generator", "-p", "prompt=z", ok=False)
    assert "a1d rejected the key" in refused.stderr

    assert emulator.stats()["submissions"] == 3  # run, submit, batch: the store's key worked
    for done in runs:
        assert sentinel not in done.stdout, done.args
        assert sentinel not in done.stderr, done.args
    assert any("mediatask.http" in done.stderr for done in runs)  # -v really logged requests
    written = [p for p in (*mediatask_home.rglob("*"), *tmp_path.rglob("*")) if p.is_file()]
    holding = [p for p in written if sentinel.encode() in p.read_bytes()]
    assert holding == [mediatask_home / "keys.json"]
    assert (mediatask_home / "journal.sqlite").is_file()
    assert (out / "batch" / ".mediatask" / "journal.sqlite").is_file()
    assert (out / "batch" / "results.jsonl").is_file()

"""A key never leaves the key store: not in output, logs, journals, results or error messages."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from mediatask import KeyStore, ProviderSettings, Settings
from mediatask.errors import AuthError
from mediatask.http import Response
from mediatask.redact import REDACTED, RedactingFilter, Redactor


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


# -- the scrubber itself ---------------------------------------------------------------------


def test_a_key_is_scrubbed_in_every_form_a_provider_echoes() -> None:
    key = "sk-live/abc+123=="
    scrub = Redactor([key]).scrub
    for echoed in (
        f"invalid key: Bearer {key}",
        f"invalid key: KEY {key}",
        f"Key {key} is not valid",
        f'{{"error": "bad key {key.replace("/", chr(92) + "/")}"}}',
        f"https://api.example/x?auth={quote(key, safe='')}&y=1",
        f"Bearer%20{quote(key, safe='')}",
        f"form: key={quote_plus(key)}",
    ):
        scrubbed = scrub(echoed)
        assert key not in scrubbed, echoed
        assert quote(key, safe="") not in scrubbed, echoed
        assert quote_plus(key) not in scrubbed, echoed
        assert REDACTED in scrubbed, echoed


def test_a_short_key_is_scrubbed_only_as_a_whole_token() -> None:
    scrub = Redactor(["a"]).scrub
    assert scrub("Task failed: a is not a valid key") == (
        "Task failed: <redacted> is not <redacted> valid key"
    )
    assert scrub("Bearer a") == "Bearer <redacted>"
    assert scrub("Tasks and data are kept") == "Tasks and data are kept"
    assert Redactor(["k1"]).scrub("k1k1 xk1 k1x k1") == "k1k1 xk1 k1x <redacted>"


def test_credentials_in_urls_are_scrubbed_whatever_the_key() -> None:
    scrub = Redactor().scrub
    assert scrub("GET http://user:hunter2@127.0.0.1:8080/api failed") == (
        "GET http://<redacted>@127.0.0.1:8080/api failed"
    )
    assert scrub("https://token@host/x") == "https://<redacted>@host/x"
    assert scrub("mail me at someone@example.com") == "mail me at someone@example.com"


def test_signed_query_parameters_are_scrubbed() -> None:
    url = (
        "https://bucket.s3.amazonaws.com/up.png?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1&X-Amz-Date=20260101T000000Z"
        "&X-Amz-Expires=600&X-Amz-Signature=deadbeef0123&X-Amz-SignedHeaders=host"
    )
    scrubbed = Redactor().scrub(f"PUT {url} headers={{}}")
    assert "AKIAEXAMPLE" not in scrubbed
    assert "deadbeef0123" not in scrubbed
    assert "X-Amz-Expires=600" in scrubbed  # not a secret: kept
    assert "X-Amz-SignedHeaders=host" in scrubbed
    for name, value in (
        ("Signature", "abc"),
        ("X-Goog-Signature", "abc"),
        ("sig", "abc"),
        ("token", "abc"),
        ("access_token", "abc"),
    ):
        assert "abc" not in Redactor().scrub(f"https://h/p?a=1&{name}={value}#f")
    assert Redactor().scrub("https://h/p?design=1&tokens=2") == "https://h/p?design=1&tokens=2"


def test_answers_lose_the_key_but_keep_signed_links() -> None:
    key = "sk-answer-key"
    link = "https://cdn.example/r.png?X-Amz-Signature=abc"
    response = Response(
        401,
        {"WWW-Authenticate": f"Bearer {key}"},
        json.dumps({"error": f"invalid key: Bearer {key}", "url": link}).encode(),
    )
    clean = Redactor([key]).response(response)
    assert key.encode() not in clean.body
    assert link.encode() in clean.body
    assert clean.headers["www-authenticate"] == "Bearer <redacted>"
    assert Redactor([key]).response(Response(200, body=b"{}")) == Response(200, body=b"{}")


def test_an_error_is_scrubbed_in_place_keeping_its_type() -> None:
    key = "sk-error-key"
    cause = ValueError(f"from {key}")
    error = AuthError(f"rejected Bearer {key}", status=401)
    error.__cause__ = cause
    scrubbed = Redactor([key]).error(error)
    assert scrubbed is error
    assert isinstance(scrubbed, AuthError)
    assert scrubbed.status == 401
    assert str(scrubbed) == "rejected Bearer <redacted>"
    assert str(cause) == "from <redacted>"


def test_the_log_filter_scrubs_each_record() -> None:
    key = "sk-log-key"
    record = logging.LogRecord(
        "mediatask.http",
        logging.DEBUG,
        __file__,
        1,
        "GET %s -> %s",
        (f"http://u:{key}@h/", 200),
        None,
    )
    assert RedactingFilter(lambda: Redactor([key])).filter(record)
    assert record.getMessage() == "GET http://<redacted>@h/ -> 200"


def test_settings_know_every_key_they_could_send(mediatask_home: Path) -> None:
    KeyStore.default().set("claid", "from-store")
    settings = Settings(
        overrides={"a1d": ProviderSettings("https://a1d.example", "from-option")},
        environ={
            "MEDIATASK_A2E_KEY": "from-env",
            "HOME": "/root",
            "MEDIATASK_HOME": str(mediatask_home),
        },
    )
    assert settings.secrets() == {"from-store", "from-option", "from-env"}

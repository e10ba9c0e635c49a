"""A key never leaves the key store: not in output, logs, journals, results or error messages."""

from __future__ import annotations

import functools
import http.server
import json
import logging
import secrets
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from click.testing import CliRunner

from mediatask import KeyStore, ProviderSettings, Settings
from mediatask.cli import cli
from mediatask.http.messages import Request, Response
from mediatask.model.errors import AuthError
from mediatask.model.redact import REDACTED, RedactingFilter, Redactor, one_line
from mediatask.testing import serving_in_thread


@pytest.mark.subprocess
def test_a_sentinel_key_appears_only_in_the_key_store(
    start_echo: Callable[[str, float], Any],
    mediatask_home: Path,
    tmp_path: Path,
    mediatask_cmd: Callable[..., Any],
) -> None:
    sentinel = "sk-SENTINEL-" + secrets.token_hex(8)
    emulator = start_echo(sentinel, 0.2)
    env = {"MEDIATASK_ECHO_BASE_URL": emulator.base_url}  # no MEDIATASK_ECHO_KEY: the store
    out = tmp_path / "out"
    (tmp_path / "jobs.jsonl").write_text(
        json.dumps({"provider": "echo", "operation": "draw", "params": {"prompt": "a"}}) + "\n"
    )
    runs = []

    def run(*args: str, stdin: str | None = None, ok: bool = True) -> Any:
        done = mediatask_cmd(*args, env=env, stdin=stdin)
        runs.append(done)
        assert (done.returncode == 0) is ok, (args, done.stderr)
        return done

    run("keys", "set", "echo", stdin=sentinel + "\n")
    ran = run("-vv", "run", "echo", "draw", "-p", "prompt=x", "-o", str(out), "--json")
    handle = json.loads(ran.stdout)["handle"]
    for command in ("status", "wait", "watch"):
        run("-vv", command, handle)
    run("-vv", "download", handle, "-o", str(out))
    submitted = run("-vv", "submit", "echo", "draw", "-p", "prompt=y")
    run("-vv", "wait", submitted.stdout.strip())
    run("-vv", "batch", str(tmp_path / "jobs.jsonl"), "-o", str(out / "batch"))
    run("-vv", "status", "echo:task_does_not_exist", ok=False)
    run("jobs", "list", "--json")
    run("jobs", "show", handle, "--json")
    run("keys", "list", "--json")
    run("providers", "--json")
    # A wrong key in the environment (it wins over the store) is named, never printed:
    env["MEDIATASK_ECHO_KEY"] = sentinel + "-wrong"
    refused = run("-vv", "run", "echo", "draw", "-p", "prompt=z", ok=False)
    assert "echo rejected the key" in refused.stderr

    assert emulator.stats()["submissions"] == 3  # run, submit, batch: the store's key worked
    for done in runs:
        assert sentinel not in done.stdout, done.args
        assert sentinel not in done.stderr, done.args
    assert any(
        "mediatask.http.messages" in done.stderr for done in runs
    )  # -v really logged requests
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
        "mediatask.http.messages",
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
        overrides={"echo": ProviderSettings("https://echo.example", "from-option")},
        environ={
            "MEDIATASK_A2E_KEY": "from-env",
            "HOME": "/root",
            "MEDIATASK_HOME": str(mediatask_home),
        },
    )
    assert settings.secrets() == {"from-store", "from-option", "from-env"}


# -- where the key is sent -------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Records each request's headers; redirects when told to, else answers an Echo failure."""

    def __init__(self, *args: Any, seen: list[dict[str, str]], to: str | None, **kw: Any) -> None:
        self.seen, self.to = seen, to
        super().__init__(*args, **kw)

    def log_message(self, format: str, *args: object) -> None:  # stdlib's name
        pass

    def do_POST(self) -> None:  # stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(dict(self.headers))
        if self.to is not None:
            self.send_response(307)
            self.send_header("Location", self.to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"id": "t1", "state": "failed", "error": "no"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # stdlib's name
        self.do_POST()


def test_a_redirect_to_another_origin_never_carries_the_key() -> None:
    key = "sk-redirect-" + secrets.token_hex(6)
    at_origin: list[dict[str, str]] = []
    elsewhere: list[dict[str, str]] = []
    with (
        serving_in_thread(functools.partial(_Recorder, seen=elsewhere, to=None)) as other,
        serving_in_thread(functools.partial(_Recorder, seen=at_origin, to=other)) as origin,
    ):
        env = {"MEDIATASK_ECHO_KEY": key, "MEDIATASK_ECHO_BASE_URL": origin}
        CliRunner().invoke(cli, ["run", "echo", "draw", "-p", "prompt=x"], env=env)
    assert at_origin[0]["Authorization"] == f"Bearer {key}"  # the provider's own origin: sent
    for headers in elsewhere:  # followed or not, the other origin never sees the key
        assert key not in json.dumps(headers)


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made by the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # fixed arguments, no shell
        [  # noqa: S607  # openssl from PATH
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.subprocess
def test_an_untrusted_tls_certificate_is_refused_before_the_key_is_sent(
    self_signed: tuple[Path, Path],
) -> None:
    seen: list[dict[str, str]] = []
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Recorder, seen=seen, to=None)
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {
            "MEDIATASK_ECHO_KEY": "sk-tls-" + secrets.token_hex(6),
            "MEDIATASK_ECHO_BASE_URL": f"https://127.0.0.1:{server.server_address[1]}",
        }
        result = CliRunner().invoke(cli, ["run", "echo", "draw", "-p", "prompt=x"], env=env)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "certificate" in result.output.lower(), result.output
    assert seen == []  # no request ever got through the handshake


def test_reprs_never_show_a_key_or_a_signature() -> None:
    request = Request(
        "PUT",
        "https://user:pw-secret@bucket.example/up?X-Amz-Signature=sig-secret&a=1",
        headers={"Authorization": "Bearer sk-repr-secret", "X-Api-Key": "sk-repr-secret"},
    )
    shown = repr(request) + repr(Response(200, url=request.url))
    assert "secret" not in shown
    assert "a=1" in shown
    settings = ProviderSettings("https://api.example", "sk-repr-secret")
    assert "sk-repr-secret" not in repr(settings)
    assert "sk-repr-secret" not in repr(Redactor(["sk-repr-secret"]))


def test_one_line_removes_every_control_character() -> None:
    assert one_line("a\nb\r\x1b[31mc\x00d\x7f\x9be\u2028f ") == "a b [31mc d e f"


def test_answers_keep_a_short_key_which_messages_lose() -> None:
    redactor = Redactor(["k"])
    body = b'{"imageUrl": "https://cdn.example/k.png", "error": "bad key k"}'
    assert redactor.response(Response(200, body=body)).body == body  # data left intact
    assert redactor.scrub("bad key k") == "bad key <redacted>"  # what is shown loses it


def test_a_journal_row_loses_keys_from_messages_and_long_keys_from_data() -> None:
    redactor = Redactor(["k", "sk-long-key-123"])
    row = redactor.row(
        {
            "error": "bad key k, Bearer sk-long-key-123",
            "outputs": '[{"url": "https://cdn.example/k.png?sk-long-key-123"}]',
            "progress": 0.5,
        }
    )
    assert row == {
        "error": "bad key <redacted>, Bearer <redacted>",
        "outputs": '[{"url": "https://cdn.example/k.png?<redacted>"}]',
        "progress": 0.5,
    }

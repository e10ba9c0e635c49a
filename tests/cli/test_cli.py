"""The command line: each bad input is one line that says what to do, and a non-zero exit."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.testing import serving_in_thread

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("MEDIATASK_ECHO_KEY", "MEDIATASK_ECHO_BASE_URL", "MEDIATASK_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the stdlib's name
        body = b'{"error": "Unauthorized", "message": "Invalid or missing API key"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # stdlib's name
        pass


@pytest.fixture
def rejecting_server() -> Iterator[str]:
    with serving_in_thread(_Unauthorized) as url:
        yield url


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


URL = "https://example.com/cat.png"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["run", "nope", "x"], {}, "unknown provider 'nope'; installed providers: "),
        (["run", "echo", "zoom", "-i", URL], {}, "unknown operation 'zoom' for echo: choose one"),
        (
            ["run", "echo", "draw", "-p", "prompt=x", "-p", "size=3"],
            {},
            "size must be one of 16, 32, 64, got '3'",
        ),
        (["run", "echo", "draw"], {}, "missing parameter prompt: pass -p prompt=VALUE"),
        (["run", "echo", "mirror", "-i", "missing.png"], {}, "input file not found: missing.png"),
        (["run", "echo", "mirror", "-i", URL], {}, "no API key for echo: set MEDIATASK_ECHO_KEY"),
        (
            ["run", "echo", "mirror", "-i", URL],
            {"MEDIATASK_ECHO_KEY": "k", "MEDIATASK_ECHO_BASE_URL": "http://api.example.com"},
            "refusing to send the key over plain http",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    runner: CliRunner, args: list[str], env: dict[str, str], message: str
) -> None:
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_bad_param_syntax(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", "echo", "draw", "-p", "size"])
    assert result.exit_code == 2
    assert "is not NAME=VALUE" in result.output


def test_unreachable_base_url_names_the_variable(runner: CliRunner) -> None:
    env = {
        "MEDIATASK_ECHO_KEY": "k",
        "MEDIATASK_ECHO_BASE_URL": f"http://127.0.0.1:{closed_port()}",
    }
    result = runner.invoke(cli, ["run", "echo", "mirror", "-i", URL], env=env)
    assert result.exit_code == 1
    assert "connection refused" in result.output
    assert "check MEDIATASK_ECHO_BASE_URL" in result.output
    assert "Traceback" not in result.output


def test_rejected_key_says_which_variable_and_not_the_key(
    runner: CliRunner, rejecting_server: str
) -> None:
    key = "sk-sentinel-do-not-print"
    env = {"MEDIATASK_ECHO_KEY": key, "MEDIATASK_ECHO_BASE_URL": rejecting_server}
    result = runner.invoke(cli, ["run", "echo", "mirror", "-i", URL], env=env)
    assert result.exit_code == 1
    assert "echo rejected the key (HTTP 401)" in result.output
    assert "check MEDIATASK_ECHO_KEY" in result.output
    assert key not in result.output


def test_providers_lists_operations_and_key_status(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["providers"])
    assert result.exit_code == 0
    assert "echo  Echo (reference plugin)" in result.output
    assert "no key (set MEDIATASK_ECHO_KEY)" in result.output
    assert "mirror" in result.output
    assert "prompt*, size=16|32|64" in result.output


def test_providers_json(runner: CliRunner) -> None:
    import json

    result = runner.invoke(cli, ["providers", "--json"], env={"MEDIATASK_ECHO_KEY": "k"})
    data = json.loads(result.output)
    echo = next(p for p in data if p["name"] == "echo")
    assert echo["key_set"] is True
    assert echo["capabilities"]["stream"] is True
    assert [op["name"] for op in echo["operations"]] == ["mirror", "draw", "caption"]


def test_run_in_the_sandbox_downloads_a_real_mirrored_image(
    runner: CliRunner, tmp_path: Path
) -> None:
    from PIL import Image, ImageChops, ImageOps

    args = ["run", "echo", "mirror", "-i", str(SAMPLE), "-p", "axis=vertical"]
    result = runner.invoke(cli, [*args, "-o", str(tmp_path), "--sandbox"])
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.stdout.split()]
    assert [p.stem.rsplit("-", 1)[-1] for p in paths] == ["image"]
    path = paths[0]
    assert path.parent == tmp_path
    with Image.open(SAMPLE) as original, Image.open(path) as mirrored:
        expected = ImageOps.flip(original.convert("RGB"))
        assert ImageChops.difference(expected, mirrored.convert("RGB")).getbbox() is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{scale", "is not valid JSON"),
        ("[4]", "must hold a JSON object of parameters"),
    ],
)
def test_a_bad_params_file_is_named(
    runner: CliRunner, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "params.json"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(cli, ["run", "echo", "draw", "--params-file", str(path)])
    assert result.exit_code == 2
    assert "--params-file" in result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_params_file_values_are_typed_and_p_options_override_them(
    runner: CliRunner, tmp_path: Path
) -> None:
    from PIL import Image

    path = tmp_path / "params.json"
    path.write_text('{"size": 64, "prompt": "a boat"}')
    args = ["run", "echo", "draw", "--params-file", str(path)]
    result = runner.invoke(cli, [*args, "-p", "size=16", "-o", str(tmp_path), "--sandbox"])
    assert result.exit_code == 0, result.output
    with Image.open(result.stdout.split()[0]) as drawn:
        assert drawn.size == (16, 16)
    path.write_text('{"size": 3, "prompt": "a boat"}')  # an int from the file is checked too
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "size must be one of 16, 32, 64, got 3" in result.output

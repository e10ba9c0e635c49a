"""The command line: each bad input is one line that says what to do, and a non-zero exit."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediatask.cli import cli
from mediatask.testing import serving_in_thread

SAMPLE = Path(__file__).parent.parent / "samples" / "lighthouse.png"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("MEDIATASK_A1D_KEY", "MEDIATASK_A1D_BASE_URL", "MEDIATASK_PLUGINS"):
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
        (["run", "nope", "x"], {}, "unknown provider 'nope'; installed providers: a1d"),
        (["run", "a1d", "zoom", "-i", URL], {}, "unknown operation 'zoom' for a1d: choose one"),
        (
            ["run", "a1d", "image-upscaler", "-i", URL, "-p", "scale=3"],
            {},
            "scale must be one of 2, 4, 8, 16, got '3'",
        ),
        (["run", "a1d", "image-generator"], {}, "missing parameter prompt: pass -p prompt=VALUE"),
        (["run", "a1d", "remove-bg", "-i", "missing.png"], {}, "input file not found: missing.png"),
        (["run", "a1d", "remove-bg", "-i", URL], {}, "no API key for a1d: set MEDIATASK_A1D_KEY"),
        (
            ["run", "a1d", "remove-bg", "-i", URL],
            {"MEDIATASK_A1D_KEY": "k", "MEDIATASK_A1D_BASE_URL": "http://api.example.com"},
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
    result = runner.invoke(cli, ["run", "a1d", "image-upscaler", "-i", URL, "-p", "scale"])
    assert result.exit_code == 2
    assert "is not NAME=VALUE" in result.output


def test_unreachable_base_url_names_the_variable(runner: CliRunner) -> None:
    env = {"MEDIATASK_A1D_KEY": "k", "MEDIATASK_A1D_BASE_URL": f"http://127.0.0.1:{closed_port()}"}
    result = runner.invoke(cli, ["run", "a1d", "remove-bg", "-i", URL], env=env)
    assert result.exit_code == 1
    assert "connection refused" in result.output
    assert "check MEDIATASK_A1D_BASE_URL" in result.output
    assert "Traceback" not in result.output


def test_rejected_key_says_which_variable_and_not_the_key(
    runner: CliRunner, rejecting_server: str
) -> None:
    key = "sk-sentinel-do-not-print"
    env = {"MEDIATASK_A1D_KEY": key, "MEDIATASK_A1D_BASE_URL": rejecting_server}
    result = runner.invoke(cli, ["run", "a1d", "remove-bg", "-i", URL], env=env)
    assert result.exit_code == 1
    assert "a1d rejected the key (HTTP 401)" in result.output
    assert "check MEDIATASK_A1D_KEY" in result.output
    assert key not in result.output


def test_providers_lists_operations_and_key_status(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["providers"])
    assert result.exit_code == 0
    assert "a1d  A1D" in result.output
    assert "no key (set MEDIATASK_A1D_KEY)" in result.output
    assert "image-upscaler" in result.output
    assert "scale=2|4|8|16" in result.output


def test_providers_json(runner: CliRunner) -> None:
    import json

    result = runner.invoke(cli, ["providers", "--json"], env={"MEDIATASK_A1D_KEY": "k"})
    data = json.loads(result.output)
    a1d = next(p for p in data if p["name"] == "a1d")
    assert a1d["key_set"] is True
    assert a1d["capabilities"]["stream"] is True
    assert len(a1d["operations"]) == 7


def test_run_in_the_sandbox_downloads_a_real_upscaled_image(
    runner: CliRunner, tmp_path: Path
) -> None:
    from PIL import Image

    result = runner.invoke(
        cli,
        [
            "run",
            "a1d",
            "image-upscaler",
            "-i",
            str(SAMPLE),
            "-p",
            "scale=4",
            "-o",
            str(tmp_path),
            "--sandbox",
        ],
    )
    assert result.exit_code == 0, result.output
    paths = [Path(line) for line in result.stdout.split()]
    assert [p.stem.rsplit("-", 1)[-1] for p in paths] == ["image", "thumbnail"]
    path = paths[0]
    assert path.parent == tmp_path
    with Image.open(SAMPLE) as original, Image.open(path) as upscaled:
        assert upscaled.size == (original.width * 4, original.height * 4)


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
    result = runner.invoke(
        cli, ["run", "a1d", "image-upscaler", "-i", URL, "--params-file", str(path)]
    )
    assert result.exit_code == 2
    assert "--params-file" in result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_params_file_values_are_typed_and_p_options_override_them(
    runner: CliRunner, tmp_path: Path
) -> None:
    from PIL import Image

    path = tmp_path / "params.json"
    path.write_text('{"scale": 16}')
    args = ["run", "a1d", "image-upscaler", "-i", str(SAMPLE), "--params-file", str(path)]
    result = runner.invoke(cli, [*args, "-p", "scale=2", "-o", str(tmp_path), "--sandbox"])
    assert result.exit_code == 0, result.output
    with Image.open(SAMPLE) as original, Image.open(result.stdout.split()[0]) as upscaled:
        assert upscaled.size == (original.width * 2, original.height * 2)
    path.write_text('{"scale": 3}')  # an int from the file is checked like a -p value
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "scale must be one of 2, 4, 8, 16, got 3" in result.output

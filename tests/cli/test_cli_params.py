"""``@PATH`` for URL parameters and ``-i -`` (standard input): local files made reachable the
one way inputs are (uploaded, inlined, or served by the sandbox)."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from mediatask import Client, Job, PluginManager
from mediatask.cli import cli
from mediatask.engine.client import FileHost
from mediatask.http.messages import Request
from mediatask.model.errors import UsageError
from mediatask.model.values import Operation, Param
from mediatask.settings.config import ProviderSettings, Settings
from mediatask.testing import FAKE, FakePlugin, reply, scripted

SAMPLE = Path(__file__).parents[2] / "samples" / "lighthouse.png"


@pytest.fixture
def quick_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIATASK_SANDBOX_SECONDS", "0.1")


def test_a2e_url_parameter_takes_a_local_file_uploaded_like_an_input(
    quick_sandbox: None, tmp_path: Path
) -> None:
    args = ["run", "a2e", "image-to-video", "-i", str(SAMPLE), "-p", "prompt=sea"]
    args += ["-p", "model_type=FLF2V", "-p", f"end_image_url=@{SAMPLE}"]
    args += ["--sandbox", "-o", str(tmp_path), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"]


def test_a2e_dry_run_shows_the_parameter_uploaded_first(tmp_path: Path) -> None:
    speech = tmp_path / "speech.mp3"  # an MP3's first bytes: audio, as audio_url takes
    speech.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(64))
    args = ["run", "a2e", "talking-photo", "-i", str(SAMPLE), "-p", "prompt=hi"]
    args += ["-p", f"audio_url=@{speech}", "--key", "k-params", "--dry-run", "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    requests = json.loads(result.stdout)["jobs"][0]["requests"]
    assert len([r for r in requests if r.get("note", "").startswith("upload")]) == 2
    assert requests[-1]["body"]["audio_url"] == "<URL of speech.mp3 once uploaded>"


def test_a_missing_file_parameter_is_one_line_before_anything_is_sent(tmp_path: Path) -> None:
    args = ["run", "a2e", "talking-photo", "-i", str(SAMPLE), "-p", "prompt=hi"]
    args += ["-p", f"audio_url=@{tmp_path / 'gone.mp3'}", "--key", "k-params", "--dry-run"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "not found" in result.output
    assert "Traceback" not in result.output


WITH_URL_PARAM = attrs.evolve(
    FAKE, operations=[Operation("draw", "Draw", (), (Param("ref_url", "url"),))]
)


def _client(host: FileHost | None = None) -> tuple[Client, list[Request]]:
    transport = scripted([reply(json={"id": "t1"})])
    plugins = PluginManager.from_plugins({"fake": FakePlugin(WITH_URL_PARAM)})
    settings = Settings(
        overrides={"fake": ProviderSettings(base_url=FAKE.base_url, key="k")}, environ={}
    )
    client = Client(plugins=plugins, settings=settings, transport=transport, file_host=host)
    return client, transport.sent


async def test_a_url_only_provider_refuses_a_file_parameter_with_the_fix() -> None:
    client, sent = _client()
    with pytest.raises(UsageError, match=r"by URL only.*sandbox=True") as caught:
        await client.submit(Job("fake", "draw", params={"ref_url": f"@{SAMPLE}"}))
    assert sent == []
    assert "(--file-host s3://BUCKET/PREFIX), or add --sandbox" in caught.value.said(flags=True)


@attrs.frozen
class _Host:
    def publish(self, path: Path) -> str:
        return f"http://files.test/{path.name}"


async def test_a_file_host_serves_a_file_parameter() -> None:
    client, sent = _client(_Host())
    await client.submit(Job("fake", "draw", params={"ref_url": f"@{SAMPLE}"}))
    (request,) = sent
    assert request.json["ref_url"] == "http://files.test/lighthouse.png"


def test_input_from_standard_input_named_by_its_format(quick_sandbox: None, tmp_path: Path) -> None:
    args = ["run", "echo", "mirror", "-i", "-", "--sandbox", "-o", str(tmp_path), "--json"]
    result = CliRunner().invoke(cli, args, input=SAMPLE.read_bytes())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"]


def test_empty_standard_input_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["run", "echo", "mirror", "-i", "-"], input=b"")
    assert result.exit_code == 2
    assert "standard input is empty" in result.output

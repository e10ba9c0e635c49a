"""The key store: 0600 file, no echo, precedence --key > environment > store."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediatask import KeyStore, ProviderSettings, Settings
from mediatask.cli import cli
from mediatask.cli.session import cli_settings, journal_path
from mediatask.providers.manager import PluginManager
from mediatask.settings.keys import KeyStoreWarning, exposed

SECRET = "sk-key-store-sentinel-42"  # noqa: S105  # a test sentinel, not a credential


def test_keys_set_stores_the_key_0600_without_echo(mediatask_home: Path) -> None:
    result = CliRunner().invoke(cli, ["keys", "set", "echo"], input=SECRET + "\n")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    path = mediatask_home / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"echo": SECRET}
    assert str(path) in result.output

    listed = CliRunner().invoke(cli, ["keys", "list", "--json"])
    assert {"provider": "echo", "source": "key store", "installed": True} in json.loads(
        listed.output
    )
    assert SECRET not in listed.output
    assert CliRunner().invoke(cli, ["keys", "path"]).output.strip() == str(path)


def test_keys_remove(mediatask_home: Path) -> None:
    KeyStore.default().set("echo", SECRET)
    assert CliRunner().invoke(cli, ["keys", "remove", "echo"]).exit_code == 0
    assert KeyStore.default().get("echo") is None
    again = CliRunner().invoke(cli, ["keys", "remove", "echo"])
    assert again.exit_code == 1
    assert "no stored key for echo" in again.output


def test_keys_set_refuses_an_unknown_provider() -> None:
    result = CliRunner().invoke(cli, ["keys", "set", "nope"], input="x\n")
    assert result.exit_code == 1
    assert "unknown provider 'nope'" in result.output


def test_precedence_option_then_environment_then_store(mediatask_home: Path) -> None:
    store = KeyStore(mediatask_home / "keys.json")
    store.set("echo", "from-store")
    info = PluginManager.from_entry_points().provider("echo")
    assert Settings(environ={}, key_store=store).key(info) == "from-store"
    env = {"MEDIATASK_ECHO_KEY": "from-env"}
    assert Settings(environ=env, key_store=store).key(info) == "from-env"
    option = {"echo": ProviderSettings("https://echo.invalid", "from-option")}
    assert Settings(overrides=option, environ=env, key_store=store).key(info) == "from-option"


def test_the_default_settings_read_the_users_store(mediatask_home: Path) -> None:
    KeyStore.default().set("echo", "from-store")
    plugins = PluginManager.from_entry_points()
    info = plugins.provider("echo")
    assert Settings().key(info) == "from-store"
    assert cli_settings(plugins, "echo", "from-option").key(info) == "from-option"


def test_an_unreadable_store_holds_no_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("not json")
    assert KeyStore(path).get("echo") is None
    assert KeyStore(tmp_path / "missing.json").names() == []


def test_a_key_store_others_can_read_is_used_with_a_warning_saying_the_fix(
    mediatask_home: Path,
) -> None:
    path = mediatask_home / "keys.json"
    path.write_text(json.dumps({"echo": SECRET}))
    path.chmod(0o644)
    with pytest.warns(KeyStoreWarning, match=r"chmod 600 .*keys\.json"):
        assert KeyStore(path).get("echo") == SECRET

    result = CliRunner().invoke(cli, ["keys", "list"])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warned == [
        f"warning: {path} can be read by other users (mode 644): run `chmod 600 {path}`"
    ]

    KeyStore(path).set("echo", SECRET)  # rewriting the store makes it private again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "warning" not in CliRunner().invoke(cli, ["keys", "list"]).output


def test_a_home_others_can_read_is_warned_about(mediatask_home: Path) -> None:
    mediatask_home.chmod(0o755)
    result = CliRunner().invoke(cli, ["keys", "list"])
    assert f"warning: {mediatask_home} can be read by other users (mode 755): " in result.output
    assert f"run `chmod 700 {mediatask_home}`" in result.output
    mediatask_home.chmod(0o700)
    assert "warning" not in CliRunner().invoke(cli, ["keys", "list"]).output


def test_the_home_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    previous = os.umask(0o022)
    try:
        for home in (tmp_path / "by-the-store" / "home", tmp_path / "by-the-journal" / "home"):
            monkeypatch.setenv("MEDIATASK_HOME", str(home))
            if "store" in str(home):
                KeyStore.default().set("echo", SECRET)
            else:
                assert journal_path(None).parent == home
            assert stat.S_IMODE(home.stat().st_mode) == 0o700
            assert exposed() == []
    finally:
        os.umask(previous)


def test_an_unusable_home_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    monkeypatch.setenv("MEDIATASK_HOME", str(afile / "home"))
    result = CliRunner().invoke(cli, ["jobs", "list"])
    assert result.exit_code == 1, result.output
    assert f"cannot create the mediatask home {afile / 'home'}" in result.output
    assert "Traceback" not in result.output

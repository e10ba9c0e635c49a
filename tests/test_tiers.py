"""The test tiers: ``postgres`` tests skip in one line without PostgreSQL, fail when it is required.

The binaries are hidden by pointing ``MEDIATASK_PG_BIN`` (the folder the finder reads) at an
empty folder; the suite itself is run in a child pytest to see its summary and exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing
from support.postgres import BIN_ENV, INSTALL, REQUIRE_ENV, Fail, running_server, verdict

ROOT = Path(__file__).resolve().parents[1]
REQUIRE = REQUIRE_ENV
(JOURNAL_TESTS,) = ROOT.glob("tests/**/test_journal.py")  # wherever the tests' folders put it


def test_without_the_binaries_the_test_server_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(BIN_ENV, str(tmp_path))
    with pytest.raises(RuntimeError) as caught, running_server():
        pytest.fail("a server started without its binaries")
    assert str(caught.value) == f"PostgreSQL 15 is not installed at {tmp_path}: {INSTALL}"


def postgres_journal_tests(empty: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The journal's ``postgres`` tests in a child pytest, PostgreSQL's binaries hidden."""
    inherited = {k: v for k, v in os.environ.items() if k not in {REQUIRE, BIN_ENV}}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "postgres"]
    return subprocess.run(
        [*command, str(JOURNAL_TESTS)],
        cwd=ROOT,
        env={**inherited, BIN_ENV: str(empty), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.mark.subprocess
def test_without_postgresql_its_tests_skip_in_one_line_saying_how_to_enable_them(
    tmp_path: Path,
) -> None:
    ran = postgres_journal_tests(tmp_path)
    assert ran.returncode == 0, ran.stdout
    skipped = [line for line in ran.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, ran.stdout
    assert f"PostgreSQL 15 is not installed at {tmp_path}: {INSTALL}" in skipped[0]
    assert " passed" not in ran.stdout  # every one of them skipped, none ran without a server
    assert " skipped" in ran.stdout.splitlines()[-1]


@pytest.mark.subprocess
def test_when_postgresql_is_required_its_tests_fail_without_it(tmp_path: Path) -> None:
    ran = postgres_journal_tests(tmp_path, **{REQUIRE: "1"})
    assert ran.returncode == 1, ran.stdout
    assert "skipped" not in ran.stdout.splitlines()[-1]  # errors, none skipped
    said = f"PostgreSQL 15 is not installed at {tmp_path}: {INSTALL} ({REQUIRE} is set"
    assert said in ran.stdout


def test_a_test_asking_for_postgresql_without_the_marker_fails() -> None:
    for fixture in ("postgres_url", "postgres_server"):
        assert verdict(False, ["tmp_path", fixture], required=False) == Fail(
            "this test uses PostgreSQL: mark it @pytest.mark.postgres"
        )
    assert verdict(False, ["tmp_path"], required=True) is None


def test_a_marked_test_runs_when_the_binaries_are_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "initdb").touch()
    monkeypatch.setenv(BIN_ENV, str(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # not root: no server user needed
    assert verdict(True, ["postgres_url"], required=True) is None


async def test_autojump_clock_refuses_a_real_socket(autojump_clock: trio.testing.MockClock) -> None:
    with pytest.raises(pytest.fail.Exception, match="a real socket under autojump_clock"):
        await trio.open_tcp_listeners(0, host="127.0.0.1")


async def test_the_real_clock_takes_real_sockets() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    await listener.aclose()


def test_a_process_started_by_an_unmarked_test_fails_it() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"mark it @pytest\.mark\.subprocess"):
        subprocess.run(["true"], check=False)  # noqa: S607

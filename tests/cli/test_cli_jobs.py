"""``mediatask jobs`` as a log: limits, filters, search, path, recording off/on, ``--no-log``;
and every ``mediatask jobs`` example in docs/cli.md runs."""

from __future__ import annotations

import json
import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mediatask.cli import cli
from mediatask.cli.jobs import parse_since
from mediatask.cli.session import journal_path
from mediatask.journal.sqlite import JobQuery, JobState, Journal
from mediatask.model.errors import UsageError
from mediatask.model.values import Job, TaskRef
from mediatask.testing import Standalone

DOCS_CLI = Path(__file__).parents[2] / "docs" / "cli.md"
QUICK = {"MEDIATASK_SANDBOX_SECONDS": "0"}


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def fill(journal: Journal) -> None:
    """Five jobs: three A1D (one failed, one with a handle), two A2E."""
    specs = [
        ("j1", Job("a1d", "image-upscaler", ("https://example.com/cat.png",), {"scale": 4})),
        ("j2", Job("a1d", "image-generator", (), {"prompt": "a lighthouse at dusk"})),
        ("j3", Job("a2e", "text-to-image", (), {"prompt": "fog over 100% water"})),
        ("j4", Job("a1d", "remove-bg", ("https://example.com/dog.png",), {})),
        ("j5", Job("a2e", "talking-photo", ("https://example.com/face.png",), {})),
    ]
    for job_id, job in specs:
        journal.register(job_id, job)
    journal.submitting("j2")
    journal.submitted("j2", TaskRef("a1d", "task_light", datetime.now(UTC)))
    journal.ended("j4", JobState.FAILED, "the provider refused: image too small")


@pytest.fixture
def user_journal() -> Path:
    path = journal_path(None)
    with Journal(path) as journal:
        fill(journal)
    return path


def ids(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [record["job"] for record in json.loads(result.stdout)]


def test_search_filters_combine_and_keep_the_newest(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        fill(journal)
        found = journal.search
        assert [r.id for r in found(JobQuery())] == ["j1", "j2", "j3", "j4", "j5"]
        assert [r.id for r in found(JobQuery(limit=2))] == ["j4", "j5"]
        assert [r.id for r in found(JobQuery(provider="a2e"))] == ["j3", "j5"]
        assert [r.id for r in found(JobQuery(operation="remove-bg"))] == ["j4"]
        assert [r.id for r in found(JobQuery(states=(JobState.FAILED,)))] == ["j4"]
        assert [r.id for r in found(JobQuery(states=(JobState.PENDING,), provider="a1d"))] == ["j1"]
        assert [r.id for r in found(JobQuery(text="LIGHTHOUSE"))] == ["j2"]  # params
        assert [r.id for r in found(JobQuery(text="dog.png"))] == ["j4"]  # inputs
        assert [r.id for r in found(JobQuery(text="too small"))] == ["j4"]  # error
        assert [r.id for r in found(JobQuery(text="task_light"))] == ["j2"]  # handle
        assert [r.id for r in found(JobQuery(text="j5"))] == ["j5"]  # id
        assert [r.id for r in found(JobQuery(text="100%"))] == ["j3"]  # % is literal
        assert [r.id for r in found(JobQuery(text="_"))] == ["j2"]  # so is _ (task_light)
        past = datetime.now(UTC) - timedelta(days=1)
        assert len(found(JobQuery(since=past))) == 5
        assert found(JobQuery(since=past + timedelta(days=2))) == []


def test_jobs_list_limits_to_20_by_default_and_0_means_all(tmp_path: Path) -> None:
    with Journal(journal_path(None)) as journal:
        for n in range(25):
            journal.register(f"job{n:02d}", Job("a1d", "image-generator", (), {"prompt": "x"}))
    assert ids(invoke("jobs", "list", "--json")) == [f"job{n:02d}" for n in range(5, 25)]
    assert len(ids(invoke("jobs", "list", "-n", "0", "--json"))) == 25
    assert ids(invoke("jobs", "list", "-n", "1", "--json")) == ["job24"]
    lines = invoke("jobs", "list", "-n", "3").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["job22", "job23", "job24"]


def test_jobs_list_filters_from_the_command_line(user_journal: Path) -> None:
    assert ids(invoke("jobs", "list", "--provider", "a2e", "--json")) == ["j3", "j5"]
    assert ids(invoke("jobs", "list", "--operation", "remove-bg", "--json")) == ["j4"]
    both = invoke("jobs", "list", "--state", "failed", "--state", "submitted", "--json")
    assert ids(both) == ["j2", "j4"]
    assert ids(invoke("jobs", "list", "--query", "lighthouse", "--json")) == ["j2"]
    assert ids(invoke("jobs", "list", "--query", "cat.png", "--json")) == ["j1"]
    assert len(ids(invoke("jobs", "list", "--since", "1h", "--json"))) == 5
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    assert ids(invoke("jobs", "list", "--since", tomorrow, "--json")) == []


def test_a_bad_since_or_state_is_one_line(user_journal: Path) -> None:
    bad = invoke("jobs", "list", "--since", "yesterday")
    assert bad.exit_code == 1
    assert bad.stderr.strip().splitlines() == [
        "Error: --since 'yesterday' is neither a duration (e.g. 30m, 2h, 1h30m) nor an ISO date "
        "(e.g. 2026-11-29 or 2026-11-29T14:00)"
    ]
    assert invoke("jobs", "list", "--state", "done").exit_code == 2


def test_parse_since_takes_durations_and_dates() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    assert parse_since("90", now) == now - timedelta(seconds=90)
    assert parse_since("2026-11-28T08:00+00:00", now) == datetime(2026, 11, 28, 8, tzinfo=UTC)
    local = parse_since("2026-11-28")
    assert local.tzinfo is not None
    assert local.replace(tzinfo=None) == datetime(2026, 11, 28)
    with pytest.raises(UsageError):
        parse_since("0s", now)


def test_an_empty_list_says_so_on_stderr_and_keeps_stdout_clean() -> None:
    empty = invoke("jobs", "list")
    assert empty.exit_code == 0
    assert empty.stdout == ""
    assert empty.stderr == f"no jobs in the journal {journal_path(None)}\n"
    assert invoke("jobs", "list", "--json").stdout.strip() == "[]"


def test_a_filter_that_matches_nothing_says_so(user_journal: Path) -> None:
    none = invoke("jobs", "list", "--query", "nothing like this")
    assert (none.stdout, none.stderr) == ("", f"no jobs match in the journal {user_journal}\n")


def test_an_empty_provider_list_says_so_on_stderr() -> None:
    empty = invoke("list", "a2e", "--sandbox", "--operation", "talking-photo", env=QUICK)
    assert empty.exit_code == 0, empty.output
    assert empty.stdout == ""
    assert empty.stderr == "a2e lists no recent tasks of operation talking-photo\n"


def test_jobs_path_prints_the_journal() -> None:
    shown = invoke("jobs", "path")
    assert (shown.exit_code, shown.stdout) == (0, f"{journal_path(None)}\n")


def submit(echo: Standalone, *extra: str) -> Result:
    # Against a standalone emulator: --sandbox jobs are journalled apart from the user's.
    args = ["submit", "echo", "draw", "-p", "prompt=x", *extra]
    return invoke(*args, env=echo.env)


def journalled() -> list[Any]:
    with Journal(journal_path(None)) as journal:
        return [record.id for record in journal.records()]


@pytest.mark.subprocess
def test_no_log_keeps_one_command_out_of_the_journal(standalone_echo: Standalone) -> None:
    assert submit(standalone_echo, "--no-log").exit_code == 0
    assert journalled() == []
    assert submit(standalone_echo).exit_code == 0
    assert len(journalled()) == 1


@pytest.mark.subprocess
def test_jobs_off_stops_recording_and_says_what_is_lost_until_jobs_on(
    standalone_echo: Standalone,
) -> None:
    off = invoke("jobs", "off")
    assert off.exit_code == 0
    assert "recording is off" in off.stderr
    assert "handles can no longer be found by job id" in off.stderr
    assert "recording is off" in invoke("jobs", "path").stderr
    ran = submit(standalone_echo)
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.startswith("echo:")  # the command works as before
    assert journalled() == []
    on = invoke("jobs", "on")
    assert on.exit_code == 0
    assert f"recording is on: run and submit write to {journal_path(None)}" in on.stderr
    assert submit(standalone_echo).exit_code == 0
    assert len(journalled()) == 1


def doc_examples(heading: str) -> list[str]:
    """The ``mediatask`` lines in the ``sh`` blocks of docs/cli.md sections under ``heading``."""
    text = DOCS_CLI.read_text()
    sections = re.split(r"^(?=## )", text, flags=re.M)
    lines = []
    for section in sections:
        if section.startswith(f"## `{heading}"):
            for block in re.findall(r"```sh\n(.*?)```", section, re.S):
                lines += [line for line in block.splitlines() if line.startswith("mediatask ")]
    return lines


def test_every_jobs_example_in_the_docs_runs(
    user_journal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    examples = doc_examples("mediatask jobs")
    assert len(examples) >= 10
    with Journal(tmp_path / "out" / ".mediatask" / "journal.sqlite") as journal:
        fill(journal)
    for example in examples:
        args = shlex.split(example.split("  #")[0])[1:]
        if args[:2] == ["jobs", "off"]:
            continue  # run last: it changes what the others print
        result = CliRunner().invoke(cli, args, env=QUICK)
        assert result.exit_code == 0, f"{example}: {result.output}"
    assert invoke("jobs", "off").exit_code == 0


@pytest.mark.usefixtures("user_journal")
def test_q_means_quiet_after_jobs_list_as_after_every_command() -> None:
    result = invoke("jobs", "list", "-q")  # -q takes no TEXT: --query does
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()] == [
        "j1",
        "j2",
        "j3",
        "j4",
        "j5",
    ]
    assert ids(invoke("jobs", "list", "--query", "dog.png", "--json")) == ["j4"]


@pytest.mark.usefixtures("user_journal")
def test_jobs_list_wraps_between_words_on_a_narrow_terminal() -> None:
    wide = invoke("jobs", "list", env={"COLUMNS": "200"}).stdout
    narrow = invoke("jobs", "list", env={"COLUMNS": "60"}).stdout
    assert all(len(line) < 60 for line in narrow.splitlines())
    assert narrow.split() == wide.split()  # nothing lost or cut: only wrapped between words
    assert len(narrow.splitlines()) > len(wide.splitlines())

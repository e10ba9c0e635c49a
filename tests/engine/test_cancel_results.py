"""What a cancel came to: canceled, only requested, or nothing to cancel (already final).

The command line, ``--json`` and the journal say the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mediatask.model.values import Cancellation, Status


def test_each_outcome_has_one_line_and_one_json_form() -> None:
    nothing = Cancellation.nothing(Status.SUCCEEDED, "nothing was canceled")

    assert Cancellation.canceled().line("p:1") == "p:1: canceled"
    assert Cancellation.requested().line("p:1") == "p:1: cancel requested"
    assert Cancellation.requested("deleted; 3 coins refunded").line("p:1") == (
        "deleted; 3 coins refunded"
    )
    assert nothing.line("p:1") == (
        "p:1: nothing to cancel (already final: succeeded) — nothing was canceled"
    )
    assert nothing.to_json("p:1") == {
        "handle": "p:1",
        "outcome": "nothing",
        "canceled": False,
        "state": "succeeded",
        "message": nothing.line("p:1"),
    }
    assert Cancellation.canceled().to_json("p:1")["canceled"] is True
    assert Cancellation.requested().to_json("p:1")["canceled"] is False


def _history(handle: str, mediatask_cmd: Callable[..., Any], env: dict[str, str]) -> Any:
    shown = mediatask_cmd("jobs", "show", handle, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


@pytest.mark.subprocess
def test_cancelling_a_finished_task_says_nothing_was_canceled_everywhere(
    standalone_echo: Any, mediatask_cmd: Callable[..., Any]
) -> None:
    env = standalone_echo.env
    handle = mediatask_cmd("submit", "echo", "draw", "-p", "prompt=x", env=env).stdout.strip()
    assert mediatask_cmd("wait", handle, env=env).returncode == 0

    as_json = mediatask_cmd("cancel", handle, "--json", env=env)
    plain = mediatask_cmd("cancel", handle, env=env)

    assert as_json.returncode == 0, as_json.stderr
    said = json.loads(as_json.stdout)
    line = f"{handle}: nothing to cancel (already final: succeeded)"
    assert said == {
        "handle": handle,
        "outcome": "nothing",
        "canceled": False,
        "state": "succeeded",
        "message": line,
    }
    assert plain.stdout.strip() == line
    shown = _history(handle, mediatask_cmd, env)
    assert [e["detail"] for e in shown["history"] if e["kind"] == "cancel"] == [line, line]
    assert shown["status"] == "succeeded"  # followed to the end, never downloaded


@pytest.mark.subprocess
def test_cancelling_a_running_task_says_it_was_canceled_and_the_journal_ends_it(
    start_echo: Callable[[str, float], Any], mediatask_cmd: Callable[..., Any]
) -> None:
    env = start_echo("sk-slow-0123456789", 120).env
    handle = mediatask_cmd("submit", "echo", "draw", "-p", "prompt=x", env=env).stdout.strip()

    canceled = mediatask_cmd("cancel", handle, "--json", env=env)

    assert canceled.returncode == 0, canceled.stderr
    said = json.loads(canceled.stdout)
    assert (said["outcome"], said["canceled"], said["message"]) == (
        "canceled",
        True,
        f"canceled {handle}",
    )
    shown = _history(handle, mediatask_cmd, env)
    assert shown["state"] == "failed"
    assert shown["history"][-1]["detail"] == f"canceled {handle}"

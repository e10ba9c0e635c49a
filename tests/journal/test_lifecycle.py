"""The job lifecycle's one owner: its table, the docs generated from it, and no writer around it."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from mediatask.journal.lifecycle import (
    MOVES,
    Action,
    Event,
    IllegalMoveError,
    JobState,
    Wants,
    after_following,
    decide,
    diagram,
    ending,
    move,
    moves_table,
)
from mediatask.model.errors import NotFoundError, TaskFailedError, UnavailableError

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "core" / "mediatask"
DOC = ROOT / "docs" / "architecture.md"
SECTION = re.compile(r"(<!-- lifecycle: generated -->\n).*?(<!-- /lifecycle -->)", re.DOTALL)


def generated() -> str:
    return f"```mermaid\n{diagram()}\n```\n\n{moves_table()}\n"


def test_the_architecture_doc_shows_the_lifecycle_table() -> None:
    text = DOC.read_text()
    expected = SECTION.sub(lambda m: m[1] + generated() + m[2], text)
    if os.environ.get("REWRITE_DOCS"):
        DOC.write_text(expected)
    assert text == expected, "docs/architecture.md's lifecycle is stale: run with REWRITE_DOCS=1"


def test_every_state_is_reachable_and_every_move_has_a_reason() -> None:
    reached = {JobState.PENDING} | {m.to for m in MOVES.values()}
    assert reached == set(JobState)
    assert all(m.why and m.sources for m in MOVES.values())


def test_an_illegal_move_raises() -> None:
    with pytest.raises(IllegalMoveError):
        move(Event.SEND, JobState.SUCCEEDED)  # a succeeded job is never submitted again as is
    with pytest.raises(IllegalMoveError):
        ending(JobState.PENDING)  # pending is not an end
    assert move(Event.ACCEPTED, JobState.SUBMITTING).to is JobState.SUBMITTED


def test_a_failed_download_after_success_is_unfinished_on_every_path() -> None:
    exc = UnavailableError("HTTP 502")
    assert after_following(exc, downloading=True) is JobState.UNFINISHED
    assert after_following(NotFoundError("gone"), downloading=True) is JobState.UNFINISHED
    assert after_following(TaskFailedError("model error"), downloading=False) is JobState.FAILED
    assert after_following(NotFoundError("gone"), downloading=False) is JobState.LOST
    assert after_following(exc, downloading=False) is JobState.UNFINISHED


def test_deciding_is_pure_and_uses_the_states_own_knowledge() -> None:
    never = lambda: False  # noqa: E731
    for state in JobState:
        decision = decide(state, Wants(), can_settle=never)
        if state.task_may_be_alive and state is not JobState.UNCERTAIN:
            assert decision.action in (Action.FOLLOW, Action.SKIP)
        if state.is_final:
            assert decision.action is Action.SKIP
    fresh = decide(JobState.SUBMITTED, Wants(fresh_provider=True), can_settle=never)
    assert (fresh.action, fresh.reset is not None) == (Action.SUBMIT, True)
    stopped = decide(JobState.SUBMITTING, Wants(), can_settle=lambda: True)
    assert (stopped.action, stopped.interrupted) == (Action.SETTLE, True)


def _state_literals(tree: ast.AST) -> list[int]:
    """Lines with a tuple, list, set or dict literal naming a JobState member."""
    found = []
    for node in ast.walk(tree):
        items: list[ast.expr | None] = []
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        for item in items:
            if (
                isinstance(item, ast.Attribute)
                and isinstance(item.value, ast.Name)
                and item.value.id == "JobState"
            ):
                found.append(item.lineno)
                break
    return found


def _names_a_state(node: ast.expr) -> bool:
    return any(isinstance(sub, ast.Name) and sub.id == "JobState" for sub in ast.walk(node))


def _state_writes(tree: ast.AST) -> list[int]:
    """Lines that write the ``state`` column: a ``state=`` keyword or ``"state"`` key given a
    JobState, or SQL that sets it."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "state" and _names_a_state(node.value):
            found.append(node.value.lineno)
        elif isinstance(node, ast.Dict):
            found += [
                k.lineno
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and k.value == "state" and _names_a_state(v)
            ]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.search(r"\bSET\b[^;]*\bstate\s*=", node.value, re.IGNORECASE)
        ):
            found.append(node.lineno)
    return found


def test_no_job_state_is_written_or_listed_outside_the_owner() -> None:
    owner = {PACKAGE / "journal" / "lifecycle.py"}
    writers = {
        PACKAGE / "journal" / "backend.py",  # builds the one UPDATE from the owner's move
        PACKAGE / "journal" / "schema.py",  # migrations rewrite stored rows, not a job's move
    }
    emulators = PACKAGE / "emulator"
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in owner or emulators in path.parents:
            continue
        tree = ast.parse(path.read_text())
        for line in _state_literals(tree):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: JobState literal collection")
        if path in writers:
            continue
        for line in _state_writes(tree):
            offenders.append(f"{path.relative_to(ROOT)}:{line}: writes a state")
    assert offenders == []

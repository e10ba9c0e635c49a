"""fetch_all: the outputs of one result downloaded side by side, failures told after all end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from mediatask.engine.download import fetch_all
from mediatask.model.errors import LocalWriteError, UnavailableError


def fetched(name: str, *, after: trio.Event | None = None) -> Callable[[], Awaitable[Path]]:
    async def fetch() -> Path:
        if after is not None:
            await after.wait()
        return Path(name)

    return fetch


def failing(
    error: Exception, *, after: trio.Event | None = None, then: trio.Event | None = None
) -> Callable[[], Awaitable[Path]]:
    async def fetch() -> Path:
        if after is not None:
            await after.wait()
        if then is not None:
            then.set()
        raise error

    return fetch


async def test_the_files_come_back_in_the_order_asked() -> None:
    first_done = trio.Event()

    async def first() -> Path:
        first_done.set()
        return Path("a")

    # The second finishes only after the first: the order is the order asked, not of ending.
    files = await fetch_all([fetched("b", after=first_done), first])
    assert files == [Path("b"), Path("a")]


async def test_none_and_one() -> None:
    assert await fetch_all([]) == []
    assert await fetch_all([fetched("only")]) == [Path("only")]


async def test_a_failure_lets_the_others_finish_then_the_first_is_raised() -> None:
    failed = trio.Event()
    finished: list[Path] = []

    async def slow() -> Path:
        await failed.wait()  # still running when the other fails
        finished.append(Path("kept"))
        return Path("kept")

    gone = UnavailableError("HTTP 503")
    later = failing(LocalWriteError("x"), after=failed)  # fails second, whatever runs first
    with pytest.raises(UnavailableError) as raised:
        await fetch_all([slow, later, failing(gone, then=failed)])
    assert finished == [Path("kept")]
    assert raised.value is gone

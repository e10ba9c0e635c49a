"""Shared fixtures for the Claid tests: sample images over HTTP, an emulator, a bare API client.

Claid fetches inputs by URL, as the real API does, so the samples need a server: an in-process
one for trio tests, a thread for synchronous CLI tests (whose ``trio.run`` owns the thread).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from mediatask.testing import (
    RawApi,
    isolated_home,
    raw_api,
    sample_files,
    sample_photo,
    samples_fixture,
    serving_folder,
)
from mediatask_claid.emulator import ClaidEmulator

KEY = "claid-test-key"
SAMPLES = {
    "photo.png": (sample_photo("PNG"), "image/png"),
    "photo.jpg": (sample_photo("JPEG"), "image/jpeg"),
}

inputs_url = samples_fixture(SAMPLES)
isolated = isolated_home()


@pytest.fixture
def samples_dir(tmp_path: Path) -> Path:
    """A folder holding the samples as files."""
    folder = tmp_path / "samples"
    sample_files(SAMPLES, folder)
    return folder


@pytest.fixture
def threaded_samples_url(samples_dir: Path) -> Iterator[str]:
    """The samples folder served from a thread, for tests whose trio run is the CLI's."""
    with serving_folder(samples_dir) as url:
        yield url


class Api(RawApi):
    """Claid's polling over :class:`RawApi`; calls run in worker threads."""

    async def wait(self, result_url: str) -> dict[str, Any]:
        """Poll a result URL until the task is final, as a client would."""
        while True:
            answer = await self.request("GET", result_url)
            assert answer.status == 200, answer.data
            data: dict[str, Any] = answer.json()["data"]
            if data["status"] in ("DONE", "ERROR"):
                return data
            await trio.sleep(0.02)  # the polling interval, not a synchronisation


@pytest.fixture
async def api(inputs_url: str) -> AsyncIterator[Api]:
    """The emulator without rate limits and with quick tasks (``api.emulator``)."""
    emulator = ClaidEmulator(limits=(), accepted_key=KEY)
    emulator.faults.processing_seconds = 0.05
    async with raw_api(Api, emulator, inputs_url, auth=f"Bearer {KEY}") as opened:
        yield opened


@pytest.fixture
async def limited_api(inputs_url: str) -> AsyncIterator[Api]:
    """The emulator with Claid's default limits (4/s, 120/min)."""
    emulator = ClaidEmulator(accepted_key=KEY)
    emulator.faults.processing_seconds = 0.05
    async with raw_api(Api, emulator, inputs_url, auth=f"Bearer {KEY}") as opened:
        yield opened

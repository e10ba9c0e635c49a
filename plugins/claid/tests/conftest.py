"""Shared fixtures for the Claid tests: sample images over HTTP, an emulator, a bare API client.

Claid fetches inputs by URL, as the real API does, so the samples need a server: an in-process
one for trio tests, a thread for synchronous CLI tests (whose ``trio.run`` owns the thread).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import urllib3
from PIL import Image, ImageDraw

from mediatask.emulator import serving
from mediatask.testing import serving_folder, serving_samples
from mediatask_claid.emulator import ClaidEmulator

KEY = "claid-test-key"


def photo(image_format: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    """A small 'product photo': a red disc on a pale, uniform background."""
    image = Image.new("RGB", size, (230, 240, 250))
    width, height = size
    ImageDraw.Draw(image).ellipse(
        (width // 4, height // 6, 3 * width // 4, 5 * height // 6), fill=(200, 30, 30)
    )
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


SAMPLES = {"photo.png": (photo("PNG"), "image/png"), "photo.jpg": (photo("JPEG"), "image/jpeg")}


@pytest.fixture
def make_photo() -> Callable[..., bytes]:
    """:func:`photo`, for tests (test modules do not import this one)."""
    return photo


@pytest.fixture
async def inputs_url() -> AsyncIterator[str]:
    """Base URL of an in-process server answering ``/samples/<name>``."""
    async with serving_samples(SAMPLES) as url:
        yield url


@pytest.fixture
def samples_dir(tmp_path: Path) -> Path:
    """A folder holding the samples as files."""
    folder = tmp_path / "samples"
    folder.mkdir()
    for name, (data, _) in SAMPLES.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def threaded_samples_url(samples_dir: Path) -> Iterator[str]:
    """The samples folder served from a thread, for tests whose trio run is the CLI's."""
    with serving_folder(samples_dir) as url:
        yield url


@attrs.define
class Api:
    """A bare urllib3 client for the emulator (not mediatask's); calls run in worker threads."""

    base_url: str
    inputs_url: str
    emulator: ClaidEmulator
    pool: urllib3.PoolManager = attrs.field(factory=urllib3.PoolManager)

    def input(self, name: str = "photo.png") -> str:
        return f"{self.inputs_url}/samples/{name}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        auth: str | None = f"Bearer {KEY}",
        fields: dict[str, Any] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Authorization": auth} if auth is not None else {}
        url = path if path.startswith("http") else self.base_url + path
        if fields is not None:
            send = functools.partial(self.pool.request, method, url, fields=fields, headers=headers)
        else:
            data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
            if body is not None:
                headers["Content-Type"] = "application/json"
            send = functools.partial(self.pool.request, method, url, body=data, headers=headers)
        return await trio.to_thread.run_sync(send)

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
    """The emulator without rate limits (set ``api.emulator.limits``-free) and quick tasks."""
    emulator = ClaidEmulator(limits=(), accepted_key=KEY)
    emulator.faults.processing_seconds = 0.05
    async with serving(emulator.app) as base_url:
        yield Api(base_url, inputs_url, emulator)


@pytest.fixture
async def limited_api(inputs_url: str) -> AsyncIterator[Api]:
    """The emulator with Claid's default limits (4/s, 120/min)."""
    emulator = ClaidEmulator(accepted_key=KEY)
    emulator.faults.processing_seconds = 0.05
    async with serving(emulator.app) as base_url:
        yield Api(base_url, inputs_url, emulator)


@pytest.fixture(autouse=True)
def isolated(mediatask_home: Path) -> Path:
    """Commands write their journal under MEDIATASK_HOME: a fresh one per test, never yours."""
    return mediatask_home

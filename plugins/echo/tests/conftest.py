"""Echo's test inputs, served on loopback (its emulator fetches inputs by URL)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from mediatask.testing import serving_samples


def _photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


SAMPLES = {"photo.png": (_photo(), "image/png")}


@pytest.fixture
async def inputs_url() -> AsyncIterator[str]:
    """Base URL of a server answering ``/samples/<name>`` with the SAMPLES above."""
    async with serving_samples(SAMPLES) as url:
        yield url


@pytest.fixture(autouse=True)
def isolated(mediatask_home: Path) -> Path:
    """A fresh MEDIATASK_HOME per test: commands never touch the developer's journal."""
    return mediatask_home

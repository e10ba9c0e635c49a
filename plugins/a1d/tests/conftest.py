"""Sample inputs for the A1D emulator tests, served over loopback HTTP.

The emulator fetches inputs by URL, as the real API does, so the samples need a server.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from mediatask.testing import sample_clip, serving_samples


def _photo(image_format: str) -> bytes:
    """A 64x48 'photo': a red disc on a pale, uniform background."""
    image = Image.new("RGB", (64, 48), (230, 240, 250))
    ImageDraw.Draw(image).ellipse((16, 8, 48, 40), fill=(200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


SAMPLES = {
    "photo.png": (_photo("PNG"), "image/png"),
    "photo.jpg": (_photo("JPEG"), "image/jpeg"),
    "clip.mp4": (sample_clip(32, 24, 8, 8), "video/mp4"),
    "notes.txt": (b"not an image", "text/plain"),
}


@pytest.fixture
async def inputs_url() -> AsyncIterator[str]:
    """Base URL of a server answering ``/samples/<name>`` with the SAMPLES above."""
    async with serving_samples(SAMPLES) as url:
        yield url


@pytest.fixture(autouse=True)
def isolated(mediatask_home: Path) -> Path:
    """Commands write their journal under MEDIATASK_HOME: a fresh one per test, never yours."""
    return mediatask_home

"""Sample inputs for the A2E tests: as local files, and served over loopback HTTP.

The emulator fetches inputs by URL, as the real API does; the library uploads local files
through the presigned-upload flow first.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import av
import pytest
from PIL import Image, ImageDraw

from mediatask.testing import sample_clip, serving_samples


def _photo() -> bytes:
    """A 96x72 'portrait': a face-coloured disc on a pale background."""
    image = Image.new("RGB", (96, 72), (230, 240, 250))
    ImageDraw.Draw(image).ellipse((28, 8, 68, 60), fill=(225, 180, 150))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


SAMPLES = {
    "photo.jpg": (_photo(), "image/jpeg"),
    "clip.mp4": (sample_clip(64, 48, 6, 6), "video/mp4"),
    "speech.mp3": (b"ID3" + bytes(64), "audio/mpeg"),
    "notes.txt": (b"not an image", "text/plain"),
}


@pytest.fixture
async def inputs_url() -> AsyncIterator[str]:
    """Base URL of a server answering ``/samples/<name>`` with the SAMPLES above."""
    async with serving_samples(SAMPLES) as url:
        yield url


@pytest.fixture
def samples(tmp_path: Path) -> dict[str, Path]:
    """The SAMPLES as local files."""
    paths = {}
    for name, (data, _) in SAMPLES.items():
        path = tmp_path / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        paths[name] = path
    return paths


Decoded = tuple[int, int, int]


def _decode(data: bytes) -> Decoded:
    frames = samples = width = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        if container.streams.video:
            for frame in container.decode(video=0):
                frames += 1
                width = width or frame.width
    with av.open(io.BytesIO(data), mode="r") as container:
        if container.streams.audio:
            samples = sum(chunk.samples for chunk in container.decode(audio=0))
    return frames, samples, width


@pytest.fixture
def decode() -> Callable[[bytes], Decoded]:
    """Decode a media file whole: (video frames, audio samples, first frame's width)."""
    return _decode


@pytest.fixture(autouse=True)
def isolated(mediatask_home: Path) -> Path:
    """Commands write their journal under MEDIATASK_HOME: a fresh one per test, never yours."""
    return mediatask_home

"""Sample inputs for the A2E tests: as local files, and served over loopback HTTP.

The emulator fetches inputs by URL, as the real API does; the library uploads local files
through the presigned-upload flow first.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import av
import pytest

from mediatask.testing import (
    isolated_home,
    sample_clip,
    sample_files,
    sample_photo,
    samples_fixture,
)

SAMPLES = {
    "photo.jpg": (sample_photo("JPEG", (96, 72), disc=(225, 180, 150)), "image/jpeg"),  # a face
    "clip.mp4": (sample_clip(64, 48, 6, 6), "video/mp4"),
    "speech.mp3": (b"ID3" + bytes(64), "audio/mpeg"),
    "notes.txt": (b"not an image", "text/plain"),
}

inputs_url = samples_fixture(SAMPLES)
isolated = isolated_home()


@pytest.fixture
def samples(tmp_path: Path) -> dict[str, Path]:
    """The SAMPLES as local files."""
    return sample_files(SAMPLES, tmp_path / "in")


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

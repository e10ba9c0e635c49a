"""Sample inputs for the A2E tests: as local files, and served over loopback HTTP.

The emulator fetches inputs by URL, as the real API does; the library uploads local files
through the presigned-upload flow first.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image, ImageDraw
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediatask.emulator import serving


def _photo() -> bytes:
    """A 96x72 'portrait': a face-coloured disc on a pale background."""
    image = Image.new("RGB", (96, 72), (230, 240, 250))
    ImageDraw.Draw(image).ellipse((28, 8, 68, 60), fill=(225, 180, 150))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def _clip() -> bytes:
    """A 64x48 H.264 clip: 6 frames at 6 fps of a bar moving across."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=6)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(6):
            image = Image.new("RGB", (64, 48), "navy")
            ImageDraw.Draw(image).rectangle((index * 8, 0, index * 8 + 7, 47), fill="yellow")
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]  # PyAV
            frame.pts, frame.time_base = index, Fraction(1, 6)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


SAMPLES = {
    "photo.jpg": (_photo(), "image/jpeg"),
    "clip.mp4": (_clip(), "video/mp4"),
    "speech.mp3": (b"ID3" + bytes(64), "audio/mpeg"),
    "notes.txt": (b"not an image", "text/plain"),
}


async def _sample(request: Request) -> Response:
    found = SAMPLES.get(request.path_params["name"])
    if found is None:
        return Response("no such sample", 404, media_type="text/plain")
    data, media_type = found
    return Response(data, media_type=media_type)


@pytest.fixture
async def inputs_url() -> AsyncIterator[str]:
    """Base URL of a server answering ``/samples/<name>`` with the SAMPLES above."""
    async with serving(Starlette(routes=[Route("/samples/{name}", _sample)])) as url:
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

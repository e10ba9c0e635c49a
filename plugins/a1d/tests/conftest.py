"""Sample inputs for the A1D emulator tests, served over loopback HTTP.

The emulator fetches inputs by URL, as the real API does, so the samples need a server.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from fractions import Fraction

import av
import pytest
from PIL import Image, ImageDraw
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediatask.emulator import serving


def _photo(image_format: str) -> bytes:
    """A 64x48 'photo': a red disc on a pale, uniform background."""
    image = Image.new("RGB", (64, 48), (230, 240, 250))
    ImageDraw.Draw(image).ellipse((16, 8, 48, 40), fill=(200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def _clip() -> bytes:
    """A 32x24 H.264 clip: 8 frames at 8 fps of a bar moving across."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for index in range(8):
            image = Image.new("RGB", (32, 24), "navy")
            ImageDraw.Draw(image).rectangle((index * 4, 0, index * 4 + 3, 23), fill="yellow")
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]  # PyAV
            frame.pts, frame.time_base = index, Fraction(1, 8)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


SAMPLES = {
    "photo.png": (_photo("PNG"), "image/png"),
    "photo.jpg": (_photo("JPEG"), "image/jpeg"),
    "clip.mp4": (_clip(), "video/mp4"),
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

"""What the media functions exchange: produced files, their errors, and input decoding."""

from __future__ import annotations

import io

import attrs
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_OUTPUT_PIXELS = 40_000_000
"""Largest image or video frame an emulator will produce; emulators work on small inputs."""


class MediaError(Exception):
    """The input cannot be processed: unreadable, or too large for an emulator."""


@attrs.frozen
class MediaFile:
    """One produced file: its bytes, MIME type and pixel size (and duration for video)."""

    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    mime_type: str
    width: int
    height: int
    duration: float | None = None
    """Seconds, for video."""


@attrs.frozen
class SpeedPaint:
    """The two results of a speed painting: the video and the sketch it starts from."""

    video: MediaFile
    sketch: MediaFile


def open_image(data: bytes) -> Image.Image:
    """Decode image bytes (fully loaded, EXIF orientation applied) or raise :class:`MediaError`.

    ``format`` of the result is the input's format (``"PNG"``, ``"JPEG"``...).
    """
    if not data:
        raise MediaError("the input is empty (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_OUTPUT_PIXELS:
            raise MediaError(f"a {image.width}x{image.height} input is too large for the emulator")
        image.load()
        upright = ImageOps.exif_transpose(image)
    except UnidentifiedImageError as exc:  # its text names a BytesIO object: say it plainly
        raise MediaError("the input is not an image (its format is not one we can read)") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"the input is not a readable image ({exc})") from exc
    upright.format = image.format
    return upright

"""Real video work for emulators with PyAV: H.264 in MP4, yuv420p, small and fast."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from fractions import Fraction

import av
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from mediatask.emulator.mediatypes import (
    MAX_OUTPUT_PIXELS,
    MediaError,
    MediaFile,
    SpeedPaint,
    open_image,
)

DEFAULT_FPS = Fraction(24)
"""Frame rate assumed for an input video that declares none."""


def _even(value: int) -> int:
    return max(2, value - value % 2)


def _encode(frames: Iterable[av.VideoFrame], width: int, height: int, fps: Fraction) -> bytes:
    """Encode frames (any size and format) as an H.264 MP4 of ``width`` x ``height`` (even)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        time_base = Fraction(1) / fps
        for index, frame in enumerate(frames):
            frame = frame.reformat(width=width, height=height, format="yuv420p")
            frame.pts, frame.time_base = index, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def _frame(image: Image.Image) -> av.VideoFrame:
    frame: av.VideoFrame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]  # untyped in PyAV
    return frame


def upscale_video(data: bytes, scale: int = 2) -> MediaFile:
    """Decode a video and re-encode every frame ``scale`` times larger (H.264 MP4, no audio).

    Dimensions are rounded down to even numbers, as yuv420p requires.
    """
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    try:
        with av.open(io.BytesIO(data), mode="r") as source:
            if not source.streams.video:
                raise MediaError("the input has no video stream")
            stream = source.streams.video[0]
            fps = Fraction(stream.average_rate or stream.guessed_rate or DEFAULT_FPS)
            width = _even(stream.codec_context.width * scale)
            height = _even(stream.codec_context.height * scale)
            if width * height > MAX_OUTPUT_PIXELS:
                raise MediaError(f"output of {width}x{height} is too large for the emulator")
            counted = _Counted(source.decode(stream))
            encoded = _encode(counted, width, height, fps)
    except av.FFmpegError as exc:
        raise MediaError(f"the input is not a readable video ({exc})") from exc
    if counted.count == 0:
        raise MediaError("the input video has no frames")
    return MediaFile(encoded, "video/mp4", width, height, duration=float(counted.count / fps))


class _Counted:
    """Pass frames through, counting them (the duration is frames / fps)."""

    def __init__(self, frames: Iterable[av.VideoFrame]) -> None:
        self._frames = frames
        self.count = 0

    def __iter__(self) -> Iterator[av.VideoFrame]:
        for frame in self._frames:
            self.count += 1
            yield frame


def speedpaint_video(
    image_data: bytes,
    sketch_seconds: float,
    fill_seconds: float,
    fps: int,
    *,
    max_width: int = 320,
) -> SpeedPaint:
    """A "speed painting" of an image: a sketch drawn top to bottom, then filled with colour.

    The sketch is the image's edges (``FIND_EDGES``, greyscale, dark lines on white), also
    returned as a PNG. The video (H.264 MP4) is at most ``max_width`` pixels wide.
    """
    if fps < 1 or sketch_seconds < 0 or fill_seconds < 0:
        raise ValueError("fps must be positive and durations not negative")
    image = _fitted(open_image(image_data).convert("RGB"), max_width)
    width, height = image.size
    edges = image.convert("L").filter(ImageFilter.FIND_EDGES)
    sketch = ImageOps.autocontrast(ImageOps.invert(edges)).convert("RGB")
    sketch_frames = max(1, round(sketch_seconds * fps))
    fill_frames = max(1, round(fill_seconds * fps))
    painting = _painting(image, sketch, sketch_frames, fill_frames)
    video = _encode(painting, width, height, Fraction(fps))
    sketch_png = io.BytesIO()
    sketch.convert("L").save(sketch_png, "PNG")
    total = (sketch_frames + fill_frames) / fps
    return SpeedPaint(
        video=MediaFile(video, "video/mp4", width, height, duration=total),
        sketch=MediaFile(sketch_png.getvalue(), "image/png", width, height),
    )


def _fitted(image: Image.Image, max_width: int) -> Image.Image:
    """``image`` at most ``max_width`` wide (its proportions kept), cropped to even sides."""
    if image.width > max_width:
        image = image.resize((max_width, max(2, round(image.height * max_width / image.width))))
    return image.crop((0, 0, _even(image.width), _even(image.height)))


def _painting(
    image: Image.Image, sketch: Image.Image, sketch_frames: int, fill_frames: int
) -> Iterator[av.VideoFrame]:
    """The frames of a speed painting: ``sketch`` drawn top to bottom, then ``image`` over it."""
    width, height = image.size
    white = Image.new("RGB", image.size, "white")
    for index in range(1, sketch_frames + 1):
        mask = Image.new("L", image.size, 0)
        ImageDraw.Draw(mask).rectangle((0, 0, width, height * index // sketch_frames), 255)
        yield _frame(Image.composite(sketch, white, mask))
    for index in range(1, fill_frames + 1):
        yield _frame(Image.blend(sketch, image, index / fill_frames))

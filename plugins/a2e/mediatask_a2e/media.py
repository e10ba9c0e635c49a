"""Real media for the A2E emulator: short H.264 MP4s from an image or a video, MP3 speech.

Pure, blocking, CPU-bound functions (the emulator runs them in worker threads), built on PyAV
and Pillow like the core's media toolkit. Outputs are small on purpose: at most
``MAX_WIDTH`` pixels wide, a few seconds long. Unreadable input raises ``MediaError``.
"""

from __future__ import annotations

import io
import math
from array import array
from collections.abc import Callable, Iterator
from fractions import Fraction

import av
from PIL import Image, ImageDraw, ImageFilter

from mediatask.emulator import MediaError, MediaFile, open_image

MAX_WIDTH = 320
"""Widest frame the emulator renders."""
FPS = 12
"""Frame rate of every produced video."""
SAMPLE_RATE = 22050
"""Sample rate of produced audio."""
MAX_FRAMES = 48
"""At most this many frames are read from an input video (4 s at 12 fps)."""

Effect = Callable[[Image.Image, int, int], Image.Image]
"""Draws on frame ``index`` of ``count``; returns the frame to encode."""


def _even(value: int) -> int:
    return max(2, value - value % 2)


def _fit(image: Image.Image) -> Image.Image:
    """RGB, at most MAX_WIDTH wide, even dimensions (yuv420p needs them)."""
    image = image.convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, max(2, round(image.height * MAX_WIDTH / image.width))))
    return image.crop((0, 0, _even(image.width), _even(image.height)))


def tones(text: str, seconds: float) -> array[int]:
    """Mono 16-bit samples: one short tone per letter of ``text``, pitch from the letter."""
    letters = [c for c in text if not c.isspace()] or ["a"]
    total = max(1, round(seconds * SAMPLE_RATE))
    per_letter = max(1, total // len(letters))
    samples = array("h")
    for index in range(total):
        letter = letters[min(index // per_letter, len(letters) - 1)]
        frequency = 220 + (ord(letter) % 48) * 15
        envelope = min(1.0, (index % per_letter) / 200, (per_letter - index % per_letter) / 200)
        phase = 2 * math.pi * frequency * index / SAMPLE_RATE
        samples.append(round(9000 * envelope * math.sin(phase)))
    return samples


def _audio_frames(samples: array[int]) -> Iterator[av.AudioFrame]:
    chunk = 4096
    for start in range(0, len(samples), chunk):
        piece = samples[start : start + chunk]
        frame = av.AudioFrame(format="s16p", layout="mono", samples=len(piece))
        frame.planes[0].update(piece.tobytes())
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
        yield frame


def speech_mp3(text: str, speed: float = 1.0) -> MediaFile:
    """An MP3 "reading" of ``text``: 0.08 s of tone per letter at ``speed``, 1 to 8 seconds."""
    seconds = min(8.0, max(1.0, 0.08 * len(text) / max(speed, 0.1)))
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=SAMPLE_RATE, layout="mono")
        for frame in _audio_frames(tones(text, seconds)):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return MediaFile(buffer.getvalue(), "audio/mpeg", 0, 0, duration=seconds)


def _encode(images: list[Image.Image], audio_text: str | None = None) -> MediaFile:
    """Encode same-sized RGB frames at FPS as H.264 MP4, with an AAC track if ``audio_text``."""
    if not images:
        raise MediaError("nothing to encode: no frames")
    width, height = images[0].size
    seconds = len(images) / FPS
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = (
            container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
            if audio_text is not None
            else None
        )
        for index, image in enumerate(images):
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]  # untyped in PyAV
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None and audio_text is not None:
            for chunk in _audio_frames(tones(audio_text, seconds)):
                container.mux(audio.encode(chunk))
            container.mux(audio.encode(None))
    return MediaFile(buffer.getvalue(), "video/mp4", width, height, duration=seconds)


def talking(image: Image.Image, index: int, count: int) -> Image.Image:
    """Draw a mouth that opens and closes, in the lower middle of the frame."""
    frame = image.copy()
    width, height = frame.size
    opening = abs(math.sin(index * math.pi / 3)) * height / 24
    centre_x, centre_y = width / 2, height * 0.7
    box = (centre_x - width / 10, centre_y - opening, centre_x + width / 10, centre_y + opening + 1)
    ImageDraw.Draw(frame).ellipse(box, fill=(120, 20, 30), outline=(60, 0, 0))
    return frame


def zooming(image: Image.Image, index: int, count: int) -> Image.Image:
    """A slow push-in (Ken Burns) from the whole image to its central 85 %."""
    width, height = image.size
    shrink = 0.15 * index / max(1, count - 1)
    dx, dy = width * shrink / 2, height * shrink / 2
    return image.resize((width, height), box=(dx, dy, width - dx, height - dy))


def blur_captions(image: Image.Image, index: int, count: int) -> Image.Image:
    """Blur the bottom fifth of the frame, where subtitles sit."""
    frame = image.copy()
    top = frame.height * 4 // 5
    band = frame.crop((0, top, frame.width, frame.height)).filter(ImageFilter.GaussianBlur(6))
    frame.paste(band, (0, top))
    return frame


def face_pasting(face: Image.Image) -> Effect:
    """An effect that pastes ``face`` in a circle over the upper middle of each frame."""

    def paste(image: Image.Image, index: int, count: int) -> Image.Image:
        frame = image.copy()
        side = _even(max(8, min(frame.size) // 2))
        disc = face.convert("RGB").resize((side, side))
        mask = Image.new("L", (side, side), 0)
        ImageDraw.Draw(mask).ellipse((0, 0, side - 1, side - 1), fill=255)
        frame.paste(disc, ((frame.width - side) // 2, frame.height // 8), mask)
        return frame

    return paste


def image_video(
    data: bytes, seconds: float, effects: tuple[Effect, ...], audio_text: str | None = None
) -> MediaFile:
    """A ``seconds``-long MP4 made from one image, each frame passed through ``effects``.

    With ``audio_text`` the video gets an AAC track of tones spelling it.
    """
    still = _fit(open_image(data))
    count = max(1, round(seconds * FPS))
    frames = []
    for index in range(count):
        frame = still
        for effect in effects:
            frame = effect(frame, index, count)
        frames.append(frame)
    return _encode(frames, audio_text)


def video_video(
    data: bytes, effects: tuple[Effect, ...], *, audio_text: str | None = None
) -> MediaFile:
    """Re-encode up to MAX_FRAMES frames of a video through ``effects`` (plus a new audio track)."""
    try:
        with av.open(io.BytesIO(data), mode="r") as source:
            if not source.streams.video:
                raise MediaError("the input has no video stream")
            images: list[Image.Image] = []
            for decoded in source.decode(source.streams.video[0]):
                picture = decoded.to_image()  # type: ignore[no-untyped-call]  # untyped in PyAV
                images.append(_fit(picture))
                if len(images) >= MAX_FRAMES:
                    break
    except av.FFmpegError as exc:
        raise MediaError(f"the input is not a readable video ({exc})") from exc
    if not images:
        raise MediaError("the input video has no frames")
    size = images[0].size
    frames = []
    for index, image in enumerate(images):
        frame = image if image.size == size else image.resize(size)
        for effect in effects:
            frame = effect(frame, index, len(images))
        frames.append(frame)
    return _encode(frames, audio_text)


def face_swap(video: bytes, face: bytes) -> MediaFile:
    """The video with the face image pasted over each frame (``MediaError`` if unreadable)."""
    return video_video(video, (face_pasting(open_image(face)),))

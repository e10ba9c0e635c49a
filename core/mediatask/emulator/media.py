"""Real media work for emulators, on small inputs: Pillow for images, PyAV for video.

Every function is pure (bytes and parameters in, a :class:`MediaFile` out), blocking and
CPU-bound: emulators run them in worker threads. Unreadable or oversized input raises
:class:`MediaError`. Provider-neutral, so every emulator can reuse them.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import textwrap

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps, ImageStat

from mediatask.emulator.mediatypes import (
    MAX_OUTPUT_PIXELS,
    MediaError,
    MediaFile,
    SpeedPaint,
    open_image,
)
from mediatask.emulator.video import speedpaint_video, upscale_video

__all__ = [
    "MAX_OUTPUT_PIXELS",
    "MediaError",
    "MediaFile",
    "SpeedPaint",
    "extend_image",
    "generate_image",
    "open_image",
    "remove_background",
    "speedpaint_video",
    "thumbnail",
    "upscale_image",
    "upscale_video",
    "vectorize",
]

VECTOR_GRID = 96
"""An SVG from :func:`vectorize` has at most this many cells along its longer side."""
VECTOR_COLOURS = 8


def _encode(image: Image.Image, family: str) -> MediaFile:
    """Encode as PNG, or JPEG when ``family`` is JPEG and the image has no alpha."""
    buffer = io.BytesIO()
    if family == "JPEG" and image.mode in ("RGB", "L"):
        image.save(buffer, "JPEG", quality=90)
        mime_type = "image/jpeg"
    else:
        image.save(buffer, "PNG")
        mime_type = "image/png"
    return MediaFile(buffer.getvalue(), mime_type, image.width, image.height)


def _family(image: Image.Image) -> str:
    return "JPEG" if image.format in ("JPEG", "MPO") else "PNG"


def _workable(image: Image.Image) -> Image.Image:
    """Convert palette, bilevel and other modes to RGB, or RGBA when they carry transparency."""
    if image.mode in ("RGB", "RGBA", "L"):
        return image
    if image.mode in ("LA", "PA", "RGBa", "La") or "transparency" in image.info:
        return image.convert("RGBA")
    return image.convert("RGB")


def _check_output_size(width: int, height: int) -> None:
    if width * height > MAX_OUTPUT_PIXELS:
        raise MediaError(
            f"output of {width}x{height} exceeds the emulator's {MAX_OUTPUT_PIXELS} pixels"
        )


def upscale_image(data: bytes, scale: int) -> MediaFile:
    """Enlarge an image exactly ``scale`` times in each dimension (LANCZOS), same format family."""
    if scale < 1:
        raise ValueError(f"scale must be at least 1, got {scale}")
    image = open_image(data)
    width, height = image.width * scale, image.height * scale
    _check_output_size(width, height)
    return _encode(
        _workable(image).resize((width, height), Image.Resampling.LANCZOS), _family(image)
    )


def thumbnail(data: bytes, max_side: int = 256) -> MediaFile:
    """A small preview: at most ``max_side`` pixels a side; PNG if it has alpha, else JPEG."""
    image = _workable(open_image(data))
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return _encode(image, "JPEG")


def _border_mask(size: tuple[int, int]) -> Image.Image:
    width, height = size
    band = max(1, min(width, height) // 20)
    mask = Image.new("L", size, 255)
    if width > 2 * band and height > 2 * band:
        ImageDraw.Draw(mask).rectangle((band, band, width - band - 1, height - band - 1), fill=0)
    return mask


def _otsu(histogram: list[int]) -> int:
    """The grey level that best splits a 256-bin histogram into two classes (Otsu's method)."""
    total = sum(histogram)
    weighted_total = sum(level * count for level, count in enumerate(histogram))
    below = weighted_below = 0
    best_level, best_variance = 0, -1.0
    for level, count in enumerate(histogram):
        below += count
        weighted_below += level * count
        above = total - below
        if below == 0 or above == 0:
            continue
        mean_below = weighted_below / below
        mean_above = (weighted_total - weighted_below) / above
        variance = below * above * (mean_below - mean_above) ** 2
        if variance > best_variance:
            best_level, best_variance = level, variance
    return best_level


def remove_background(data: bytes) -> MediaFile:
    """Cut out the subject: pixels close to the border's colour become transparent (soft edge).

    The background colour is the median of a band along the border; "close" is decided by
    Otsu's threshold on the colour distance, clamped so that noise and faint subjects survive.
    """
    image = _workable(open_image(data))
    rgb = image.convert("RGB")
    background = tuple(int(v) for v in ImageStat.Stat(rgb, _border_mask(rgb.size)).median)
    difference = ImageChops.difference(rgb, Image.new("RGB", rgb.size, background))
    red, green, blue = difference.split()
    distance = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    threshold, soft = min(max(_otsu(distance.histogram()), 24), 160), 12
    ramp = [
        min(255, max(0, round(255 * (level - threshold + soft) / (2 * soft))))
        for level in range(256)
    ]
    alpha = distance.point(ramp).filter(ImageFilter.GaussianBlur(1))
    cutout = image.convert("RGBA")
    cutout.putalpha(ImageChops.multiply(cutout.getchannel("A"), alpha))
    return _encode(cutout, "PNG")


def vectorize(data: bytes) -> MediaFile:
    """Trace an image into an SVG: a few flat colours, one ``<path>`` of row runs per colour.

    The SVG's ``width``, ``height`` and ``viewBox`` are the input's pixel dimensions.
    """
    image = _workable(open_image(data)).convert("RGB")
    width, height = image.size
    cell = max(1, math.ceil(max(width, height) / VECTOR_GRID))
    columns, rows = math.ceil(width / cell), math.ceil(height / cell)
    small = image.resize((columns, rows), Image.Resampling.BOX)
    quantised = small.quantize(colors=VECTOR_COLOURS, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette() or []
    indices = quantised.tobytes()  # one palette index per pixel
    runs: dict[int, list[str]] = {}
    for y in range(rows):
        row = indices[y * columns : (y + 1) * columns]
        x = 0
        while x < columns:
            end = x
            while end < columns and row[end] == row[x]:
                end += 1
            runs.setdefault(row[x], []).append(f"M{x} {y}h{end - x}v1h-{end - x}z")
            x = end
    paths = "".join(
        f'<path fill="#{palette[3 * i]:02x}{palette[3 * i + 1]:02x}{palette[3 * i + 2]:02x}" '
        f'd="{"".join(segments)}"/>'
        for i, segments in sorted(runs.items())
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" shape-rendering="crispEdges">'
        f'<g transform="scale({cell})">{paths}</g></svg>'
    )
    return MediaFile(svg.encode(), "image/svg+xml", width, height)


def extend_image(data: bytes, factor: float = 1.5) -> MediaFile:
    """Enlarge the canvas ``factor`` times, the original centred on a blurred mirror of itself."""
    if not 1.0 <= factor <= 3.0:
        raise ValueError(f"factor must be between 1 and 3, got {factor}")
    image = _workable(open_image(data))
    width, height = image.size
    new_width, new_height = round(width * factor), round(height * factor)
    _check_output_size(new_width, new_height)
    mirrored = ImageOps.mirror(image)
    tiles = {
        (0, 0): image,
        (1, 0): mirrored,
        (0, 1): ImageOps.flip(image),
        (1, 1): ImageOps.flip(mirrored),
    }
    canvas = Image.new(image.mode, (3 * width, 3 * height))
    for column in range(3):
        for row in range(3):
            canvas.paste(tiles[(column % 2, row % 2)], (column * width, row * height))
    left, top = (3 * width - new_width) // 2, (3 * height - new_height) // 2
    extended = canvas.crop((left, top, left + new_width, top + new_height))
    extended = extended.filter(ImageFilter.GaussianBlur(max(2, min(width, height) / 15)))
    extended.paste(image, ((new_width - width) // 2, (new_height - height) // 2))
    return _encode(extended, _family(image))


def generate_image(prompt: str, width: int = 512, height: int = 512) -> MediaFile:
    """A deterministic PNG from ``prompt``: a seeded gradient and shapes, with the prompt drawn."""
    _check_output_size(width, height)
    digest = hashlib.sha256(prompt.encode()).digest()
    rng = random.Random(digest)  # noqa: S311  # the same prompt must give the same picture
    start, end = tuple(digest[0:3]), tuple(digest[3:6])
    ramp = Image.linear_gradient("L")
    gradient = Image.blend(ramp, ramp.transpose(Image.Transpose.ROTATE_90), rng.random())
    gradient = gradient.resize((width, height))
    image = ImageOps.colorize(gradient, start, end).convert("RGBA")
    overlay = Image.new("RGBA", image.size)
    draw = ImageDraw.Draw(overlay)
    for _ in range(3 + digest[6] % 5):
        x, y = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        size = rng.uniform(0.1, 0.5) * min(width, height)
        fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256), rng.randrange(90, 200))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x, y, x + size, y + size * rng.uniform(0.5, 1.5)), fill=fill)
    image = Image.alpha_composite(image, overlay)
    _draw_caption(image, prompt)
    return _encode(image.convert("RGB"), "PNG")


def _draw_caption(image: Image.Image, text: str) -> None:
    size = max(10, image.width // 28)
    font = ImageFont.load_default(size=size)
    lines = textwrap.wrap(text, width=max(8, int(image.width / (size * 0.6))))[:4]
    if not lines:
        return
    band_height = (len(lines) + 1) * size * 1.2
    overlay = ImageDraw.Draw(image, "RGBA")
    overlay.rectangle((0, image.height - band_height, image.width, image.height), (0, 0, 0, 140))
    overlay.multiline_text(
        (size, image.height - band_height + size * 0.6), "\n".join(lines), font=font, fill="white"
    )

"""The emulator's Pillow work, as pure functions: each fit, background, adjustment and format."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageStat

from mediatask.testing import sample_photo
from mediatask_claid.imaging import Edited, edit
from mediatask_claid.ratelimit import SlidingWindows

SOURCE = sample_photo("PNG", (64, 48))


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def run(
    operations: dict[str, Any], output: Any = None, data: bytes = SOURCE
) -> tuple[Edited, Image.Image]:
    document: dict[str, Any] = {"operations": operations}
    if output is not None:
        document["output"] = output
    done = edit(data, document)
    image = Image.open(io.BytesIO(done.data))
    image.load()
    return done, image


@pytest.mark.parametrize(
    ("resizing", "size"),
    [
        ({"width": 1000}, (1000, 750)),
        ({"height": 24}, (32, 24)),
        ({"width": "50%"}, (32, 24)),
        ({"width": "auto", "height": "auto"}, (64, 48)),
        ({"width": 32, "height": 32}, (32, 32)),  # fit defaults to crop
        ({"width": 32, "height": 32, "fit": "crop"}, (32, 32)),
        ({"width": 32, "height": 32, "fit": {"type": "crop", "crop": "smart"}}, (32, 32)),
        ({"width": 32, "height": 32, "fit": "bounds"}, (32, 24)),
        ({"width": 32, "height": 32, "fit": "cover"}, (43, 32)),
        ({"width": 32, "height": 32, "fit": "canvas"}, (32, 32)),
        ({"width": 32, "height": 32, "fit": {"type": "outpaint", "feathering": "10%"}}, (32, 32)),
    ],
)
def test_resizing_fits(resizing: dict[str, Any], size: tuple[int, int]) -> None:
    done, image = run({"resizing": resizing})
    assert image.size == size
    assert (done.output_object["width"], done.output_object["height"]) == size


def test_canvas_pads_with_white_and_outpaint_with_the_image() -> None:
    _, canvas = run({"resizing": {"width": 32, "height": 32, "fit": "canvas"}}, {"format": "png"})
    _, outpainted = run(
        {"resizing": {"width": 32, "height": 32, "fit": "outpaint"}}, {"format": "png"}
    )
    assert pixel(canvas.convert("RGB"), (16, 1)) == (255, 255, 255)
    assert pixel(outpainted.convert("RGB"), (16, 1)) != (255, 255, 255)


def test_background_removal_gives_a_png_with_alpha() -> None:
    done, image = run({"background": {"remove": True}}, {"format": "png"})
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    assert pixel(image, (1, 1))[3] == 0  # the background is gone
    assert pixel(image, (32, 24))[3] == 255  # the subject stays
    assert done.output_object["format"] == "PNG"


def test_background_colour_and_blur() -> None:
    _, green = run({"background": {"remove": True, "color": "#00ff00"}}, {"format": "png"})
    assert pixel(green.convert("RGB"), (1, 1)) == (0, 255, 0)
    _, blurred = run({"background": {"blur": {"level": "high"}}}, {"format": "png"})
    assert blurred.size == (64, 48)
    _, jpeg = run({"background": {"remove": True}})  # JPEG has no alpha: white behind
    assert jpeg.mode == "RGB"
    assert min(pixel(jpeg, (1, 1))) > 240


def test_adjustments_change_the_pixels() -> None:
    _, plain = run({}, {"format": "png"})
    _, brighter = run({"adjustments": {"exposure": 60}}, {"format": "png"})
    _, grey = run({"adjustments": {"saturation": -100}}, {"format": "png"})
    _, sharp = run(
        {"adjustments": {"hdr": {"intensity": 80}, "contrast": 30, "sharpness": 50}},
        {"format": "png"},
    )
    assert sum(ImageStat.Stat(brighter).mean) > sum(ImageStat.Stat(plain).mean)
    red, green, blue = pixel(grey.convert("RGB"), (32, 24))
    assert abs(red - green) < 3
    assert abs(green - blue) < 3
    assert sharp.size == (64, 48)


def test_padding_is_a_share_of_each_side() -> None:
    _, one = run({"padding": "10%"})
    _, two = run({"padding": "5% 25%"})
    assert one.size == (64 + 2 * 6, 48 + 2 * 5)
    assert two.size == (64 + 2 * 16, 48 + 2 * 2)


def test_restorations_style_and_privacy_keep_the_size() -> None:
    operations = {
        "restorations": {"decompress": "strong", "upscale": "smart_enhance", "polish": True},
        "privacy": {"blur_car_plate": True},
        "generative": {"style_transfer": {"style_reference_image": "https://x.test/s.png"}},
    }
    _, image = run(operations)
    assert image.size == (64, 48)


@pytest.mark.parametrize(
    ("output", "pillow_format", "mime"),
    [
        (None, "JPEG", "image/jpeg"),
        ({"format": "png"}, "PNG", "image/png"),
        ({"format": {"type": "png", "compression": "best"}}, "PNG", "image/png"),
        ({"format": "webp"}, "WEBP", "image/webp"),
        ({"format": {"type": "webp", "compression": "lossless"}}, "WEBP", "image/webp"),
        ({"format": "avif"}, "AVIF", "image/avif"),
        ({"format": "tiff"}, "TIFF", "image/tiff"),
        (
            {"format": {"type": "tiff", "compression": {"type": "lossy", "quality": 60}}},
            "TIFF",
            "image/tiff",
        ),
    ],
)
def test_output_formats_are_real_and_described(output: Any, pillow_format: str, mime: str) -> None:
    done, image = run({"background": {"remove": True}}, output)
    assert image.format == pillow_format
    assert done.output_object == {
        "ext": pillow_format.lower(),
        "mps": 0.003072,
        "mime": mime,
        "format": pillow_format,
        "width": 64,
        "height": 48,
    }
    assert done.input_object["format"] == "PNG"


def test_jpeg_quality_progressive_dpi_and_cmyk() -> None:
    big = sample_photo("PNG", (256, 192))
    low, _ = run({}, {"format": {"type": "jpeg", "quality": 5}}, big)
    high, _ = run({}, {"format": {"type": "jpeg", "quality": 95}}, big)
    assert len(low.data) < len(high.data)
    _, image = run({}, {"format": {"type": "jpeg", "progressive": True}, "metadata": {"dpi": 300}})
    assert image.info.get("progressive") or image.info.get("progression")
    assert round(image.info["dpi"][0]) == 300
    _, cmyk = run({}, {"format": "jpeg", "metadata": {"color_space": {"type": "CMYK"}}})
    assert cmyk.mode == "CMYK"


def test_sliding_windows_admit_and_report() -> None:
    windows = SlidingWindows(((2, 1.0), (3, 60.0)))
    assert windows.admit(0.0)
    assert windows.headers(0.0) == {  # normally the longest window, as the vendor shows
        "RateLimit-Limit": "3, 3;w=60, 2;w=1",
        "RateLimit-Remaining": "2",
        "RateLimit-Reset": "60",
    }
    assert windows.admit(0.5)
    assert windows.headers(0.5) == {  # the window that ran out, when one has
        "RateLimit-Limit": "2, 3;w=60, 2;w=1",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "1",
    }
    assert not windows.admit(0.9)  # 2 per second
    assert windows.admit(1.2)
    assert not windows.admit(5.0)  # 3 per minute
    assert windows.headers(5.0, refused=True) == {
        "RateLimit-Limit": "3, 3;w=60, 2;w=1",
        "RateLimit-Remaining": "-1",
        "RateLimit-Reset": "55",
    }
    assert windows.admit(60.5)
    fractional = SlidingWindows(((4, 0.1),))
    fractional.admit(10.0)
    assert fractional.headers(10.02)["RateLimit-Reset"] == "0.080"

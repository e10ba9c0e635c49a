"""The emulator's real work: Claid's edit operations done with Pillow on small images.

:func:`edit` is pure and blocking (the emulator runs it in a worker thread). Stand-ins, where a
real model would be needed: upscaling is LANCZOS plus sharpening, decompression a median filter,
background removal the toolkit's border-colour cut-out, outpainting a blurred mirror of the
image, style transfer a posterised blend; privacy operations change nothing.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import attrs
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from mediatask.emulator import MAX_OUTPUT_PIXELS, MediaError, media, open_image

MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "AVIF": "image/avif",
    "TIFF": "image/tiff",
}
_PNG_LEVELS = {"fast": 1, "optimal": 6, "best": 9}


@attrs.frozen
class Edited:
    """An edit's outcome: Claid's descriptions of the input and output, and the output bytes."""

    input_object: Mapping[str, Any]
    output_object: Mapping[str, Any]
    data: bytes = attrs.field(repr=lambda data: f"<{len(data)} bytes>")
    mime_type: str
    ext: str


def describe(image_format: str, width: int, height: int) -> dict[str, Any]:
    """Claid's image object: ext, mps (a float), mime, format (upper case), width, height."""
    name = image_format.upper()
    return {
        "ext": name.lower(),
        "mps": round(width * height / 1e6, 6),
        "mime": MIME.get(name, Image.MIME.get(name, "application/octet-stream")),
        "format": name,
        "width": width,
        "height": height,
    }


def _size(value: Any, original: int) -> int | None:
    if value is None or value == "auto":
        return None
    if isinstance(value, str):  # "150%"
        return max(1, round(original * float(value[:-1]) / 100))
    return int(value)


def _fit_name(fit: Any) -> str:
    return str(fit.get("type", "crop")) if isinstance(fit, Mapping) else str(fit or "crop")


def _mirror_canvas(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A canvas of ``size`` filled with a blurred, stretched copy of ``image`` (outpainting)."""
    return image.resize(size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(12))


def resize(image: Image.Image, resizing: Mapping[str, Any] | None) -> Image.Image:
    """Apply ``operations.resizing``: each ``fit`` as Claid describes it."""
    if not resizing:
        return image
    width = _size(resizing.get("width"), image.width)
    height = _size(resizing.get("height"), image.height)
    if width is None and height is None:
        return image
    if width is None or height is None:  # one side given: keep the aspect ratio
        scale = (width / image.width) if width is not None else (height or 1) / image.height
        target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        _check(target)
        return image.resize(target, Image.Resampling.LANCZOS)
    _check((width, height))
    fit = _fit_name(resizing.get("fit"))
    if fit == "crop":
        return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
    if fit == "cover":  # cover the box, keep the ratio, crop nothing
        scale = max(width / image.width, height / image.height)
        target = (round(image.width * scale), round(image.height * scale))
        _check(target)
        return image.resize(target, Image.Resampling.LANCZOS)
    inside = ImageOps.contain(image, (width, height), Image.Resampling.LANCZOS)
    if fit == "bounds":
        return inside
    if fit == "canvas":
        fill = (255, 255, 255, 0) if inside.mode == "RGBA" else "white"
        canvas = Image.new(inside.mode, (width, height), fill)
    else:  # outpaint
        canvas = _mirror_canvas(inside, (width, height))
    canvas.paste(inside, ((width - inside.width) // 2, (height - inside.height) // 2))
    return canvas


def _check(size: tuple[int, int]) -> None:
    if size[0] * size[1] > MAX_OUTPUT_PIXELS:
        raise MediaError(f"an output of {size[0]}x{size[1]} is too large for the emulator")


def adjust(image: Image.Image, adjustments: Mapping[str, Any] | None) -> Image.Image:
    """Apply ``operations.adjustments`` (hdr, exposure, saturation, contrast, sharpness)."""
    if not adjustments:
        return image
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    rgb = image.convert("RGB")
    hdr = adjustments.get("hdr")
    intensity = hdr.get("intensity", 100) if isinstance(hdr, Mapping) else hdr
    if intensity:
        rgb = Image.blend(rgb, ImageOps.autocontrast(rgb, cutoff=2), intensity / 100)
    for name, enhancer in (
        ("exposure", ImageEnhance.Brightness),
        ("saturation", ImageEnhance.Color),
        ("contrast", ImageEnhance.Contrast),
    ):
        if adjustments.get(name):
            rgb = enhancer(rgb).enhance(1 + adjustments[name] / 100)
    if adjustments.get("sharpness"):
        rgb = ImageEnhance.Sharpness(rgb).enhance(1 + adjustments["sharpness"] / 50)
    if alpha is not None:
        rgb.putalpha(alpha)
    return rgb


def _colour(value: str) -> tuple[int, int, int, int]:
    if value == "transparent":
        return (255, 255, 255, 0)
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16), 255)


def background(image: Image.Image, options: Mapping[str, Any] | None) -> Image.Image:
    """Apply ``operations.background``: remove (alpha), replace by a colour, or blur it."""
    if not options:
        return image
    remove, blur, color = options.get("remove"), options.get("blur"), options.get("color")
    if not (remove or blur or color):
        return image
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    cutout = open_image(media.remove_background(buffer.getvalue()).data).convert("RGBA")
    if blur:
        level = blur.get("level", "medium") if isinstance(blur, Mapping) else "medium"
        radius = {"low": 3, "medium": 6, "high": 12}[level]
        behind = image.convert("RGBA").filter(ImageFilter.GaussianBlur(radius))
        return Image.alpha_composite(behind, cutout)
    if remove and (color is None or color == "transparent"):
        return cutout
    behind = Image.new("RGBA", image.size, _colour(color or "#ffffff"))
    return Image.alpha_composite(behind, cutout if remove or color else image.convert("RGBA"))


def pad(image: Image.Image, padding: str | None) -> Image.Image:
    """Apply ``operations.padding``: CSS-like percentages of the image's own size."""
    if not padding:
        return image
    values = [float(part[:-1]) / 100 for part in padding.split()]
    top, right, bottom, left = (values * 4)[:4] if len(values) == 1 else _css(values)
    borders = (
        round(left * image.width),
        round(top * image.height),
        round(right * image.width),
        round(bottom * image.height),
    )
    fill: Any = (255, 255, 255, 0) if image.mode == "RGBA" else "white"
    return ImageOps.expand(image, borders, fill)


def _css(values: list[float]) -> tuple[float, float, float, float]:
    if len(values) == 2:
        return values[0], values[1], values[0], values[1]
    if len(values) == 3:
        return values[0], values[1], values[2], values[1]
    return values[0], values[1], values[2], values[3]


def restore(image: Image.Image, options: Mapping[str, Any] | None) -> Image.Image:
    """Apply ``operations.restorations`` (stand-ins: see the module docstring)."""
    if not options:
        return image
    if options.get("decompress"):
        image = image.filter(ImageFilter.MedianFilter(3))
    if options.get("upscale") or options.get("polish"):
        image = image.filter(ImageFilter.UnsharpMask(2, 60, 2))
    return image


def stylise(image: Image.Image, generative: Mapping[str, Any] | None) -> Image.Image:
    """Apply ``operations.generative.style_transfer`` (a posterised blend, as a stand-in)."""
    style = (generative or {}).get("style_transfer")
    if not style:
        return image
    rgb = image.convert("RGB")
    strength = float(style.get("style_strength", 0.75))
    styled = Image.blend(rgb, ImageOps.posterize(rgb, 3), strength)
    if image.mode == "RGBA":
        styled.putalpha(image.getchannel("A"))
    return styled


def _format(output: Any) -> tuple[str, Mapping[str, Any]]:
    spec = output.get("format", "jpeg") if isinstance(output, Mapping) else "jpeg"
    if isinstance(spec, Mapping):
        return str(spec["type"]), spec
    return str(spec), {}


def _compression(spec: Mapping[str, Any], default_quality: int, lossless: bool) -> tuple[bool, int]:
    """(lossless?, quality) from a webp/avif/tiff ``compression``."""
    value = spec.get("compression", "lossless" if lossless else "lossy")
    if isinstance(value, Mapping):
        return value["type"] == "lossless", int(value.get("quality", default_quality))
    return value == "lossless", default_quality


def _flatten(image: Image.Image) -> Image.Image:
    """Drop transparency onto white (for formats or modes without alpha)."""
    if image.mode not in ("RGBA", "LA", "P"):
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def encode(image: Image.Image, output: Any) -> tuple[bytes, str]:
    """Encode per ``output.format`` (and ``metadata``); returns the bytes and Pillow's format."""
    name, spec = _format(output)
    metadata = output.get("metadata") if isinstance(output, Mapping) else None
    options: dict[str, Any] = {}
    if metadata and metadata.get("dpi"):
        options["dpi"] = (metadata["dpi"], metadata["dpi"])
    space = (metadata or {}).get("color_space")
    cmyk = (space.get("type") if isinstance(space, Mapping) else space) == "CMYK"
    if name == "jpeg":
        image = _flatten(image)
        image = image.convert("CMYK") if cmyk else image
        options |= {
            "quality": int(spec.get("quality", 85)),
            "progressive": spec.get("progressive", True),
        }
    elif name == "png":
        options["compress_level"] = _PNG_LEVELS[spec.get("compression", "optimal")]
    elif name in ("webp", "avif"):
        lossless, quality = _compression(spec, 75 if name == "webp" else 50, lossless=False)
        options |= {"lossless": lossless, "quality": 100 if lossless else quality}
    else:  # tiff
        lossless, quality = _compression(spec, 75, lossless=True)
        if cmyk:
            image = image.convert("CMYK")
        elif not lossless:
            image = _flatten(image)
        options |= (
            {"compression": "tiff_lzw"} if lossless else {"compression": "jpeg", "quality": quality}
        )
    buffer = io.BytesIO()
    try:
        image.save(buffer, name.upper(), **options)
    except (KeyError, OSError, ValueError) as exc:
        raise MediaError(f"cannot write {name}: {exc}") from exc
    return buffer.getvalue(), name.upper()


def edit(data: bytes, document: Mapping[str, Any]) -> Edited:
    """Do a checked edit document's operations on the image ``data``; encode per ``output``."""
    image = open_image(data)
    source = describe(image.format or "PNG", image.width, image.height)
    operations = document.get("operations") or {}
    work = image if image.mode in ("RGB", "RGBA", "L") else image.convert("RGBA")
    work = restore(work, operations.get("restorations"))
    work = resize(work, operations.get("resizing"))
    work = adjust(work, operations.get("adjustments"))
    work = background(work, operations.get("background"))
    work = stylise(work, operations.get("generative"))
    work = pad(work, operations.get("padding"))
    encoded, name = encode(work, document.get("output"))
    made = describe(name, work.width, work.height)
    return Edited(source, made, encoded, made["mime"], made["ext"])

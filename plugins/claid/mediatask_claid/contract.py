"""Claid's image-edit request, written once (PROVIDERS.md 3.4): the schema and its assembly.

The plugin checks jobs with it before any network call; the emulator checks the requests it
receives with it. Ranges Claid does not document are marked ASSUMPTION.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mediatask_claid.schema import (
    EXTRA,
    Boolean,
    Enum,
    Node,
    Number,
    Obj,
    OneOf,
    Problem,
    Text,
    check,
    coerce,
    join,
)

PERCENT = r"\d+(\.\d+)?%"
FITS = ("crop", "bounds", "cover", "canvas", "outpaint")
FORMATS = ("jpeg", "png", "webp", "avif", "tiff")
UPSCALERS = ("smart_enhance", "smart_resize", "faces", "digital_art", "photo")
CATEGORIES = Enum(("general", "cars", "products"))
SELECTIVE = Obj({"object_to_keep": Text(3, 128)}, required=("object_to_keep",))
_TYPE_ONLY = {"type": Text()}


def _typed(**fields: Node) -> Obj:
    """An object variant of a union: its ``type`` plus ``fields``."""
    return Obj({**_TYPE_ONLY, **fields})


DIMENSION = OneOf(
    (Enum(("auto",)), Number(minimum=1), Text(pattern=PERCENT, hint="a percentage like 150%")),
    nullable=True,
)
"""Width or height: ``auto``, pixels, or a percentage of the input. ASSUMPTION: pixels >= 1."""

FIT = OneOf(
    (Enum(FITS),),
    {
        "crop": _typed(crop=Enum(("center", "smart"))),
        "bounds": _typed(),
        "cover": _typed(),
        "canvas": _typed(),
        "outpaint": _typed(
            feathering=Text(pattern=PERCENT, hint="a percentage like 15%"),
            outpaint_by=Text(
                pattern=r"\d+(%|px)( \d+(%|px))?", hint="a size like 10% or 1024px 512px"
            ),
        ),
    },
)

ADJUSTMENT = Number(-100, 100)
ADJUSTMENTS = Obj(
    {
        "hdr": OneOf(
            (Number(0, 100), Obj({"intensity": Number(0, 100), "stitching": Boolean()})),
        ),
        "exposure": ADJUSTMENT,
        "saturation": ADJUSTMENT,
        "contrast": ADJUSTMENT,
        "sharpness": Number(0, 100),
    },
    nullable=True,
)

BACKGROUND = Obj(
    {
        "remove": OneOf(
            (
                Boolean(),
                Obj({"category": CATEGORIES, "clipping": Boolean(), "selective": SELECTIVE}),
            )
        ),
        "color": Text(pattern=r"#[0-9a-fA-F]{6}|transparent", hint="#rrggbb or transparent"),
        "blur": OneOf(
            (
                Boolean(),
                Obj(
                    {
                        "category": CATEGORIES,
                        "selective": SELECTIVE,
                        "type": Enum(("regular", "lens")),
                        "level": Enum(("low", "medium", "high")),
                    }
                ),
            )
        ),
    },
    nullable=True,
)

RESTORATIONS = Obj(
    {
        "decompress": Enum(("moderate", "strong", "auto"), nullable=True),
        "upscale": OneOf(
            (Enum(UPSCALERS),), {"photo": _typed(version=Enum(("1", "2", "3")))}, nullable=True
        ),
        "polish": Boolean(),
    },
    nullable=True,
)

STYLE_TRANSFER = Obj(
    {
        "style_reference_image": Text(
            1, 4096, r"(https?|storage)://\S+", "an http(s) or storage:// URI"
        ),
        "prompt": Text(3, 1024),
        "depth_strength": Number(0, 1, integer=False),
        "denoising_strength": Number(0, 1, integer=False),  # ASSUMPTION: 0..1
        "style_strength": Number(0, 1, integer=False),  # ASSUMPTION: 0..1
    },
    required=("style_reference_image",),
)

OPERATIONS = Obj(
    {
        "restorations": RESTORATIONS,
        "resizing": Obj({"width": DIMENSION, "height": DIMENSION, "fit": FIT}, nullable=True),
        "adjustments": ADJUSTMENTS,
        "background": BACKGROUND,
        "padding": Text(
            pattern=rf"{PERCENT}( {PERCENT}){{0,3}}",
            hint="a CSS-like padding like 10% or 5% 25%",
            nullable=True,
        ),
        "privacy": Obj({"blur_car_plate": Boolean(), "identity_crop": Boolean()}, nullable=True),
        "generative": Obj({"style_transfer": STYLE_TRANSFER}, nullable=True),
    }
)

URI = Text(1, 4096, r"(https?|storage)://\S+", "an http(s) or storage:// URI")
COMPRESSION = OneOf(
    (Enum(("lossy", "lossless")),), {"lossy": _typed(quality=Number(1, 100)), "lossless": _typed()}
)
FORMAT = OneOf(
    (Enum(FORMATS),),
    {
        "jpeg": _typed(quality=Number(1, 100), progressive=Boolean()),
        "png": _typed(compression=Enum(("fast", "best", "optimal"))),
        "webp": _typed(compression=COMPRESSION),
        "avif": _typed(compression=COMPRESSION),
        "tiff": _typed(compression=COMPRESSION),
    },
)
COLOR_PROFILES = ("ISO_Coated", "ISO_Uncoated", "USWeb_Coated", "USWeb_Uncoated")
OUTPUT = OneOf(
    (
        Text(1, 4096, r"storage://\S+", "a storage:// destination"),
        Obj(
            {
                "destination": Text(
                    1, 4096, r"storage://\S+", "a storage:// destination", nullable=True
                ),
                "format": FORMAT,
                "metadata": Obj(
                    {
                        "dpi": Number(1, 2400, nullable=True),  # ASSUMPTION: the upper bound
                        "color_space": OneOf(
                            (Enum(("RGB", "CMYK")),),
                            {"RGB": _typed(), "CMYK": _typed(color_profile=Enum(COLOR_PROFILES))},
                        ),
                    },
                    nullable=True,
                ),
            }
        ),
    ),
)

EDIT = Obj({"input": URI, "operations": OPERATIONS, "output": OUTPUT}, ("input", "operations"))
"""``POST /v1/image/edit`` and ``/v1/image/edit/async`` bodies."""
UPLOAD = Obj({"operations": OPERATIONS, "output": OUTPUT}, ("operations",))
"""The ``data`` part of ``POST /v1/image/edit/upload``: the same document without ``input``."""


def problems(document: Any, schema: Obj = EDIT) -> list[Problem]:
    """Everything wrong with an edit document, each with its dotted path."""
    if not isinstance(document, Mapping):
        return [Problem("", "the body must be a JSON object")]
    return check(schema, document, "")


def _child(node: Node, value: Any, name: str) -> Node | None:
    """The schema node of field ``name`` inside ``value`` (an object at ``node``)."""
    if isinstance(node, Obj):
        return node.fields.get(name)
    if isinstance(node, OneOf):
        if node.tagged and isinstance(value, Mapping):
            variant = node.tagged.get(str(value.get("type")))
            return variant.fields.get(name) if variant is not None else None
        for option in node.options:
            if isinstance(option, Obj):
                return option.fields.get(name)
    return None


def _convert(node: Node, value: Any, path: str, given_as_text: set[str]) -> Any:
    """Convert the values at ``given_as_text`` paths (command-line strings) to schema types."""
    if isinstance(value, dict):
        return {
            name: _convert(child, item, join(path, name), given_as_text)
            if (child := _child(node, value, name)) is not None
            else item
            for name, item in value.items()
        }
    if path in given_as_text and isinstance(value, str):
        return coerce(node, value)
    return value


def assemble(
    params: Mapping[str, Any], schema: Obj = UPLOAD
) -> tuple[dict[str, Any], list[Problem]]:
    """Build the edit document from job parameters: nested values and dotted names, merged.

    ``{"operations": {...}}`` (a ``--params-file`` document) and
    ``{"operations.resizing.width": "1000"}`` (``-p`` options) may be mixed; a dotted name wins
    over the same place in a nested value. Strings given under dotted names are converted to the
    schema's types (``"1000"`` to 1000, ``"false"`` to false); nested values are taken as typed.
    """
    document: dict[str, Any] = {}
    given_as_text: set[str] = set()
    found: list[Problem] = []
    for name in sorted(params, key=lambda n: n.count(".")):
        parts = name.split(".")
        here = document
        for depth, part in enumerate(parts[:-1]):
            nested = here.setdefault(part, {})
            if not isinstance(nested, dict):
                found.append(Problem(".".join(parts[: depth + 1]), "must be an object"))
                break
            here = nested
        else:
            value = params[name]
            here[parts[-1]] = plain(value)
            if len(parts) > 1 or isinstance(value, str):
                given_as_text.add(name)
    if found:
        return document, found
    return _convert(schema, document, "", given_as_text), []


def plain(value: Any) -> Any:
    """A deep copy of ``value`` with every mapping made a ``dict`` (jobs hold read-only maps)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


__all__ = [
    "EDIT",
    "EXTRA",
    "FITS",
    "FORMATS",
    "UPLOAD",
    "Problem",
    "assemble",
    "plain",
    "problems",
]

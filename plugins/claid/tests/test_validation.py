"""The edit document, checked twice from one schema: by the plugin before any network call, and
by the emulator (422, ``error_code "9000"``, ``error_details`` keyed by the same dotted path)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import mediatask_claid
from mediatask import Job, UsageError
from mediatask.engine.client import Client
from mediatask.providers.manager import PluginManager
from mediatask.settings.config import ProviderSettings, Settings
from mediatask.testing import ScriptedTransport
from mediatask_claid.contract import assemble, problems

if TYPE_CHECKING:
    from conftest import Api

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"operations": {"resizing": {"fit": "stretch"}}}, "operations.resizing.fit"),
    ({"operations": {"resizing": {"width": "wide"}}}, "operations.resizing.width"),
    ({"operations": {"resizing": {"width": 0}}}, "operations.resizing.width"),
    (
        {"operations": {"resizing": {"fit": {"type": "crop", "crop": "left"}}}},
        "operations.resizing.fit.crop",
    ),
    (
        {"operations": {"resizing": {"fit": {"type": "outpaint", "feathering": "15px"}}}},
        "operations.resizing.fit.feathering",
    ),
    ({"operations": {"resizing": {"fit": {"crop": "center"}}}}, "operations.resizing.fit.type"),
    ({"operations": {"resizing": {"depth": 3}}}, "operations.resizing.depth"),
    (
        {"operations": {"restorations": {"decompress": "extreme"}}},
        "operations.restorations.decompress",
    ),
    (
        {"operations": {"restorations": {"upscale": {"type": "photo", "version": "4"}}}},
        "operations.restorations.upscale.version",
    ),
    ({"operations": {"restorations": {"polish": "yes"}}}, "operations.restorations.polish"),
    ({"operations": {"adjustments": {"exposure": 101}}}, "operations.adjustments.exposure"),
    ({"operations": {"adjustments": {"sharpness": -1}}}, "operations.adjustments.sharpness"),
    (
        {"operations": {"adjustments": {"hdr": {"intensity": 150}}}},
        "operations.adjustments.hdr.intensity",
    ),
    ({"operations": {"adjustments": {"contrast": 1.5}}}, "operations.adjustments.contrast"),
    ({"operations": {"background": {"color": "red"}}}, "operations.background.color"),
    (
        {"operations": {"background": {"remove": {"category": "pets"}}}},
        "operations.background.remove.category",
    ),
    (
        {"operations": {"background": {"blur": {"level": "extreme"}}}},
        "operations.background.blur.level",
    ),
    (
        {"operations": {"background": {"remove": {"selective": {"object_to_keep": "ab"}}}}},
        "operations.background.remove.selective.object_to_keep",
    ),
    ({"operations": {"padding": "10px"}}, "operations.padding"),
    ({"operations": {"privacy": {"blur_faces": True}}}, "operations.privacy.blur_faces"),
    (
        {"operations": {"generative": {"style_transfer": {"prompt": "a watercolour"}}}},
        "operations.generative.style_transfer.style_reference_image",
    ),
    (
        {
            "operations": {
                "generative": {
                    "style_transfer": {
                        "style_reference_image": "https://x.test/s.jpg",
                        "depth_strength": 2,
                    }
                }
            }
        },
        "operations.generative.style_transfer.depth_strength",
    ),
    ({"operations": {}, "output": {"format": "gif"}}, "output.format"),
    (
        {"operations": {}, "output": {"format": {"type": "jpeg", "quality": 0}}},
        "output.format.quality",
    ),
    (
        {
            "operations": {},
            "output": {
                "format": {"type": "webp", "compression": {"type": "lossy", "quality": 101}}
            },
        },
        "output.format.compression.quality",
    ),
    (
        {"operations": {}, "output": {"format": {"type": "png", "compression": "max"}}},
        "output.format.compression",
    ),
    (
        {
            "operations": {},
            "output": {"metadata": {"color_space": {"type": "CMYK", "color_profile": "Fogra39"}}},
        },
        "output.metadata.color_space.color_profile",
    ),
    ({"operations": {}, "output": {"quality": 80}}, "output.quality"),
    ({"operations": {}, "output": "https://x.test/out.jpg"}, "output"),
    ({"operations": {"resizing": None, "unknown": {}}}, "operations.unknown"),
    ({"operations": {}, "extra": 1}, "extra"),
    ({"operations.adjustments.saturation": "lots"}, "operations.adjustments.saturation"),
    ({"operations.resizing.width": "-5"}, "operations.resizing.width"),
    ({"operations.resizing.fit": "stretch"}, "operations.resizing.fit"),
]


def client() -> tuple[Client, ScriptedTransport]:
    transport = ScriptedTransport()  # no answers: any request would fail the test
    settings = Settings(
        overrides={"claid": ProviderSettings("https://api.claid.ai", "k")}, environ={}
    )
    plugins = PluginManager.from_plugins({"claid": mediatask_claid})
    return Client(plugins=plugins, settings=settings, transport=transport), transport


@pytest.mark.parametrize(("params", "path"), INVALID, ids=[path for _, path in INVALID])
async def test_the_plugin_rejects_before_the_network_naming_the_path(
    params: dict[str, Any], path: str
) -> None:
    mediatask, transport = client()
    with pytest.raises(UsageError, match=rf"claid edit: {path}: ") as caught:
        await mediatask.submit(Job("claid", "edit", ["https://x.test/a.png"], params))
    assert transport.sent == []
    assert f"{path}: " in str(caught.value)


async def test_the_emulator_rejects_each_with_422_naming_the_same_path(api: Api) -> None:
    assert len(INVALID) >= 20
    for params, path in INVALID:
        document, _ = assemble(params)
        answer = await api.request(
            "POST", "/v1/image/edit/async", body={"input": api.input("photo.png"), **document}
        )
        assert answer.status == 422, (path, answer.data)
        body = answer.json()
        assert body["error_code"] == "9000"
        assert body["error_type"] == "validation"
        assert path in body["error_details"], (path, body)
        assert f"{path}: " in body["error_message"]
    assert api.emulator.stats["submissions"] == 0


def test_the_message_lists_the_allowed_values() -> None:
    mediatask, _ = client()
    with pytest.raises(UsageError) as caught:
        mediatask.check(
            Job("claid", "edit", ["https://x.test/a.png"], {"operations.resizing.fit": "stretch"})
        )
    assert str(caught.value) == (
        "claid edit: operations.resizing.fit: must be one of crop, bounds, cover, canvas, outpaint"
    )


def test_input_is_not_a_parameter() -> None:
    mediatask, _ = client()
    with pytest.raises(UsageError, match="input: give the image with --input"):
        mediatask.check(
            Job("claid", "edit", ["https://x.test/a.png"], {"input": "https://x.test/b.png"})
        )


def test_dotted_strings_are_converted_to_the_schemas_types() -> None:
    mediatask, _ = client()
    params = {
        "operations.resizing.width": "1000",
        "operations.resizing.height": "150%",
        "operations.background.remove": "false",
        "operations.adjustments.hdr": "60",
        "operations.restorations.decompress": "null",
        "operations.generative.style_transfer.style_reference_image": "https://x.test/s.png",
        "operations.generative.style_transfer.depth_strength": "0.5",
        "output.format": '{"type": "jpeg", "quality": 80}',
        "output.metadata.dpi": "300",
    }
    job = mediatask.check(Job("claid", "edit", ["https://x.test/a.png"], params))
    assert dict(job.params) == {
        "operations": {
            "resizing": {"width": 1000, "height": "150%"},
            "background": {"remove": False},
            "adjustments": {"hdr": 60},
            "restorations": {"decompress": None},
            "generative": {
                "style_transfer": {
                    "style_reference_image": "https://x.test/s.png",
                    "depth_strength": 0.5,
                }
            },
        },
        "output": {"format": {"type": "jpeg", "quality": 80}, "metadata": {"dpi": 300}},
    }


def test_a_nested_document_and_dotted_names_merge_and_check_again_unchanged() -> None:
    mediatask, _ = client()
    params = {
        "operations": {"resizing": {"width": 1000, "fit": "bounds"}},
        "operations.resizing.height": "500",
        "output.format.type": "webp",
        "output.format.compression": "lossless",
    }
    job = mediatask.check(Job("claid", "edit", ["https://x.test/a.png"], params))
    expected = {
        "operations": {"resizing": {"width": 1000, "fit": "bounds", "height": 500}},
        "output": {"format": {"type": "webp", "compression": "lossless"}},
    }
    assert dict(job.params) == expected
    assert dict(mediatask.check(job).params) == expected  # idempotent: the engine checks again


def test_a_nested_document_is_taken_as_typed() -> None:
    document = {"operations": {"resizing": {"width": "1000"}}}  # a string in a JSON file
    found = problems(assemble(document)[0] | {"input": "https://x.test/a.png"})
    assert [str(problem) for problem in found] == [
        "operations.resizing.width: must be auto or a percentage like 150%"
    ]


def test_no_operations_means_convert_only() -> None:
    mediatask, _ = client()
    job = mediatask.check(Job("claid", "edit", ["https://x.test/a.png"], {"output.format": "png"}))
    assert dict(job.params) == {"output": {"format": "png"}, "operations": {}}


def test_the_vendors_examples_are_valid() -> None:
    sample = {
        "input": "https://staging.claid.ai/assets/cms/shoe_example_05fb154a3a/shoe_example_05fb154a3a.png",
        "operations": {"resizing": {"width": 1000}, "background": {"remove": False}},
    }
    everything = {  # the async page's "all options" body, its "text" placeholders filled in
        "input": "storage://storage_1/path/image.jpg",
        "operations": {
            "restorations": {"decompress": "moderate", "upscale": "smart_enhance", "polish": False},
            "adjustments": {
                "hdr": 0,
                "exposure": 0,
                "saturation": 0,
                "contrast": 0,
                "sharpness": 0,
            },
            "background": {"remove": False, "color": "#ffffff", "blur": False},
            "resizing": {"width": "auto", "height": "auto", "fit": "crop"},
            "padding": "5% 25%",
            "privacy": {"blur_car_plate": False, "identity_crop": False},
            "generative": {
                "style_transfer": {
                    "style_reference_image": "https://x.test/style.jpg",
                    "prompt": "oil painting",
                    "depth_strength": 1,
                    "denoising_strength": 0.75,
                    "style_strength": 0.75,
                }
            },
        },
        "output": {
            "format": "jpeg",
            "destination": "storage://storage_1/path/output_image.jpg",
            "metadata": {"dpi": 1, "color_space": "RGB"},
        },
    }
    assert problems(sample) == []
    assert problems(everything) == []

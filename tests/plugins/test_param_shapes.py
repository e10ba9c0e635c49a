"""Declarations for what providers really take: parameters of several shapes, defaults the
provider applies itself (not sent), and the key variables a provider's own tools read."""

from __future__ import annotations

import pytest

from mediatask.model.errors import ConfigError, UsageError
from mediatask.model.values import Operation, Param, ProviderInfo
from mediatask.providers.validate import check_param, check_params
from mediatask.settings.config import Settings

SIZE = Param(
    "size",
    "object",
    shapes=[
        Param("preset", choices=("square", "portrait")),
        Param("dimensions", "object", description="{width, height}"),
    ],
)


def test_a_value_takes_the_first_shape_that_accepts_it() -> None:
    assert check_param("p op", SIZE, "square") == "square"
    assert check_param("p op", SIZE, '{"width": 64, "height": 32}') == {"width": 64, "height": 32}
    assert check_param("p op", SIZE, {"width": 8}) == {"width": 8}


def test_a_value_of_no_shape_names_each_refusal() -> None:
    with pytest.raises(UsageError) as caught:
        check_param("p op", SIZE, "huge")
    assert str(caught.value) == (
        "p op: size takes none of its shapes: as preset, must be one of square, portrait, got "
        "'huge'; as dimensions, must be a JSON object, got 'huge'"
    )


def test_a_default_the_provider_applies_itself_is_not_sent() -> None:
    operation = Operation(
        "draw",
        "Draw",
        params=[
            Param("steps", "int", default=30, default_sent=False),
            Param("size", "int", default=32),
        ],
    )
    assert check_params("p draw", operation, {}) == {"size": 32}
    assert check_params("p draw", operation, {"steps": "30"}) == {"steps": 30, "size": 32}


def test_a_provider_s_own_key_variable_is_read_when_ours_is_not_set() -> None:
    info = ProviderInfo(
        "replicate", "Replicate", "https://api.replicate.com", "Bearer", [],
        key_aliases=["REPLICATE_API_TOKEN"],
    )  # fmt: skip
    aliased = Settings(environ={"REPLICATE_API_TOKEN": "r8_abc"}, key_store=lambda _: None)
    ours = Settings(
        environ={"REPLICATE_API_TOKEN": "r8_abc", "MEDIATASK_REPLICATE_KEY": "mine"},
        key_store=lambda _: None,
    )

    assert aliased.key(info) == "r8_abc"
    assert ours.key(info) == "mine"
    assert "r8_abc" in aliased.secrets([info])  # scrubbed like any key
    with pytest.raises(ConfigError, match="set MEDIATASK_REPLICATE_KEY or REPLICATE_API_TOKEN"):
        Settings(environ={}, key_store=lambda _: None).require_key(info)

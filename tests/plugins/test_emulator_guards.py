"""The emulator toolkit guards its authors: its own names are refused clearly, a subclass's
``__attrs_post_init__`` need not call ``super()``, and an emulator's own exception shows its
traceback in the emulator's log and its cause in one line to the client."""

from __future__ import annotations

import logging
from typing import Any

import attrs
import pytest
from starlette.requests import Request
from starlette.responses import Response

from mediatask.emulator import RESERVED_NAMES, Emulator
from mediatask.testing import RawApi, raw_api
from mediatask_echo.emulator import EchoEmulator


def test_a_field_named_like_the_toolkit_s_own_is_refused_by_name() -> None:
    assert {"_files", "_tasks", "_run"} <= RESERVED_NAMES

    with pytest.raises(TypeError, match=r"Shadowing defines _files, which the emulator toolkit"):

        @attrs.define
        class Shadowing(Emulator):
            _files: dict[str, Any] = attrs.field(factory=dict)


def test_a_post_init_without_super_leaves_the_toolkit_working() -> None:
    @attrs.define
    class Forgetful(EchoEmulator):
        ready: bool = False

        def __attrs_post_init__(self) -> None:
            self.ready = True  # no super().__attrs_post_init__()

    emulator = Forgetful()
    assert emulator.ready
    assert len(emulator.new_id("t_")) == 18
    assert emulator.create_task("draw").task_id


@attrs.define
class Broken(EchoEmulator):
    """Echo whose submit route has a bug."""

    async def _submit(self, request: Request) -> Response:
        raise ZeroDivisionError("division by zero")


async def test_an_emulator_bug_is_a_one_line_500_and_a_logged_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="mediatask.emulator")
    async with raw_api(RawApi, Broken(), "http://inputs.invalid", auth="Bearer k") as api:
        answer = await api.request("POST", "/v1/echoes", body={"operation": "draw"})

    assert answer.status == 500
    assert answer.json() == {
        "error": {
            "message": "the emulator failed: ZeroDivisionError: division by zero "
            "(traceback in its log)"
        }
    }
    logged = [r for r in caplog.records if r.name.startswith("mediatask.emulator")]
    assert logged
    assert logged[0].exc_info is not None
    assert "POST /v1/echoes failed in the emulator" in logged[0].getMessage()

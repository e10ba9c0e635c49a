"""Toolkit for provider emulators: clock, fault knobs, task lifecycle, storage, serving, media.

Needs the ``mediatask[sandbox]`` extra (Hypercorn, Starlette, Pillow, PyAV). This package is a
plugin emulator's whole author surface: an emulator imports from ``mediatask.emulator`` only
(media functions as ``from mediatask.emulator import media``), never from its submodules:
they are private, but ``media``.
"""

from mediatask.emulator import media
from mediatask.emulator.clock import EmulatorClock
from mediatask.emulator.faults import Faults, RandomFaults
from mediatask.emulator.fetch import InputFetchError, fetch_input
from mediatask.emulator.mediatypes import (
    MAX_OUTPUT_PIXELS,
    MediaError,
    MediaFile,
    SpeedPaint,
    open_image,
)
from mediatask.emulator.serve import serve_forever, serving
from mediatask.emulator.tasks import (
    EmulatedTask,
    Phase,
    Produced,
    TaskState,
    WorkError,
    WorkResult,
)
from mediatask.emulator.toolkit import (
    RESERVED_NAMES,
    Emulator,
    EventStreamResponse,
    StoredFile,
    Work,
)
from mediatask.model.parsing import parse_rate

__all__ = [
    "MAX_OUTPUT_PIXELS",
    "RESERVED_NAMES",
    "EmulatedTask",
    "Emulator",
    "EmulatorClock",
    "EventStreamResponse",
    "Faults",
    "InputFetchError",
    "MediaError",
    "MediaFile",
    "Phase",
    "Produced",
    "RandomFaults",
    "SpeedPaint",
    "StoredFile",
    "TaskState",
    "Work",
    "WorkError",
    "WorkResult",
    "fetch_input",
    "media",
    "open_image",
    "parse_rate",
    "serve_forever",
    "serving",
]

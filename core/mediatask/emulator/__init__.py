"""Toolkit for provider emulators: clock, fault knobs, task lifecycle, storage, serving, media.

Needs the ``mediatask[sandbox]`` extra (Hypercorn, Starlette, Pillow, PyAV). Media functions
live in :mod:`mediatask.emulator.media`.
"""

from mediatask.emulator.clock import EmulatorClock
from mediatask.emulator.faults import Faults, RandomFaults
from mediatask.emulator.fetch import InputFetchError, fetch_input
from mediatask.emulator.mediatypes import MediaError, MediaFile, SpeedPaint
from mediatask.emulator.serve import serve_forever, serving
from mediatask.emulator.tasks import (
    EmulatedTask,
    Phase,
    Produced,
    TaskState,
    WorkError,
    WorkResult,
)
from mediatask.emulator.toolkit import Emulator, EventStreamResponse, StoredFile, Work

__all__ = [
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
    "serve_forever",
    "serving",
]

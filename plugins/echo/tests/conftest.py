"""Echo's test inputs, served on loopback (its emulator fetches inputs by URL)."""

from __future__ import annotations

from mediatask.testing import isolated_home, sample_photo, samples_fixture

SAMPLES = {"photo.png": (sample_photo(), "image/png")}

inputs_url = samples_fixture(SAMPLES)
isolated = isolated_home()

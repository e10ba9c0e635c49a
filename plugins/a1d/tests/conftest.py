"""Sample inputs for the A1D emulator tests, served over loopback HTTP.

The emulator fetches inputs by URL, as the real API does, so the samples need a server.
"""

from __future__ import annotations

from mediatask.testing import isolated_home, sample_clip, sample_photo, samples_fixture

SAMPLES = {
    "photo.png": (sample_photo("PNG"), "image/png"),
    "photo.jpg": (sample_photo("JPEG"), "image/jpeg"),
    "clip.mp4": (sample_clip(32, 24, 8, 8), "video/mp4"),
    "notes.txt": (b"not an image", "text/plain"),
}

inputs_url = samples_fixture(SAMPLES)
isolated = isolated_home()

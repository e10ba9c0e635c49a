"""The queue's tests: an isolated home for commands (its model takes no input files)."""

from __future__ import annotations

from mediatask.testing import isolated_home, samples_fixture

inputs_url = samples_fixture({})
isolated = isolated_home()

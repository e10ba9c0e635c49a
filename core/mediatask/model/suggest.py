""" "Did you mean …?" for a mistyped provider, operation, parameter or field name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` most likely meant (``width`` for ``widht``), or ``None``."""
    options = list(choices)
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not found:  # ``image-upscale`` for ``image-upscaler``: a prefix is a likely slip too
        found = [
            o for o in options if len(word) >= 4 and (o.startswith(word) or word.startswith(o))
        ]
    return found[0] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean X?)"`` when ``word`` is close to one of ``choices``, else ``""``."""
    found = closest(word, choices)
    return f" (did you mean {found}?)" if found else ""

"""Safe file names from untrusted text: task ids, roles and extensions a provider sent.

Every provider value that becomes part of a path goes through :func:`safe_name` (a stem) or
:func:`safe_extension` (a suffix), so a hostile answer (``../../x``, ``/tmp/x``, a NUL, 300
characters, ``CON``) can never name a file outside the output folder. A name that needed no change
is kept as it is; a changed or shortened one keeps its readable part and gains ``~HASH`` (eight hex
digits of the original's SHA-256), so two distinct ids never end up with the same file name.
"""

from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import PurePath, PurePosixPath
from urllib.parse import urlsplit

from mediatask.model.errors import UsageError
from mediatask.model.suggest import did_you_mean

MAX_STEM = 80
"""Characters at most in a sanitised stem, hash included (well under every filesystem's 255)."""

MAX_EXTENSION = 8
"""Characters at most in an extension after its dot."""

_UNSAFE = re.compile(r"[^\w.+=@,~-]+")
"""Runs of anything but word characters (letters, digits, ``_`` in any script) and ``.+=@,~-``
(``~`` joins a changed name to its hash, so a safe name stays safe, unchanged, when checked
again)."""

_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{n}" for n in range(10)}
    | {f"lpt{n}" for n in range(10)}
    | {"com¹", "com²", "com³", "lpt¹", "lpt²", "lpt³"}
)


def _digest(original: str) -> str:
    return hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _cleaned(text: str) -> str:
    """``text`` reduced to safe characters: no separators, control characters or dot runs."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")  # controls, NUL, ...
    text = _UNSAFE.sub("_", text)
    text = re.sub(r"\.{2,}", ".", text)  # no ``..`` anywhere
    text = text.lstrip(".-_~").rstrip(". ")  # no hidden files, options, home folders, or
    # Windows-trimmed ends
    return text


def _reserved(text: str) -> bool:
    return text.split(".")[0].lower() in _WINDOWS_RESERVED


def safe_name(text: str, *, limit: int = MAX_STEM) -> str:
    """``text`` as one safe path component (a file stem), recognisable and collision-free.

    Unchanged when it already is safe and at most ``limit`` characters long; otherwise the
    cleaned text, cut to fit, with ``~`` and a hash of the original appended.
    """
    cleaned = _cleaned(text)
    if cleaned == text and cleaned and not _reserved(cleaned) and len(cleaned) <= limit:
        return text
    suffix = "~" + _digest(text)
    kept = cleaned[: max(limit - len(suffix) - 1, 0)].rstrip(". ")
    if _reserved(kept + suffix):
        kept = "_" + kept  # ``CON.txt~HASH`` is still ``CON`` to Windows
    return kept + suffix


def safe_extension(suffix: str) -> str | None:
    """``suffix`` (``.png``, ``png``) as a safe lower-case ``.ext``; ``None`` when it is unusable.

    Only ASCII letters and digits survive, at most :data:`MAX_EXTENSION` of them.
    """
    bare = suffix.strip().lstrip(".").lower()
    if not bare or len(bare) > MAX_EXTENSION or not (bare.isascii() and bare.isalnum()):
        return None
    return "." + bare


NAME_FIELDS = ("input", "task", "job", "provider", "operation")
"""The fields a ``--name`` template may use, e.g. ``{input}-{operation}``."""


def input_stem(source: str) -> str | None:
    """The readable stem of an input path or URL (``photo`` for ``shots/photo.png`` or
    ``https://host/a/photo.png?x=1``); ``None`` when it has none."""
    path = PurePosixPath(urlsplit(source).path) if "://" in source else PurePath(source)
    stem = path.stem.strip()
    return stem or None


STDIN_FOLDER = "mediatask-stdin-"
"""How the temporary folder holding the copy of standard input (``-i -``) is named; that copy
never names outputs."""


def readable_name(text: str) -> str | None:
    """``text`` made a safe stem for a person to read: unsafe characters become ``_`` and no hash
    is added (names the user chose need no protection from colliding: a file already there is
    never replaced, see :func:`numbered`); ``None`` when nothing is left."""
    cleaned = _cleaned(text)[:MAX_STEM].rstrip(". ")
    if not cleaned:
        return None
    return "_" + cleaned[: MAX_STEM - 1] if _reserved(cleaned) else cleaned


def default_stem(inputs: Sequence[str], fallback: str) -> str:
    """The stem outputs are named after: the first input's name (not standard input's
    temporary copy), else ``fallback`` (a task or job id, made a safe name)."""
    for source in inputs:
        if PurePath(source).parent.name.startswith(STDIN_FOLDER):
            continue
        stem = readable_name(input_stem(source) or "")
        if stem:
            return stem
    return safe_name(fallback)


def render_name(template: str, fields: Mapping[str, str]) -> str:
    """``template`` (``{input}-4x``) with ``fields`` filled in, as one safe stem.

    A template without braces is a plain name. An unknown field is a :class:`UsageError` naming
    the known ones.
    """
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(template) if field]
    except ValueError as exc:
        raise UsageError(f"--name {template!r}: {exc}; write braces as {{{{ and }}}}") from None
    for field in names:
        if field not in NAME_FIELDS:
            known = ", ".join("{" + name + "}" for name in NAME_FIELDS)
            hint = did_you_mean(field, NAME_FIELDS)
            raise UsageError(f"--name: unknown field {{{field}}}{hint}; use {known}")
    # Each value may come from a provider (a task id): made a safe name first, hash and all.
    values = {name: safe_name(fields[name]) if fields.get(name) else "" for name in NAME_FIELDS}
    rendered = template.format_map(values)
    stem = readable_name(rendered)
    if stem is None:
        raise UsageError(f"--name {template!r} gives an empty name")
    return stem


def output_stems(stem: str, roles: Sequence[str]) -> list[str]:
    """One file stem per output role, ``STEM-ROLE``, numbered where roles repeat.

    Both parts may come from the provider, so each is made a safe name.
    """
    names: list[str] = []
    for role in roles:
        base = f"{safe_name(stem)}-{safe_name(role, limit=24)}"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


def numbered(path: PurePath, n: int) -> PurePath:
    """``path`` with ``-N`` before its extension (``cat-image-2.png``); ``path`` itself for 1."""
    return path if n <= 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")

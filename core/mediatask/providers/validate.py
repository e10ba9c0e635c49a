"""Checking a job against its provider's declared operation, before any network call."""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from mediatask.model.errors import Hint, UnknownProviderError, UsageError, wrong_type
from mediatask.model.suggest import did_you_mean
from mediatask.model.values import Job, Operation, Param, ProviderInfo

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def is_url(value: str) -> bool:
    """True for an http(s) URL with a host."""
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")


def url_scheme(value: str) -> str | None:
    """The scheme ``value`` starts with (``ftp``, ``data``…), or ``None`` for a plain path."""
    match = _SCHEME.match(value)
    return match[0][:-1].lower() if match else None


def find_operation(info: ProviderInfo, name: str) -> Operation:
    """Return the operation ``name`` of ``info``; the error lists the operations there are."""
    operation = info.operation(name)
    if operation is None:
        names = [op.name for op in info.operations]
        raise UnknownProviderError(
            f"unknown operation {name!r} for {info.name}{did_you_mean(name, names)}: "
            f"choose one of: {', '.join(names)}"
        )
    return operation


def _convert(param: Param, value: Any) -> Any:
    kind = param.type
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError("must be true or false")
    if kind in ("int", "float"):
        return _number(kind, value)
    if kind == "object":
        return _object(value)
    text = str(value)
    if kind == "url" and not is_url(text) and not text.startswith("@"):  # @PATH: a local file
        raise ValueError("must be an http(s) URL or @PATH (a local file)")
    return text


def _object(value: Any) -> dict[str, Any]:
    """A JSON object, given as one or as its text (``-p size='{"width": 64}'``)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("must be a JSON object") from None
    if not isinstance(value, Mapping):
        raise ValueError("must be a JSON object")
    return dict(value)


def _number(kind: str, value: Any) -> int | float:
    whole = kind == "int"
    problem = "must be a whole number" if whole else "must be a number"
    if isinstance(value, bool):
        raise ValueError(problem)
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else value
    except ValueError:
        raise ValueError(problem) from None
    if not whole:
        return float(number)
    if isinstance(number, float) and not number.is_integer():
        raise ValueError(problem)
    return int(number)


def _choices(param: Param) -> str:
    return ", ".join(str(choice) for choice in param.choices)


def check_param(where: str, param: Param, raw: Any) -> Any:
    """Return ``raw`` converted to the parameter's type, or a :class:`UsageError` saying why not."""
    if param.shapes:
        return _one_shape(where, param, raw)
    try:
        value = _convert(param, raw)
    except ValueError as exc:
        hint = f" ({_choices(param)})" if param.choices else ""
        raise UsageError(f"{where}: {param.name} {exc}{hint}, got {raw!r}") from None
    if param.choices and value not in param.choices:
        raise UsageError(f"{where}: {param.name} must be one of {_choices(param)}, got {raw!r}")
    if param.minimum is not None and value < param.minimum:
        raise UsageError(f"{where}: {param.name} must be at least {param.minimum}, got {raw!r}")
    if param.maximum is not None and value > param.maximum:
        raise UsageError(f"{where}: {param.name} must be at most {param.maximum}, got {raw!r}")
    return value


def _one_shape(where: str, param: Param, raw: Any) -> Any:
    """``raw`` checked against each of the parameter's shapes, by the first that accepts it."""
    refusals = []
    for shape in param.shapes:
        try:
            return check_param(where, attrs.evolve(shape, name=param.name), raw)
        except UsageError as exc:
            refusals.append(f"as {shape.name}, {str(exc).removeprefix(f'{where}: {param.name} ')}")
    raise UsageError(f"{where}: {param.name} takes none of its shapes: {'; '.join(refusals)}")


def check_params(where: str, operation: Operation, params: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``params`` typed and with defaults filled in, or raise a :class:`UsageError`."""
    unknown = sorted(set(params) - {p.name for p in operation.params})
    if unknown:
        names = [p.name for p in operation.params]
        hint = did_you_mean(unknown[0], names)
        known = ", ".join(names) or "none"
        raise UsageError(
            f"{where}: unknown parameter {unknown[0]!r}{hint}; known parameters: {known}"
        )
    checked: dict[str, Any] = {}
    for param in operation.params:
        if param.name in params:
            checked[param.name] = check_param(where, param, params[param.name])
        elif param.required:
            raise UsageError(f"{where}: missing parameter {param.name}: pass -p {param.name}=VALUE")
        elif param.default is not None and param.default_sent:
            checked[param.name] = param.default
    return checked


_EXTRA_FIELD = re.compile(r"(?P<path>[A-Za-z_][\w.-]*): extra fields not permitted")
"""How a provider (pydantic's wording, Claid's API and plugin) refuses a field it does not know."""


def name_valid_fields(operation: Operation, message: str) -> str:
    """``message`` with each refused field (``operations.resizing.widht: extra fields not
    permitted``) followed by the names valid there, from the operation's declared parameters,
    and the closest one."""

    def explain(found: re.Match[str]) -> str:
        *parents, name = found["path"].split(".")
        fields: tuple[Param, ...] = operation.params
        for part in parents:
            param = next((p for p in fields if p.name == part), None)
            if param is None or not param.fields:
                return found[0]
            fields = param.fields
        names = [p.name for p in fields if ":" not in p.name]  # not ``type: photo`` variants
        if not names:
            return found[0]
        return f"{found[0]}{did_you_mean(name, names)}; valid here: {', '.join(names)}"

    return _EXTRA_FIELD.sub(explain, message)


def check_job(info: ProviderInfo, job: Job) -> Job:
    """Return ``job`` with typed parameters, or raise a :class:`UsageError` naming the fix."""
    operation = find_operation(info, job.operation)
    where = f"{info.name} {operation.name}"
    wanted = len(operation.inputs)
    if len(job.inputs) != wanted:
        if wanted == 0:
            raise UsageError.hinted(f"{where} takes no input file; drop ", Hint.INPUT)
        names = ", ".join(operation.inputs)
        got = f"{where} takes {wanted} input(s) ({names}), got {len(job.inputs)}: pass "
        raise UsageError.hinted(got, Hint.INPUT)
    for item in job.inputs:
        if not provider_resolves(info, item):
            check_input_name(where, item)
    if operation.open_params:
        return job
    return attrs.evolve(job, params=check_params(where, operation, job.params))


def provider_resolves(info: ProviderInfo, item: str) -> bool:
    """True when ``item`` is an http(s) URL or one of the provider's own input schemes
    (``storage://…`` for Claid): it is sent as given, not read from disk."""
    return is_url(item) or url_scheme(item) in info.capabilities.input_schemes


def check_input_name(where: str, item: str) -> None:
    """Refuse an input that is neither an http(s) URL nor a possible local path."""
    if not item.strip():
        raise UsageError(f"{where}: an input is empty: pass a file path or an http(s) URL")
    scheme = url_scheme(item)
    if scheme in ("http", "https"):
        if not is_url(item):
            raise UsageError(f"{where}: {item!r} is not a valid URL: it needs a host")
        return
    if scheme is not None and not os.path.lexists(os.path.expanduser(item)):
        raise UsageError(
            f"{where}: {scheme}: URLs are not supported: pass an http(s) URL or a local file"
        )


# -- local files, before any network call ------------------------------------------------------

SNIFF_BYTES = 32
"""How much of a file's start :func:`sniff` needs."""

_FTYP_IMAGE = {b"avif", b"avis", b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"}
_FTYP_AUDIO = {b"M4A ", b"M4B ", b"M4P "}
KIND_FORMATS = {
    "image": "png, jpeg, gif, webp, bmp, tiff, avif, heic",
    "video": "mp4, mov, webm, mkv, avi, flv, mpeg, ogg",
    "audio": "mp3, wav, m4a, aac, flac, ogg, webm",
}
"""What :func:`sniff` recognises for each kind of input, as error messages list it."""


_IMAGE, _VIDEO, _AUDIO = frozenset({"image"}), frozenset({"video"}), frozenset({"audio"})


def sniff(head: bytes) -> tuple[str, frozenset[str]] | None:
    """The format of a file from its first bytes, and the kinds it can be; ``None`` if unknown."""
    return _first(_image_formats(head)) or _first(_timed_formats(head))


def _first(checks: list[tuple[bool, str, frozenset[str]]]) -> tuple[str, frozenset[str]] | None:
    return next(((name, kinds) for found, name, kinds in checks if found), None)


def _image_formats(head: bytes) -> list[tuple[bool, str, frozenset[str]]]:
    """Whether ``head`` starts each image format, in the order :func:`sniff` tries them."""
    brand = head[8:12]
    return [
        (head.startswith(b"\x89PNG\r\n\x1a\n"), "png", _IMAGE),
        (head.startswith(b"\xff\xd8\xff"), "jpeg", _IMAGE),
        (head[:6] in (b"GIF87a", b"GIF89a"), "gif", _IMAGE),
        (head[:4] == b"RIFF" and brand == b"WEBP", "webp", _IMAGE),
        (head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\0\0\0\0", "bmp", _IMAGE),
        (head[:4] in (b"II*\0", b"MM\0*"), "tiff", _IMAGE),
        (head[4:8] == b"ftyp" and brand in _FTYP_IMAGE, "avif/heic", _IMAGE),
    ]


def _timed_formats(head: bytes) -> list[tuple[bool, str, frozenset[str]]]:
    """Whether ``head`` starts each video or audio format, in the order :func:`sniff` tries
    them (after the images)."""
    brand, both = head[8:12], _VIDEO | _AUDIO
    return [
        (head[4:8] == b"ftyp" and brand in _FTYP_AUDIO, "m4a", _AUDIO),
        (head[4:8] == b"ftyp" and brand == b"qt  ", "mov", _VIDEO),
        (head[4:8] == b"ftyp", "mp4", both),
        (head[:4] == b"RIFF" and brand == b"WAVE", "wav", _AUDIO),
        (head[:4] == b"RIFF" and brand == b"AVI ", "avi", _VIDEO),
        (head.startswith(b"\x1a\x45\xdf\xa3"), "webm/mkv", both),
        (head.startswith(b"OggS"), "ogg", both),
        (head.startswith(b"FLV"), "flv", _VIDEO),
        (head[:4] in (b"\0\0\1\xba", b"\0\0\1\xb3"), "mpeg", _VIDEO),
        (head.startswith(b"ID3"), "mp3", _AUDIO),
        (head.startswith(b"fLaC"), "flac", _AUDIO),
        (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0, "mp3/aac", _AUDIO),
    ]


def _looks_like(head: bytes) -> str:
    if all(byte >= 0x20 or byte in b"\t\n\r" for byte in head):
        return "it is text"
    return "its first bytes are no format mediatask recognises"


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 2**20:
        return f"{count / 1024:.1f} KiB"
    return f"{count / 2**20:.1f} MiB"


FILE_PARAM_KINDS = ("audio", "video", "image")
"""The kinds a URL parameter's name may say it takes (``audio_url``, ``end_image_url``)."""


def param_kind(name: str) -> str | None:
    """The kind of file a URL parameter takes, as its declared name says (``audio_url``:
    ``audio``); ``None`` when the name does not say."""
    lowered = name.lower()
    return next((kind for kind in FILE_PARAM_KINDS if kind in lowered), None)


def check_local_input(
    where: str,
    operation: Operation,
    index: int,
    item: str,
    *,
    kind: str | None = None,
    param: str | None = None,
) -> Path:
    """Return the local input ``item`` as a path, or a :class:`UsageError` saying what is wrong.

    Checks what can be known before paying: the file exists, is a readable regular file, is not
    empty, is within the operation's size limit, and (when the operation declares the input's
    kind, or ``kind`` is given) its first bytes are a format of that kind. ``param`` names the
    URL parameter given ``@item``, for the messages.
    """
    path = Path(item).expanduser()
    _check_file(path, item, where, operation.max_input_bytes)
    head = _head(path, item)
    if kind is None and index < len(operation.input_kinds):
        kind = operation.input_kinds[index]
    if kind in KIND_FORMATS:
        _check_kind(head, kind, item, where, param)
    return path


def _check_file(path: Path, item: str, where: str, limit: int | None) -> None:
    """Refuse ``path`` (given as ``item``) unless it is a regular, non-empty file of at most
    ``limit`` bytes."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UsageError(f"input file not found: {item}: check the path") from None
    except OSError as exc:
        raise UsageError(f"cannot read input {item}: {exc.strerror}: check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"input {item} is a directory: pass a file inside it")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"input {item} is not a regular file: pass a file")
    if info.st_size == 0:
        raise UsageError(f"input {item} is empty (0 bytes): pass a file with content")
    if limit is not None and info.st_size > limit:
        raise UsageError(
            f"input {item} is {_size(info.st_size)}: {where} takes at most {_size(limit)}"
        )


def _head(path: Path, item: str) -> bytes:
    """The first bytes of ``path`` (given as ``item``), enough for :func:`sniff`."""
    try:
        with path.open("rb") as file:
            return file.read(SNIFF_BYTES)
    except OSError as exc:
        raise UsageError(
            f"cannot read input {item}: {exc.strerror}: check its permissions"
        ) from None


def _check_kind(head: bytes, kind: str, item: str, where: str, param: str | None) -> None:
    """Refuse a file whose first bytes ``head`` are no format of ``kind``."""
    found = sniff(head)
    if found is None or kind not in found[1]:
        what = f"it is {found[0]}" if found else _looks_like(head)
        given = f"-p {param}=@{item}" if param else f"input {item}"
        raise UsageError(
            f"{given} is not {'an' if kind[0] in 'aeiou' else 'a'} {kind} ({what}): "
            f"{where} takes {KIND_FORMATS[kind]}" + (f" for {param}" if param else "")
        )


def a_job(job: object) -> Job:
    """``job``, once it is known to be a :class:`Job` (a library entry point's argument)."""
    if not isinstance(job, Job):
        raise wrong_type(
            "job", "a mediatask.Job", job, "build one with Job(provider, operation, inputs, params)"
        )
    return job


def some_jobs(jobs: object) -> Iterable[Job]:
    """A ``jobs`` argument, once it is known to be an iterable of jobs: a list's (any
    collection's) jobs are checked here, a generator's as they are taken."""
    if not isinstance(jobs, Iterable) or isinstance(jobs, str | bytes | Mapping | Job):
        raise wrong_type("jobs", "an iterable of mediatask.Job (e.g. a list)", jobs)
    if isinstance(jobs, Collection):
        for job in jobs:
            a_job(job)
    return jobs


def out_dir_path(out_dir: object) -> Path | None:
    """An ``out_dir`` argument as a Path (None stays None): a str or os.PathLike, else a
    TypeError that says so."""
    if out_dir is None:
        return None
    if not isinstance(out_dir, str | os.PathLike):
        raise wrong_type("out_dir", "a folder path (a str or os.PathLike)", out_dir)
    return Path(out_dir)


def check_out_dir(out_dir: Path) -> None:
    """Make sure outputs can be written to ``out_dir``: create it and try a temporary file.

    :raises UsageError: naming the part of the path in the way, or the system's reason.
    """
    blocker = next(
        (part for part in (out_dir, *out_dir.parents) if part.exists() and not part.is_dir()),
        None,
    )
    if blocker is not None:
        raise UsageError.hinted(
            f"cannot write outputs to {out_dir}: {blocker} is a file, not a folder: "
            "choose another ",
            Hint.OUT_DIR,
        )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError.hinted(
            f"cannot create the output folder {out_dir}: {exc.strerror or exc}: choose another ",
            Hint.OUT_DIR,
        ) from None
    try:
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise UsageError.hinted(
            f"cannot write in the output folder {out_dir}: {exc.strerror or exc}: choose another ",
            Hint.OUT_DIR,
        ) from None


def check_concurrency(concurrency: object) -> None:
    """Refuse a ``concurrency`` that is not a whole number of at least 1."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise UsageError(f"concurrency must be a whole number, got {concurrency!r}")
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, got {concurrency}: pass e.g. 8")

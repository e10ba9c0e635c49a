"""Batch manifests: JSON Lines or CSV, one job per line, read leniently line by line.

Columns (JSON keys): ``provider``, ``operation``, ``input`` (one path or URL, or a list; in CSV a
JSON list or a single value), ``params`` (an object; in CSV a JSON object or empty) and an optional
``id``. A line that cannot be read becomes a :class:`ManifestError` with its line number; the
other lines still run. Relative input paths are taken relative to the manifest's folder, so a
re-run from another working directory names the same files.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from mediatask.engine.naming import input_stem
from mediatask.model.errors import UsageError, file_problem
from mediatask.model.values import Job
from mediatask.providers.validate import is_url, url_scheme

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_KEYS = {"provider", "operation", "input", "inputs", "params", "id"}


@attrs.frozen
class Entry:
    """One job read from a manifest line."""

    line: int
    id: str
    """The job's id: given in the manifest, else the first input's name (``photo`` for
    ``photo.png``, numbered ``photo-2`` where names repeat), else ``line-N``; names its output
    files."""
    job: Job
    named: bool = True
    """False when the manifest gave no id and :attr:`id` was made from the line."""


@attrs.frozen
class ManifestError:
    """A manifest line that could not be read, and why."""

    line: int
    message: str
    job: str | None = None
    """The job id the line gave, when it was read far enough to know it."""

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@attrs.frozen
class Manifest:
    """What a manifest holds: the jobs that could be read, and the lines that could not."""

    entries: tuple[Entry, ...]
    errors: tuple[ManifestError, ...]


def read_manifest(path: Path) -> Manifest:
    """Read ``path`` (``.csv`` as CSV, anything else as JSON Lines)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the manifest {path}: {file_problem(exc)}") from None
    rows = _csv_rows(text) if path.suffix.lower() == ".csv" else _jsonl_rows(text)
    read: list[Entry] = []
    errors: list[ManifestError] = []
    seen: set[str] = set()
    for line, row in rows:
        try:
            if isinstance(row, str):
                raise UsageError(row)
            entry = _entry(line, row, path.parent)
            if entry.named and entry.id in seen:
                raise UsageError(f"id {entry.id!r} is used by an earlier line")
        except UsageError as exc:
            errors.append(ManifestError(line, str(exc)))
            continue
        if entry.named:
            seen.add(entry.id)
        read.append(entry)
    return Manifest(tuple(_number_unnamed(read, seen)), tuple(errors))


def manifest_of(jobs: Iterable[Job]) -> Manifest:
    """A manifest of ``jobs`` as if read from lines 1, 2, …: each named after its first input
    (numbered where names repeat), else ``line-N``, so the same jobs get the same ids again."""
    entries = [
        Entry(line, _made_up_id(line, list(job.inputs)), job, named=False)
        for line, job in enumerate(jobs, start=1)
    ]
    return Manifest(tuple(_number_unnamed(entries, set())), ())


def _number_unnamed(entries: list[Entry], taken: set[str]) -> Iterator[Entry]:
    """``entries`` with each made-up id unique: ``photo``, ``photo-2``, … in line order, never
    one the manifest gave."""
    for entry in entries:
        if entry.named:
            yield entry
            continue
        job_id, n = entry.id, 2
        while job_id in taken:
            job_id, n = f"{entry.id}-{n}", n + 1
        taken.add(job_id)
        yield attrs.evolve(entry, id=job_id)


def _made_up_id(line: int, inputs: list[str]) -> str:
    """An id for a line that gave none: its first input's name, else ``line-N``."""
    for source in inputs:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", input_stem(source) or "").lstrip("._-")[:90]
        if stem:
            return stem
    return f"line-{line}"


MEDIA_KINDS = ("image", "video", "audio")
"""The kinds of file :func:`folder_lines` takes from a folder (by the file name's type)."""


def media_files(
    folder: Path, pattern: str = "*", kinds: tuple[str, ...] = MEDIA_KINDS
) -> tuple[list[Path], int]:
    """The files of ``kinds`` (by the name's type) directly in ``folder`` matching ``pattern``,
    sorted by name, and how many other files were passed over (hidden ones, folders, others).

    :raises UsageError: when ``folder`` is not a folder that can be read.
    """
    try:
        found = sorted(folder.glob(pattern))
    except OSError as exc:
        raise UsageError(f"cannot read the folder {folder}: {exc.strerror or exc}") from None
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder: give the folder holding the inputs")
    files, skipped = [], 0
    for path in found:
        kind = (mimetypes.guess_type(path.name)[0] or "").split("/")[0]
        if path.name.startswith(".") or not path.is_file() or kind not in kinds:
            skipped += 1
            continue
        files.append(path)
    return files, skipped


def folder_lines(
    files: list[Path],
    provider: str,
    operation: str,
    params: Mapping[str, Any],
    relative_to: Path | None = None,
) -> list[str]:
    """One manifest line (JSON) per file: ``operation`` of ``provider`` on it with ``params``.

    Paths are written relative to ``relative_to`` (the manifest's folder), else absolute; the
    lines give no id, so each job is named after its input (see :class:`Entry`).
    """
    lines = []
    for path in files:
        absolute = path.resolve()
        shown = os.path.relpath(absolute, relative_to.resolve()) if relative_to else absolute
        row = {"provider": provider, "operation": operation, "input": str(shown)}
        lines.append(json.dumps({**row, "params": dict(params)}, ensure_ascii=False))
    return lines


def _jsonl_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            yield number, f"not valid JSON ({exc.args[0] if exc.args else exc})"
            continue
        yield number, data if isinstance(data, dict) else "not a JSON object"


def _csv_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        number = reader.line_num
        if not any((value or "").strip() for value in row.values()):
            continue
        try:
            yield number, _csv_values(row)
        except UsageError as exc:
            yield number, str(exc)


def _csv_values(row: Mapping[str, str | None]) -> dict[str, Any]:
    data: dict[str, Any] = {k: (v or "").strip() for k, v in row.items() if k and v is not None}
    for name in ("input", "inputs", "params"):
        value = data.get(name, "")
        if value.startswith(("[", "{")):
            data[name] = _csv_json(name, value)
        elif name == "params" and not value:
            data[name] = {}
    if not data.get("id"):
        data.pop("id", None)
    return data


def _csv_json(name: str, value: str) -> Any:
    """A CSV cell written as JSON (a list of inputs, the params)."""
    try:
        return json.loads(value)
    except ValueError:
        raise UsageError(f"{name} is not valid JSON: {value}") from None


def _entry(line: int, row: Mapping[str, Any], base: Path) -> Entry:
    unknown = set(row) - _KEYS
    if unknown:
        raise UsageError(f"unknown column(s) {', '.join(sorted(unknown))}")
    provider, operation = _named(row, "provider"), _named(row, "operation")
    params = row.get("params", {})
    if not isinstance(params, dict):
        raise UsageError("params must be an object")
    inputs = [_resolve(item, base) for item in _inputs(row.get("input", row.get("inputs")))]
    job = Job(provider, operation, inputs, params)
    if "id" not in row:
        return Entry(line, _made_up_id(line, inputs), job, named=False)
    return Entry(line, _checked_id(row["id"]), job)


def _named(row: Mapping[str, Any], key: str) -> str:
    """The row's ``provider`` or ``operation``: a string that must be there."""
    value = row.get(key)
    if not isinstance(value, str) or not value:
        raise UsageError(f"{key} is missing")
    return value


def _checked_id(job_id: Any) -> str:
    """A job id given in the manifest, checked: it names files."""
    if not isinstance(job_id, str) or not _ID.fullmatch(job_id):
        raise UsageError(
            f"id {job_id!r} must be 1-100 letters, digits, '.', '_' or '-' (it names files)"
        )
    return job_id


def _inputs(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) and item for item in value):
        return list(value)
    raise UsageError("input must be a path or URL, or a list of them")


def _resolve(item: str, base: Path) -> str:
    """A path relative to the manifest's folder; a URL (of any scheme, for the check to judge)
    is kept as written."""
    if is_url(item) or (url_scheme(item) is not None and not (base / item).exists()):
        return item
    path = Path(item).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())

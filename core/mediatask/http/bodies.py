"""Request bodies as byte strings and local files, with their length known before sending.

:func:`encode_body` turns a :class:`~mediatask.http.messages.Request`'s body (JSON, bytes, one
file, or a
multipart form) into :class:`EncodedBody`: headers plus parts, where a file part is a path that
the transport streams from disk in chunks. Nothing is read whole into memory, and a body can be
sent again (a redirect, a stale connection) because it is a description, not a consumed stream.
"""

from __future__ import annotations

import json as jsonlib
import mimetypes
import secrets
from collections.abc import Generator, Iterator
from pathlib import Path

import attrs

from mediatask.http.messages import Request
from mediatask.model.errors import UsageError

CHUNK = 256 * 1024
"""How much of a file is read and sent at a time."""


@attrs.frozen
class FilePart:
    """A local file sent as part of a body: ``size`` bytes, measured when the body was made."""

    path: Path
    size: int


Part = bytes | FilePart


@attrs.frozen
class EncodedBody:
    """A request body ready to send: extra headers, the parts in order, and the total length."""

    headers: tuple[tuple[str, str], ...]
    parts: tuple[Part, ...]
    length: int


EMPTY = EncodedBody((), (), 0)


def _size(path: Path) -> int:
    try:
        if path.is_file():
            return path.stat().st_size
    except OSError:
        pass
    raise UsageError(f"input file not found: {path}")


def _quote(value: str) -> str:
    """A multipart header parameter, escaped as browsers do (WHATWG HTML form encoding)."""
    return value.replace("\n", "%0A").replace("\r", "%0D").replace('"', "%22")


def _multipart(request: Request) -> EncodedBody:
    boundary = secrets.token_hex(16)
    parts: list[Part] = []
    for name, value in request.fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n'
        if name in request.field_types:
            head += f"Content-Type: {request.field_types[name]}\r\n"
        parts.append(head.encode() + b"\r\n" + value.encode() + b"\r\n")
    for name, path in request.files.items():
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        filename = request.file_names.get(name, path.name)
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"; '
                f'filename="{_quote(filename)}"\r\nContent-Type: {mime}\r\n\r\n'
            ).encode()
        )
        parts.append(FilePart(path, _size(path)))
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    length = sum(p.size if isinstance(p, FilePart) else len(p) for p in parts)
    content_type = f"multipart/form-data; boundary={boundary}"
    return EncodedBody((("Content-Type", content_type),), tuple(parts), length)


def encode_body(request: Request) -> EncodedBody:
    """The body of ``request``; :class:`UsageError` when a file to send is missing."""
    if request.json is not None:
        data = jsonlib.dumps(request.json, separators=(",", ":")).encode()
        return EncodedBody((("Content-Type", "application/json"),), (data,), len(data))
    if request.content is not None:
        return EncodedBody((), (request.content,), len(request.content))
    if request.upload is not None:
        part = FilePart(request.upload, _size(request.upload))
        return EncodedBody((), (part,), part.size)
    if request.fields or request.files:
        return _multipart(request)
    return EMPTY


def file_chunks(part: FilePart) -> Generator[bytes, None, None]:
    """Read the file's ``size`` bytes in chunks; :class:`UsageError` if it shrank meanwhile."""
    try:
        file = part.path.open("rb")
    except OSError:
        raise UsageError(f"input file not found: {part.path}") from None
    with file:
        left = part.size
        while left:
            chunk = file.read(min(CHUNK, left))
            if not chunk:
                raise UsageError(f"{part.path} changed while it was being sent")
            left -= len(chunk)
            yield chunk


def iter_chunks(body: EncodedBody) -> Iterator[bytes]:
    """Every byte of ``body`` in order, files read from disk a chunk at a time (for threads)."""
    for part in body.parts:
        if isinstance(part, FilePart):
            yield from file_chunks(part)
        else:
            yield part

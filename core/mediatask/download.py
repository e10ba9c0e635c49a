"""Downloading outputs: streamed to ``NAME.part``, checked, then renamed into place."""

from __future__ import annotations

import contextlib
import mimetypes
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import trio

from mediatask.errors import ExpiredError, UnavailableError
from mediatask.http import Request
from mediatask.model import Output
from mediatask.naming import safe_extension, safe_name
from mediatask.transport import Transport

CHUNK = 256 * 1024
_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/svg+xml": ".svg",
    "video/mp4": ".mp4",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
}


def extension(output: Output, content_type: str | None) -> str:
    """The file extension for ``output``: from its URL, else its MIME type, else ``.bin``."""
    suffix = safe_extension(PurePosixPath(urlsplit(output.url).path).suffix)
    if suffix is not None and len(suffix) <= 6:
        return suffix
    for mime in (output.mime_type, content_type):
        if mime:
            bare = mime.split(";")[0].strip().lower()
            guessed = safe_extension(_EXTENSIONS.get(bare) or mimetypes.guess_extension(bare) or "")
            if guessed:
                return guessed
    return ".bin"


def stems(stem: str, outputs: Sequence[Output]) -> list[str]:
    """One file stem per output, ``STEM-ROLE``, numbered where roles repeat.

    Both parts may come from the provider, so each is made a safe name (:mod:`mediatask.naming`).
    """
    names: list[str] = []
    for output in outputs:
        base = f"{safe_name(stem)}-{safe_name(output.role, limit=24)}"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


async def fetch_to_file(
    transport: Transport,
    output: Output,
    directory: Path,
    stem: str,
    *,
    now: datetime,
    label: str,
) -> Path:
    """Download ``output`` into ``directory`` as ``STEM.EXT`` and return the path.

    The bytes go to ``STEM.EXT.part`` first and are renamed only when complete, so a crash or
    Ctrl-C never leaves a truncated file under the final name. The key is never sent: outputs
    are links the provider hands out.
    """
    if output.expires_at is not None and output.expires_at <= now:
        raise ExpiredError(
            f"the {output.role} of {label} expired at {output.expires_at.isoformat()}; "
            "run the job again to get a fresh result"
        )
    request = Request("GET", output.url, authenticated=False)
    async with transport.open_stream(request) as body:
        if body.status in (401, 403, 404, 410):
            raise ExpiredError(
                f"the {output.role} of {label} can no longer be downloaded (HTTP {body.status}); "
                "result links expire, so run the job again"
            )
        if not 200 <= body.status < 300:
            raise UnavailableError(
                f"downloading the {output.role} of {label} failed (HTTP {body.status})",
                status=body.status,
            )
        target = directory / (stem + extension(output, body.headers.get("content-type")))
        part = target.with_name(target.name + ".part")
        expected = body.headers.get("content-length")
        written = 0
        try:
            async with await trio.open_file(part, "wb") as file:
                while chunk := await body.read(CHUNK):
                    await file.write(chunk)
                    written += len(chunk)
            if expected is not None and expected.isdigit() and int(expected) != written:
                raise UnavailableError(
                    f"the {output.role} of {label} arrived incomplete "
                    f"({written} of {expected} bytes); download it again"
                )
            os.replace(part, target)
        except BaseException:
            with contextlib.suppress(OSError):
                part.unlink()
            raise
    return target

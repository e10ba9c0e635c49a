"""Downloading outputs: streamed to ``NAME.part``, checked, then renamed into place.

Failures are retried within the client's retry budget and resumed where the host allows; an
expired link and a local write failure are told apart from a host that is down, because each
calls for something different (run the job again; fix the folder; download again later).
"""

from __future__ import annotations

import contextlib
import itertools
import mimetypes
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import urlsplit

import attrs
import trio

from mediatask.engine.naming import numbered, output_stems, safe_extension
from mediatask.engine.policy import Backoff, RetryPolicy, parse_retry_after
from mediatask.http.failures import plain_reason
from mediatask.http.messages import Request
from mediatask.http.transport import Body, Transport
from mediatask.model.errors import (
    Hint,
    LocalWriteError,
    MediataskError,
    RejectedError,
    ResultExpiredError,
    UnavailableError,
)
from mediatask.model.values import Output, Result

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
    """One file stem per output, ``STEM-ROLE``, numbered where roles repeat (see
    :func:`mediatask.engine.naming.output_stems`)."""
    return output_stems(stem, [output.role for output in outputs])


_GONE = frozenset({401, 403, 404, 410})
"""Statuses with which a file host says a link no longer works (410 says it outright)."""
GONE_ANSWERS = 3
"""How many "gone" answers (401/403/404) a link that should still be valid gets before it is
taken as expired: the expiry may be our estimate (a day from when we saw the task finish)."""
_RETRYABLE = frozenset({408, 425, 429})
"""4xx statuses that mean "not now" rather than "never"; every 5xx is retried too."""


async def make_folder(directory: Path, *, label: str) -> None:
    """Create ``directory`` for ``label``'s outputs; failing, a :class:`LocalWriteError`."""
    try:
        await trio.Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _local_error(exc, directory, label) from None


async def fetch_to_file(
    transport: Transport,
    output: Output,
    directory: Path,
    stem: str,
    *,
    now: Callable[[], datetime],
    label: str,
    retry: RetryPolicy | None = None,
    overwrite: bool = False,
) -> Path:
    """Download ``output`` into ``directory`` as ``STEM.EXT`` and return the path.

    The bytes go to ``STEM.EXT.part`` first and are renamed only when complete, so a crash or
    Ctrl-C never leaves a truncated file under the final name. The key is never sent: outputs
    are links the provider hands out.

    A file already there is never replaced unless ``overwrite``: the output becomes
    ``STEM-2.EXT`` (``-3``, …) instead, the name reserved at once so that two downloads at the
    same time never pick the same one.

    A 5xx, a reset or a truncated body is retried under ``retry`` (its budget starts afresh
    whenever an attempt brings new bytes), resuming with ``Range: bytes=N-`` where the host
    answers 206 and starting again where it does not. Raises :class:`ResultExpiredError` once
    the link has expired, :class:`LocalWriteError` when the file cannot be written here, and
    the last :class:`UnavailableError` when the budget is spent while the link still works.
    """
    part = _Part(output, directory, stem, label, now, overwrite)
    try:
        return await _fetch_retrying(transport, part, (retry or RetryPolicy()).start())
    except BaseException:
        with contextlib.suppress(OSError):
            part.discard()
        raise


async def _fetch_retrying(transport: Transport, part: _Part, backoff: Backoff) -> Path:
    """Fetch ``part`` until it is complete, trying again after each :class:`UnavailableError`
    for as long as ``backoff`` allows (see :func:`fetch_to_file`)."""
    output, label, now = part.output, part.label, part.now
    while True:
        _check_expiry(output, now(), label)
        received = part.written
        try:
            await part.fetch(transport)
            return await part.finish()
        except UnavailableError as exc:
            if part.written > received:
                backoff.progressed()
            reason = backoff.stop_reason(exc.retry_after)
            if reason is not None:
                raise UnavailableError(
                    f"downloading the {output.role} of {label} failed: "
                    f"{plain_reason(str(exc))} ({reason}); the link may still work: "
                    f"`mediatask download {label}` tries again",
                    status=exc.status,
                ) from None
            await trio.sleep(backoff.next_delay(exc.retry_after))


async def fetch_all(fetches: Sequence[Callable[[], Awaitable[Path]]]) -> list[Path]:
    """Run ``fetches`` side by side and return their files, in order.

    One that fails does not stop the others: the first :class:`MediataskError` is raised once
    all have ended, so what could be saved is saved. A single fetch needs no nursery.
    """
    files: list[Path | None] = [None] * len(fetches)
    errors: list[MediataskError] = []

    async def fetch(index: int) -> None:
        try:
            files[index] = await fetches[index]()
        except MediataskError as exc:
            errors.append(exc)

    if len(fetches) == 1:
        await fetch(0)  # the usual case: no nursery needed
    elif fetches:  # none: every output was written where the job asked (nothing to fetch)
        async with trio.open_nursery() as nursery:
            for index in range(len(fetches)):
                nursery.start_soon(fetch, index)
    if errors:
        raise errors[0]
    return [path for path in files if path is not None]


def _write(file: IO[Any], chunks: list[bytes], last: bool) -> None:
    """Write ``chunks`` to ``file`` (in a worker thread), closing it after the ``last`` ones."""
    try:
        file.writelines(chunks)
    finally:
        if last:
            file.close()


RECOVERY = ("run the job again for a fresh result (a batch: ", Hint.RERUN_EXPIRED, ")")
"""What to do about a result the provider no longer keeps (see :meth:`MediataskError.hinted`)."""


def placed(output: Output) -> str:
    """One line for an output the provider wrote where the job asked: where, and that there is
    nothing to download."""
    return f"written to {output.url} — nothing to download"


def _reserve_free_name(wanted: Path) -> Path:
    """Create the first of ``wanted``, ``wanted-2``, … that does not exist yet, empty, and
    return it; the folder is made again if it went away."""
    for n in itertools.count(1):
        candidate = Path(numbered(wanted, n))
        try:
            with open(candidate, "xb"):
                return candidate
        except FileExistsError:
            continue
        except FileNotFoundError:
            candidate.parent.mkdir(parents=True, exist_ok=True)
            with open(candidate, "xb"):
                return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def saved_lines(result: Result) -> list[str]:
    """What ``run`` and ``download`` print for ``result``: each file saved, each value, and
    where each output the provider placed itself went."""
    lines = [str(path) for path in result.files]
    for output in result.outputs:
        if output.is_value:
            lines.append(output.shown())
        elif not output.downloadable:
            lines.append(placed(output))
    return lines


def _check_expiry(output: Output, now: datetime, label: str) -> None:
    if output.expires_at is not None and output.expires_at <= now:
        raise ResultExpiredError.hinted(
            f"the {output.role} of {label} expired at {output.expires_at.isoformat()}; ", *RECOVERY
        )


def _local_error(exc: OSError, path: Path, label: str) -> LocalWriteError:
    reason = exc.strerror or type(exc).__name__
    return LocalWriteError(
        f"cannot write the outputs of {label} to {path}: {reason}; the result is kept at the "
        f"provider: fix the folder, then `mediatask download {label}`"
    )


def _range_start(headers: Mapping[str, str]) -> int | None:
    """Where a 206 answer's ``Content-Range: bytes START-END/TOTAL`` starts."""
    found = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", headers.get("content-range", ""))
    return int(found.group(1)) if found else None


def _total(headers: Mapping[str, str], start: int) -> int | None:
    """The size of the whole file, from ``Content-Range`` or ``Content-Length``."""
    found = re.search(r"/(\d+)\s*$", headers.get("content-range", ""))
    if found:
        return int(found.group(1))
    length = headers.get("content-length", "").strip()
    return start + int(length) if length.isdigit() else None


@attrs.define
class _Part:
    """One output's ``NAME.part`` file, filled over one or more attempts."""

    output: Output
    directory: Path
    stem: str
    label: str
    now: Callable[[], datetime]
    overwrite: bool = False
    target: Path | None = None
    """Fixed by the first answer (its Content-Type may give the extension)."""
    reserved: bool = False
    """True while an empty ``target`` made by :meth:`_reserve` holds the name for this output."""
    written: int = 0
    total: int | None = None
    gone: int = 0
    """"Gone" answers so far while the link should have been valid."""

    @property
    def part(self) -> Path | None:
        return None if self.target is None else self.target.with_name(self.target.name + ".part")

    async def fetch(self, transport: Transport) -> None:
        """One attempt: ask for the bytes still missing and append them."""
        headers = {"Range": f"bytes={self.written}-"} if self.written else {}
        request = Request("GET", self.output.url, headers=headers, authenticated=False)
        async with transport.open_stream(request) as body:
            self._check_status(body.status, body.headers)
            if self.target is None:
                name = self.stem + extension(self.output, body.headers.get("content-type"))
                self.target = await self._reserve(self.directory / name)
            resumed = 0 < self.written == _range_start(body.headers) and body.status == 206
            if not resumed:
                self.written = 0  # the host sent the whole file (or a range we did not ask)
            self.total = _total(body.headers, self.written)
            await self._receive(body, append=resumed)
        if self.total is not None and self.written != self.total:
            if self.written > self.total:
                self.written = 0  # more than promised: start again
            raise UnavailableError(f"it arrived incomplete ({self.written} of {self.total} bytes)")

    async def _reserve(self, wanted: Path) -> Path:
        """``wanted``, or the first free ``wanted-N``, held by an empty file made exclusively.

        With ``overwrite`` nothing is reserved and ``wanted`` is replaced when complete.
        """
        if self.overwrite:
            return wanted
        try:
            target = await trio.to_thread.run_sync(_reserve_free_name, wanted)
        except OSError as exc:
            raise _local_error(exc, wanted, self.label) from None
        self.reserved = True
        return target

    @property
    def what(self) -> str:
        """The output, as messages name it."""
        return f"the {self.output.role} of {self.label}"

    def _check_status(self, status: int, headers: Mapping[str, str]) -> None:
        if 200 <= status < 300:
            return
        if status in _GONE:
            self._check_gone(status)
        if status == 416:  # our range is past the file: it changed, fetch it whole
            self.written = 0
            raise UnavailableError("the host refused to resume (HTTP 416)", status=416)
        if status >= 500 or status in _RETRYABLE or status in _GONE:
            # A link that should still be valid but answers 401/403/404 may be a passing glitch
            # of the file host: retried within the budget like a 5xx.
            raise UnavailableError(
                f"HTTP {status}", status=status, retry_after=parse_retry_after(headers)
            )
        raise RejectedError(f"downloading {self.what} failed (HTTP {status})", status=status)

    def _check_gone(self, status: int) -> None:
        """A "gone" answer: :class:`ResultExpiredError` when the link has expired (past its
        known expiry, a 410, a link with no known expiry, or :data:`GONE_ANSWERS` of them)."""
        what, expires = self.what, self.output.expires_at
        if expires is not None and expires <= self.now():
            raise ResultExpiredError.hinted(  # the link outlived its known expiry while we asked
                f"{what} expired at {expires.isoformat()} (HTTP {status}): ", *RECOVERY
            )
        if status == 410 or expires is None:
            raise ResultExpiredError.hinted(
                f"{what} can no longer be downloaded (HTTP {status}); result links expire: ",
                *RECOVERY,
            )
        self.gone += 1
        if self.gone >= GONE_ANSWERS:
            raise ResultExpiredError.hinted(
                f"{what} can no longer be downloaded (HTTP {status}, {self.gone} times) "
                f"though it was to be kept until {self.output.expires_at}: ",
                *RECOVERY,
            )

    async def _receive(self, body: Body, *, append: bool) -> None:
        part = self.part
        assert part is not None  # noqa: S101  # set by fetch before receiving
        mode = "ab" if append else "wb"
        try:
            try:
                file = await trio.open_file(part, mode)
            except FileNotFoundError:  # the folder went away since it was checked: make it again
                await make_folder(part.parent, label=self.label)
                file = await trio.open_file(part, mode)
        except OSError as exc:
            raise _local_error(exc, part, self.label) from None
        try:
            await self._copy(body, file.wrapped)
        finally:
            if not file.wrapped.closed:
                await file.aclose()

    async def _copy(self, body: Body, file: IO[Any]) -> None:
        """Write ``body`` to ``file`` until it ends, closing it with the last chunks.

        Chunks are written a batch at a time, the last batch closing the file, each in one
        worker-thread call: a small output costs one call after the open, not three.
        """
        batch: list[bytes] = []
        while True:
            try:
                chunk = await body.read(CHUNK)
            except UnavailableError:
                await self._write(file, batch, last=False)  # to resume after it
                raise
            batch.append(chunk)
            if chunk and sum(map(len, batch)) < CHUNK:
                continue
            await self._write(file, batch, last=not chunk)
            if not chunk:
                return
            batch = []

    async def _write(self, file: IO[Any], chunks: list[bytes], *, last: bool) -> None:
        part = self.part
        assert part is not None  # noqa: S101  # set by fetch before writing
        try:
            await trio.to_thread.run_sync(_write, file, chunks, last)
        except OSError as exc:
            raise _local_error(exc, part, self.label) from None
        self.written += sum(map(len, chunks))

    async def finish(self) -> Path:
        """Rename the complete ``NAME.part`` to ``NAME``."""
        part = self.part
        assert self.target is not None  # noqa: S101  # set by fetch
        assert part is not None  # noqa: S101  # set by fetch
        try:
            os.replace(part, self.target)
        except OSError as exc:
            raise _local_error(exc, self.target, self.label) from None
        self.reserved = False
        return self.target

    def discard(self) -> None:
        """Remove the name this output reserved, and its unfinished ``NAME.part``."""
        if self.reserved and self.target is not None:
            self.target.unlink(missing_ok=True)
            self.reserved = False
        if self.part is not None:
            self.part.unlink(missing_ok=True)

"""Every error mediatask raises on purpose. Messages are one line that says what to do next.

Whoever raises knows whether sending the same request again could charge twice, so ``retryable`` is
decided there and retry loops only read it. No message ever contains a key.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

if TYPE_CHECKING:
    from mediatask.model.values import Update


class Hint(enum.Enum):
    """An option of the caller that an error names as the fix, said in the caller's words: the
    library's keyword argument (:attr:`keyword`), the command line's flag (:attr:`flag`)."""

    INPUT = ("inputs=[...]", "--input")
    OUT_DIR = ("out_dir=", "-o/--out")
    FILE_HOST = ("file_host='s3://BUCKET/PREFIX'", "--file-host s3://BUCKET/PREFIX")
    SANDBOX = ("sandbox=True", "--sandbox")
    RERUN_EXPIRED = ("`run_batch(…, rerun_expired=True)`", "`mediatask batch … --rerun-expired`")

    @property
    def keyword(self) -> str:
        """How the library names the option: a keyword argument (``sandbox=True``)."""
        return self.value[0]

    @property
    def flag(self) -> str:
        """How the command line names the option: its flag (``--sandbox``)."""
        return self.value[1]


def _said(parts: tuple[str | Hint, ...], *, flags: bool) -> str:
    """``parts`` as one message, each :class:`Hint` as a keyword argument or as a flag."""
    words = (p if isinstance(p, str) else p.flag if flags else p.keyword for p in parts)
    return "".join(words)


class MediataskError(Exception):
    """Root of every error we raise on purpose."""

    retryable: ClassVar[bool] = False
    """True when the same call may succeed later unchanged; the engine retries these itself."""
    parts: tuple[str | Hint, ...] = ()
    """The message as text and the options it names as the fix (made by :meth:`hinted`)."""

    @classmethod
    def hinted(cls, *parts: str | Hint, **kw: Any) -> Self:
        """An error whose message names options of the caller (:class:`Hint`): its ``str`` says
        them as keyword arguments, :meth:`said` with ``flags`` as the command line's flags.

        ``UsageError.hinted("drop ", Hint.INPUT)``; ``kw`` are the error's own (``status``…).
        """
        error = cls(_said(parts, flags=False), **kw)
        error.parts = parts
        return error

    @property
    def hints(self) -> tuple[Hint, ...]:
        """The options this error names as the fix, if any."""
        return tuple(part for part in self.parts if isinstance(part, Hint))

    def said(self, *, flags: bool = False) -> str:
        """The message; with ``flags``, the options it names said as the command line's flags."""
        return _said(self.parts, flags=flags) if self.parts else str(self)


class UsageError(MediataskError):
    """Fix the input or the configuration, then run again."""


class UnknownProviderError(UsageError, LookupError):
    """The provider or operation named does not exist; the message lists the choices."""


class ConfigError(UsageError):
    """A key, base URL or other setting is missing or unusable."""


class PluginError(MediataskError):
    """A plugin broke the contract, or the provider sent something no plugin can read."""


class MalformedPayloadError(PluginError):
    """The provider sent a body that is not the JSON it should be (often a passing glitch)."""


class ProviderError(MediataskError):
    """The provider answered, and the answer was no."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status of the answer, when there was one."""
        self.retry_after = retry_after
        """Seconds the provider asked us to wait before trying again."""


class RejectedError(ProviderError):
    """4xx: this request will never succeed as it stands."""


class AuthError(RejectedError):
    """401/403: the key is missing, wrong, or lacks the scope."""


class NotFoundError(RejectedError):
    """The provider does not know the task or the file (unknown, deleted or expired)."""


class InsufficientCreditsError(RejectedError):
    """The account has no credits, coins or calls left for this."""


class RateLimitedError(ProviderError):
    """429: wait ``retry_after`` seconds, then send the same request again."""

    retryable = True


class UnavailableError(ProviderError):
    """Unreachable, a broken connection, or a 5xx answer."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        maybe_sent: bool = False,
        connected: bool = False,
    ) -> None:
        super().__init__(message, status=status, retry_after=retry_after)
        self.maybe_sent = maybe_sent
        """True when the request may have reached the provider before the failure."""
        self.connected = connected or maybe_sent or status is not None
        """True when a connection to the provider was made (its address is right)."""


class ExpiredError(ProviderError):
    """A result link is past its expiry: run the job again to get fresh outputs."""


class ResultExpiredError(ExpiredError):
    """A result's download link expired (its ``expires_at`` passed, or the host says it is gone).

    The task succeeded and was paid for, but its outputs can no longer be fetched: only running
    the job again gets them. Raised by downloads; a batch journals the job as expired.
    """


class LocalWriteError(MediataskError):
    """An output could not be written here (no space, no permission, too many open files).

    Local, not the provider's doing: the result link still works, so fix the folder and
    download again (``mediatask download HANDLE``) instead of running the job again.
    """


class TaskTimeoutError(MediataskError):
    """A deadline passed before the task ended; the task may still be running at the provider."""

    def __init__(self, message: str, *, handle: str | None = None) -> None:
        super().__init__(message)
        self.handle = handle
        """The task's handle, when it was submitted (collect it later with it)."""


class TaskFailedError(ProviderError):
    """The task ran and failed; carries its last Update."""

    def __init__(self, message: str, *, update: Update | None = None) -> None:
        super().__init__(message)
        self.update = update


class TaskCanceledError(TaskFailedError):
    """The task was canceled before it finished."""


class FailedTask(RejectedError):  # noqa: N818  # a verdict on the task, not on the request
    """An answer that says the task itself failed (or was canceled): not a request to retry.

    A plugin returns it from ``mediatask_read_error`` (or raises it from a reader such as
    ``mediatask_read_result``) when an error answer carries the task's own end, e.g. a model's
    error sent as HTTP 4xx/5xx by the endpoint that holds the result. The engine never retries
    it: following a task, it becomes the task's final ``Update`` (``Status.FAILED``, or
    ``Status.CANCELED`` with ``canceled=True``) with the provider's reason as its message, so a
    batch records the job failed (or canceled) and ``--retry-failed`` submits it again.
    Anywhere else (a submit, a list) it is a rejection like any other.
    """

    def __init__(
        self,
        reason: str,
        *,
        canceled: bool = False,
        raw_status: str = "",
        status: int | None = None,
    ) -> None:
        super().__init__(reason, status=status)
        self.canceled = canceled
        """True when the task was canceled rather than failed."""
        self.raw_status = raw_status
        """The provider's own word for the end, if it sent one (default: the HTTP status)."""

    @property
    def reason(self) -> str:
        """The provider's words for why the task ended (scrubbed of keys with the message)."""
        return str(self.args[0]) if self.args else ""


class SubmitUncertainError(MediataskError):
    """A submit may have reached the provider: look the task up before submitting again."""


class SubmitAbandonedError(SubmitUncertainError):
    """A submit on the wire was given up when the run was cancelled (Ctrl-C) before its answer
    came: a provider that holds a submit's answer (``Capabilities.submit_blocks``) is not
    waited for longer than a moment, so the task may or may not exist."""


class StreamError(MediataskError):
    """A status stream broke or sent something unreadable; the engine falls back to polling."""

    retryable = True


E = TypeVar("E", bound=BaseException)


def leaves(group: BaseExceptionGroup[E]) -> Iterator[E]:
    """The exceptions in ``group`` and its nested groups, depth first (not the groups)."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from leaves(exc)
        else:
            yield exc


def wrong_type(name: str, takes: str, value: object, fix: str = "") -> TypeError:
    """The error for argument ``name`` given ``value`` where it takes ``takes``, in one line.

    Raised by the library's entry points before they use an argument, so a wrong type reads the
    same on every Python version rather than as the interpreter's own message. Only numbers and
    None are shown (any other value could be long, or a secret): ``out_dir must be a folder path
    (a str or os.PathLike), got int 5``. ``fix``, when given, is appended after a colon.
    """
    got = type(value).__name__
    if value is None:
        got = "None"
    elif isinstance(value, int | float):
        got += f" {value!r}"
    return TypeError(f"{name} must be {takes}, got {got}" + (f": {fix}" if fix else ""))


def file_problem(exc: OSError | UnicodeDecodeError) -> str:
    """Why a local file could not be read, in words (``it is a folder``), never ``[Errno 21]``
    or a codec's message."""
    if isinstance(exc, UnicodeDecodeError):
        return "it is not text (UTF-8)"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    if isinstance(exc, FileNotFoundError):
        return "there is no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return (exc.strerror or type(exc).__name__).lower()

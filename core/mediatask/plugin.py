"""What a provider plugin imports: the whole author surface, and nothing more.

A plugin builds :class:`Request` objects and reads :class:`Response` objects; the core does all
I/O. Everything a plugin needs to do that is here, and importing it loads no networking, no
event loop, no database and no CLI (no trio, urllib3, sqlite3 or click), so a plugin stays cheap
to import and easy to test. ``docs/writing-a-provider.md`` walks through writing one; the hooks
are documented in :mod:`mediatask.providers.hookspecs` and ``docs/hooks.md``.

Names outside this module (and :mod:`mediatask.emulator` for emulators,
:mod:`mediatask.testing` for tests) are the core's own and may change without notice.
"""

from mediatask.http.headers import MAX_RETRY_AFTER, parse_rate_limit_reset, parse_retry_after
from mediatask.http.messages import Request, Response
from mediatask.model.errors import (
    AuthError,
    ExpiredError,
    FailedTask,
    InsufficientCreditsError,
    MalformedPayloadError,
    MediataskError,
    NotFoundError,
    PluginError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    ResultExpiredError,
    UnavailableError,
    UsageError,
)
from mediatask.model.values import (
    Cancellation,
    CancelOutcome,
    Capabilities,
    Credits,
    Job,
    LocalFiles,
    Operation,
    Output,
    Param,
    ProviderInfo,
    Status,
    Submitted,
    TaskRef,
    Update,
)
from mediatask.providers.hookspecs import ProviderEmulator, hookimpl
from mediatask.providers.statuses import error_for_status
from mediatask.providers.validate import is_url, url_scheme

__all__ = [
    "MAX_RETRY_AFTER",
    "AuthError",
    "CancelOutcome",
    "Cancellation",
    "Capabilities",
    "Credits",
    "ExpiredError",
    "FailedTask",
    "InsufficientCreditsError",
    "Job",
    "LocalFiles",
    "MalformedPayloadError",
    "MediataskError",
    "NotFoundError",
    "Operation",
    "Output",
    "Param",
    "PluginError",
    "ProviderEmulator",
    "ProviderError",
    "ProviderInfo",
    "RateLimitedError",
    "RejectedError",
    "Request",
    "Response",
    "ResultExpiredError",
    "Status",
    "Submitted",
    "TaskRef",
    "UnavailableError",
    "Update",
    "UsageError",
    "error_for_status",
    "hookimpl",
    "is_url",
    "parse_rate_limit_reset",
    "parse_retry_after",
    "url_scheme",
]

"""mediatask: one model, engine and CLI for asynchronous AI media APIs.

Submit a job, follow the task by polling or Server-Sent Events, download the results — the same
way on every provider. Providers are pluggy plugins (entry-point group ``mediatask``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Seen by type checkers; at run time each name is imported on first use (PEP 562),
    # so `import mediatask` (and the CLI) does not pay for the engine.
    from mediatask.api import (
        download_outputs,
        open_client,
        run,
        run_batch,
        run_many,
        status,
        submit,
        wait,
    )
    from mediatask.config import ProviderSettings, Settings
    from mediatask.engine import Client, Listing
    from mediatask.errors import (
        AuthError,
        ConfigError,
        ExpiredError,
        FailedTask,
        InsufficientCreditsError,
        LocalWriteError,
        MediataskError,
        NotFoundError,
        PluginError,
        ProviderError,
        RateLimitedError,
        RejectedError,
        ResultExpiredError,
        SubmitAbandonedError,
        SubmitUncertainError,
        TaskCanceledError,
        TaskFailedError,
        TaskTimeoutError,
        UnavailableError,
        UnknownProviderError,
        UsageError,
    )
    from mediatask.hookspecs import hookimpl
    from mediatask.http import Request, Response
    from mediatask.journal import (
        JobRecord,
        JobState,
        Journal,
    )
    from mediatask.keys import KeyStore
    from mediatask.many import Outcome
    from mediatask.model import (
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
        Result,
        Status,
        Submitted,
        TaskRef,
        Update,
    )
    from mediatask.plugins import PluginManager
    from mediatask.policy import PollPolicy, RetryPolicy

_SOURCES = {
    "open_client": "mediatask.api",
    "run": "mediatask.api",
    "run_many": "mediatask.api",
    "run_batch": "mediatask.api",
    "submit": "mediatask.api",
    "status": "mediatask.api",
    "wait": "mediatask.api",
    "download_outputs": "mediatask.api",
    "ProviderSettings": "mediatask.config",
    "Settings": "mediatask.config",
    "Client": "mediatask.engine",
    "Listing": "mediatask.engine",
    "AuthError": "mediatask.errors",
    "ConfigError": "mediatask.errors",
    "ExpiredError": "mediatask.errors",
    "FailedTask": "mediatask.errors",
    "InsufficientCreditsError": "mediatask.errors",
    "LocalWriteError": "mediatask.errors",
    "MediataskError": "mediatask.errors",
    "NotFoundError": "mediatask.errors",
    "PluginError": "mediatask.errors",
    "ProviderError": "mediatask.errors",
    "RateLimitedError": "mediatask.errors",
    "RejectedError": "mediatask.errors",
    "ResultExpiredError": "mediatask.errors",
    "SubmitAbandonedError": "mediatask.errors",
    "SubmitUncertainError": "mediatask.errors",
    "TaskCanceledError": "mediatask.errors",
    "TaskFailedError": "mediatask.errors",
    "TaskTimeoutError": "mediatask.errors",
    "UnavailableError": "mediatask.errors",
    "UnknownProviderError": "mediatask.errors",
    "UsageError": "mediatask.errors",
    "hookimpl": "mediatask.hookspecs",
    "Request": "mediatask.http",
    "Response": "mediatask.http",
    "JobRecord": "mediatask.journal",
    "JobState": "mediatask.journal",
    "Journal": "mediatask.journal",
    "KeyStore": "mediatask.keys",
    "Outcome": "mediatask.many",
    "CancelOutcome": "mediatask.model",
    "Cancellation": "mediatask.model",
    "Capabilities": "mediatask.model",
    "Credits": "mediatask.model",
    "Job": "mediatask.model",
    "LocalFiles": "mediatask.model",
    "Operation": "mediatask.model",
    "Output": "mediatask.model",
    "Param": "mediatask.model",
    "ProviderInfo": "mediatask.model",
    "Result": "mediatask.model",
    "Status": "mediatask.model",
    "Submitted": "mediatask.model",
    "TaskRef": "mediatask.model",
    "Update": "mediatask.model",
    "PluginManager": "mediatask.plugins",
    "PollPolicy": "mediatask.policy",
    "RetryPolicy": "mediatask.policy",
}
"""Where each public name lives: imported from there on first access."""

__all__ = [
    "AuthError",
    "CancelOutcome",
    "Cancellation",
    "Capabilities",
    "Client",
    "ConfigError",
    "Credits",
    "ExpiredError",
    "FailedTask",
    "InsufficientCreditsError",
    "Job",
    "JobRecord",
    "JobState",
    "Journal",
    "KeyStore",
    "Listing",
    "LocalFiles",
    "LocalWriteError",
    "MediataskError",
    "NotFoundError",
    "Operation",
    "Outcome",
    "Output",
    "Param",
    "PluginError",
    "PluginManager",
    "PollPolicy",
    "ProviderError",
    "ProviderInfo",
    "ProviderSettings",
    "RateLimitedError",
    "RejectedError",
    "Request",
    "Response",
    "Result",
    "ResultExpiredError",
    "RetryPolicy",
    "Settings",
    "Status",
    "SubmitAbandonedError",
    "SubmitUncertainError",
    "Submitted",
    "TaskCanceledError",
    "TaskFailedError",
    "TaskRef",
    "TaskTimeoutError",
    "UnavailableError",
    "UnknownProviderError",
    "Update",
    "UsageError",
    "download_outputs",
    "hookimpl",
    "open_client",
    "run",
    "run_batch",
    "run_many",
    "status",
    "submit",
    "wait",
]


def __getattr__(name: str) -> object:
    """Import a public name from its module on first access, and keep it (PEP 562)."""
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

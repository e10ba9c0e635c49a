"""mediatask: one model, engine and CLI for asynchronous AI media APIs.

Submit a job, follow the task by polling or Server-Sent Events, download the results — the same
way on every provider. Providers are pluggy plugins (entry-point group ``mediatask``).
"""

from mediatask.api import open_client, run, run_many
from mediatask.config import ProviderSettings, Settings
from mediatask.engine import Client
from mediatask.errors import (
    AuthError,
    ConfigError,
    ExpiredError,
    InsufficientCreditsError,
    LocalWriteError,
    MediataskError,
    NotFoundError,
    PluginError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    ResultExpiredError,
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
from mediatask.journal import JobRecord, JobState, Journal
from mediatask.keys import KeyStore
from mediatask.many import Outcome
from mediatask.model import (
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

__all__ = [
    "AuthError",
    "Capabilities",
    "Client",
    "ConfigError",
    "Credits",
    "ExpiredError",
    "InsufficientCreditsError",
    "Job",
    "JobRecord",
    "JobState",
    "Journal",
    "KeyStore",
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
    "hookimpl",
    "open_client",
    "run",
    "run_many",
]

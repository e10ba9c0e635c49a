"""mediatask: one model, engine and CLI for asynchronous AI media APIs.

Submit a job, follow the task by polling or Server-Sent Events, download the results — the same
way on every provider. Providers are pluggy plugins (entry-point group ``mediatask``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from mediatask import _moved

_moved.install()

if TYPE_CHECKING:
    # Seen by type checkers (the `X as X` form re-exports); at run time each name is imported on
    # first use (PEP 562), so `import mediatask` (and the CLI) does not pay for the engine.
    # tests/test_layers.py keeps this list equal to _PUBLIC.
    from mediatask._api import download_outputs as download_outputs
    from mediatask._api import open_client as open_client
    from mediatask._api import run as run
    from mediatask._api import run_batch as run_batch
    from mediatask._api import run_many as run_many
    from mediatask._api import status as status
    from mediatask._api import submit as submit
    from mediatask._api import wait as wait
    from mediatask.engine.client import Client as Client
    from mediatask.engine.client import Listing as Listing
    from mediatask.engine.file_host import open_file_host as open_file_host
    from mediatask.engine.policy import PollPolicy as PollPolicy
    from mediatask.engine.policy import RetryPolicy as RetryPolicy
    from mediatask.engine.run_many import Outcome as Outcome
    from mediatask.http.messages import Request as Request
    from mediatask.http.messages import Response as Response
    from mediatask.journal.sqlite import JobRecord as JobRecord
    from mediatask.journal.sqlite import JobState as JobState
    from mediatask.journal.sqlite import Journal as Journal
    from mediatask.model.errors import AuthError as AuthError
    from mediatask.model.errors import ConfigError as ConfigError
    from mediatask.model.errors import ExpiredError as ExpiredError
    from mediatask.model.errors import FailedTask as FailedTask
    from mediatask.model.errors import Hint as Hint
    from mediatask.model.errors import InsufficientCreditsError as InsufficientCreditsError
    from mediatask.model.errors import LocalWriteError as LocalWriteError
    from mediatask.model.errors import MalformedPayloadError as MalformedPayloadError
    from mediatask.model.errors import MediataskError as MediataskError
    from mediatask.model.errors import NotFoundError as NotFoundError
    from mediatask.model.errors import PluginError as PluginError
    from mediatask.model.errors import ProviderError as ProviderError
    from mediatask.model.errors import RateLimitedError as RateLimitedError
    from mediatask.model.errors import RejectedError as RejectedError
    from mediatask.model.errors import ResultExpiredError as ResultExpiredError
    from mediatask.model.errors import StreamError as StreamError
    from mediatask.model.errors import SubmitAbandonedError as SubmitAbandonedError
    from mediatask.model.errors import SubmitUncertainError as SubmitUncertainError
    from mediatask.model.errors import TaskCanceledError as TaskCanceledError
    from mediatask.model.errors import TaskFailedError as TaskFailedError
    from mediatask.model.errors import TaskTimeoutError as TaskTimeoutError
    from mediatask.model.errors import UnavailableError as UnavailableError
    from mediatask.model.errors import UnknownProviderError as UnknownProviderError
    from mediatask.model.errors import UsageError as UsageError
    from mediatask.model.values import Cancellation as Cancellation
    from mediatask.model.values import CancelOutcome as CancelOutcome
    from mediatask.model.values import Capabilities as Capabilities
    from mediatask.model.values import Credits as Credits
    from mediatask.model.values import Job as Job
    from mediatask.model.values import LocalFiles as LocalFiles
    from mediatask.model.values import Operation as Operation
    from mediatask.model.values import Output as Output
    from mediatask.model.values import Param as Param
    from mediatask.model.values import ProviderInfo as ProviderInfo
    from mediatask.model.values import Result as Result
    from mediatask.model.values import Status as Status
    from mediatask.model.values import Submitted as Submitted
    from mediatask.model.values import TaskRef as TaskRef
    from mediatask.model.values import Update as Update
    from mediatask.providers.hookspecs import hookimpl as hookimpl
    from mediatask.providers.manager import PluginManager as PluginManager
    from mediatask.settings.config import ProviderSettings as ProviderSettings
    from mediatask.settings.config import Settings as Settings
    from mediatask.settings.keys import KeyStore as KeyStore

_PUBLIC: dict[str, tuple[str, ...]] = {
    "mediatask._api": (
        "download_outputs",
        "open_client",
        "run",
        "run_batch",
        "run_many",
        "status",
        "submit",
        "wait",
    ),
    "mediatask.engine.client": (
        "Client",
        "Listing",
    ),
    "mediatask.engine.file_host": ("open_file_host",),
    "mediatask.engine.policy": (
        "PollPolicy",
        "RetryPolicy",
    ),
    "mediatask.engine.run_many": ("Outcome",),
    "mediatask.http.messages": (
        "Request",
        "Response",
    ),
    "mediatask.journal.sqlite": (
        "JobRecord",
        "JobState",
        "Journal",
    ),
    "mediatask.model.errors": (
        "AuthError",
        "ConfigError",
        "ExpiredError",
        "FailedTask",
        "Hint",
        "InsufficientCreditsError",
        "LocalWriteError",
        "MalformedPayloadError",
        "MediataskError",
        "NotFoundError",
        "PluginError",
        "ProviderError",
        "RateLimitedError",
        "RejectedError",
        "ResultExpiredError",
        "StreamError",
        "SubmitAbandonedError",
        "SubmitUncertainError",
        "TaskCanceledError",
        "TaskFailedError",
        "TaskTimeoutError",
        "UnavailableError",
        "UnknownProviderError",
        "UsageError",
    ),
    "mediatask.model.values": (
        "CancelOutcome",
        "Cancellation",
        "Capabilities",
        "Credits",
        "Job",
        "LocalFiles",
        "Operation",
        "Output",
        "Param",
        "ProviderInfo",
        "Result",
        "Status",
        "Submitted",
        "TaskRef",
        "Update",
    ),
    "mediatask.providers.hookspecs": ("hookimpl",),
    "mediatask.providers.manager": ("PluginManager",),
    "mediatask.settings.config": (
        "ProviderSettings",
        "Settings",
    ),
    "mediatask.settings.keys": ("KeyStore",),
}
"""Each public name by the module it lives in: the one list of what `mediatask` offers."""

_SOURCES = {name: module for module, names in _PUBLIC.items() for name in names}
"""Where each public name lives: imported from there on first access."""

__all__ = sorted(_SOURCES)


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

"""The plugin contract: sans-I/O hooks that build a Request or read a payload.

The core does all I/O.

Hooks are plain synchronous functions. Operation hooks (all but ``mediatask_providers``) are routed:
they reach only the plugin that declared ``provider``, plus plugins that declare no provider
(cross-cutting wrappers such as an audit log). An implementation may take any subset of a hook's
arguments. ``docs/hooks.md`` documents each hook and the order the core calls them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

from mediatask.http.messages import Request, Response
from mediatask.model.errors import MediataskError
from mediatask.model.values import (
    Cancellation,
    Credits,
    Job,
    ProviderInfo,
    Submitted,
    TaskRef,
    Update,
)

if TYPE_CHECKING:
    from mediatask.emulator.faults import Faults
    from mediatask.emulator.limits import TaskLimit

hookspec = pluggy.HookspecMarker("mediatask")
hookimpl = pluggy.HookimplMarker("mediatask")


class ProviderEmulator(Protocol):
    """What ``mediatask_emulator`` returns: a :class:`mediatask.emulator.Emulator` subclass is one.

    The sandbox and ``mediatask emulate`` serve :attr:`app` on a loopback port, after setting the
    key it accepts and the fault knobs.
    """

    accepted_key: str | None
    """``None``: any non-empty key opens the API; else only this one."""

    @property
    def app(self) -> Any:
        """The ASGI application serving the provider's API."""

    @property
    def faults(self) -> Faults:
        """Fault knobs: processing time, error injection, random faults."""

    @property
    def limit(self) -> TaskLimit:
        """Tasks in progress per key beyond which submits are answered 429."""


@hookspec
def mediatask_providers() -> list[ProviderInfo]:
    """Declare this plugin's providers. Called once per plugin, when the plugin is registered.

    :returns: the providers this plugin owns; a plugin that only wraps other hooks returns ``[]``.
    """


@hookspec(firstresult=True)
def mediatask_validate(provider: str, job: Job) -> Job | None:
    """Check a job beyond its declared parameters, before any network call.

    Called for every job after the core checked it against the declared operation. Operations
    declared with ``open_params=True`` (a nested parameter document, e.g. Claid's edit
    operations) are checked only here: dotted names such as ``operations.resizing.width`` arrive
    as given. Raise ``UsageError`` naming the parameter's dotted path and the allowed values.

    :returns: the job with its parameters converted, or ``None`` to leave it as it is.
    """


@hookspec(firstresult=True)
def mediatask_submit(provider: str, job: Job, marker: str) -> Request:
    """Build the request that creates a task for ``job``.

    Called once per job, after ``job`` was checked against the declared operation (parameters
    typed, defaults filled) and its local inputs prepared (made URLs, unless the provider takes
    files inline). The core resends it only when the connection failed before anything was sent.

    :param provider: the provider name, as declared by ``mediatask_providers``.
    :param job: the validated job.
    :param marker: ``mediatask-`` and 16 hex digits naming this one submit (a batch derives it
        from its journal), or ``""``. A provider that keeps a name or title on its tasks and
        lists them should put it there, and ``mediatask_read_list`` should return it as
        ``Submitted.extra["marker"]``: a submit whose answer was lost is then found by it.
    :returns: the request; a relative URL is joined to the provider's base URL.
    """


@hookspec(firstresult=True)
def mediatask_read_submission(provider: str, job: Job, response: Response) -> Submitted:
    """Read the answer to a successful (non-error) submit request.

    Called once per job, right after ``mediatask_submit``'s request was answered and
    ``mediatask_read_error`` found no error in the answer.

    :returns: the task id, what else is needed to find the task again, and an ``Update`` when the
        answer already tells the task's state (e.g. finished at once, so no polling is needed).
    """


@hookspec(firstresult=True)
def mediatask_poll(provider: str, task: TaskRef) -> Request:
    """Build the request that reads the task's status. Called on every poll."""


@hookspec(firstresult=True)
def mediatask_stream(provider: str, task: TaskRef) -> Request | None:
    """Build the request that opens a Server-Sent Events stream for ``task``.

    Called once each time the engine starts (or restarts) following a task.

    :returns: the request, or ``None`` when the provider has no stream: the engine polls instead.
    """


@hookspec(firstresult=True)
def mediatask_parse_result(provider: str, task: TaskRef, payload: Mapping[str, Any]) -> Update:
    """Read one status payload (a poll body or one stream event's JSON data) into an Update.

    Pure: no I/O, no clock. A failed task is an Update with ``Status.FAILED``; raise
    ``PluginError`` only when the payload cannot be read at all. A final successful update
    carries the outputs, unless the plugin has a result step (``mediatask_result``).
    """


@hookspec(firstresult=True)
def mediatask_result(provider: str, task: TaskRef, update: Update) -> Request | None:
    """Build the request whose answer carries a finished task's outputs or its failure.

    Optional: for a provider whose final status says only that the task ended (``COMPLETED``)
    and keeps the outputs (or the model's error) behind another endpoint. Called once, after a
    poll or stream event read as a final ``update`` (``mediatask_parse_result`` may return
    ``Status.SUCCEEDED`` without outputs then); the core sends the request with the usual
    retries, before any download. Not implemented, or ``None``: the final update is the result.
    """


@hookspec(firstresult=True)
def mediatask_read_result(
    provider: str, task: TaskRef, update: Update, response: Response
) -> Update:
    """Read the answer to ``mediatask_result``'s request into the task's final Update.

    Pure. ``update`` is the final status that asked for the result. Not implemented: the core
    reads the answer's JSON with ``mediatask_parse_result``. An error answer that means the
    task failed is said in ``mediatask_read_error`` by returning :class:`FailedTask`; a reader
    may also raise it.
    """


@hookspec(firstresult=True)
def mediatask_read_error(
    provider: str, request: Request, response: Response
) -> MediataskError | None:
    """Turn an answer that is an error into our exception, or say it is not one.

    Called for every answer to a request a plugin built (submit, poll, stream, result, list,
    upload steps), before the answer is read. ``None`` leaves the decision to the core: a 2xx
    answer is fine, anything else maps by status (401/403 ``AuthError``, 404 ``NotFoundError``, 429
    ``RateLimitedError``, 5xx ``UnavailableError``, other 4xx ``RejectedError``). A plugin
    answers here for error bodies it can read better, or for errors a provider sends as 2xx.
    Return :class:`FailedTask` when the answer says the task itself failed or was canceled
    (e.g. a model's error on the result endpoint): the task then ends so, with no retry.
    """


@hookspec(firstresult=True)
def mediatask_upload(
    provider: str, path: Path, history: Sequence[Response]
) -> Request | str | None:
    """Take one step of turning a local file into a URL the provider accepts.

    Called only for providers whose capabilities say ``local_files=UPLOAD``: first with an empty
    ``history``, then again after each request it returned was answered, with every answer so
    far. A multi-step flow (ask for a presigned URL, PUT the bytes, use the CDN URL) stays
    sans-I/O this way: the core sends, the plugin decides.

    :returns: the next request to send, or the final URL (a ``str``) when done.
    """


@hookspec(firstresult=True)
def mediatask_cancel(provider: str, task: TaskRef) -> Request | None:
    """Build the request that cancels or deletes ``task``; ``None`` when the provider cannot."""


@hookspec(firstresult=True)
def mediatask_read_cancel(
    provider: str, task: TaskRef, response: Response
) -> Cancellation | str | None:
    """Read the answer to a cancel request: what came of it.

    Called after ``mediatask_cancel``'s request was answered without an error. Return a
    :class:`Cancellation`: ``Cancellation.canceled()`` when the answer says the task stopped,
    ``Cancellation.requested()`` when the provider only took the request, or
    ``Cancellation.nothing(state)`` when the task had already ended; give it a ``message`` for
    what else the provider did (e.g. that it refunded the task's coins). A plain ``str`` is
    that message for a cancel requested; ``None``: the core says the cancel was requested. A
    refused cancel (4xx) of a task already final is found by the core, which polls once.
    """


@hookspec(firstresult=True)
def mediatask_list(provider: str, operation: str | None) -> Request | None:
    """Build the request that lists the provider's own task records, or ``None`` if it has none.

    :param operation: restrict to one operation's tasks (``None``: the provider's default list).
    """


@hookspec(firstresult=True)
def mediatask_read_list(
    provider: str, operation: str | None, response: Response
) -> list[Submitted]:
    """Read a list answer: one ``Submitted`` (id, extra, current ``Update``) per task record.

    Called once per page (see ``mediatask_next_page``). Give each record's ``created_at`` when
    the provider tells it: a look-up of a lost submit then reads back only as far as needed.
    """


@hookspec(firstresult=True)
def mediatask_next_page(
    provider: str, operation: str | None, request: Request, response: Response
) -> Request | None:
    """Build the request for the page of the list after ``response``, or ``None`` at the end.

    Optional: a provider whose list comes in pages says here how to ask for the next one
    (from the answer's total, cursor or page metadata). ``request`` is the request that
    ``response`` answered. The core follows pages up to a bound, newest first, and says when it
    stopped before the end. Not implemented: the list is one page.
    """


@hookspec(firstresult=True)
def mediatask_credits(provider: str) -> Request | None:
    """Build the request that reads the account's remaining credits, or ``None`` if unknown."""


@hookspec(firstresult=True)
def mediatask_read_credits(provider: str, response: Response) -> Credits:
    """Read the answer to ``mediatask_credits``'s request."""


@hookspec(firstresult=True)
def mediatask_emulator(provider: str) -> ProviderEmulator | None:
    """Return an emulator of the provider's API, for the sandbox and tests.

    The object (an :class:`mediatask.emulator.Emulator` subclass, see :class:`ProviderEmulator`)
    carries the ASGI application as ``.app`` and the key it accepts as ``.accepted_key``.
    Called only when the user asks for the sandbox or ``mediatask emulate``; a plugin imports its
    emulator's dependencies (the ``mediatask[sandbox]`` extra) inside this hook, never at import
    time. ``None`` means the plugin ships no emulator.
    """

"""The plugin manager: discovery through entry points, checks at registration, routed hook calls.

Every provider plugin is registered under its entry-point name; each operation hook is called
through ``subset_hook_caller`` so that it reaches only the plugin that declared the provider, plus
plugins that declare no provider at all (cross-cutting wrappers).
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pluggy

from mediatask.http.messages import Request, Response
from mediatask.model.errors import MediataskError, PluginError, UnknownProviderError, UsageError
from mediatask.model.suggest import did_you_mean
from mediatask.model.values import (
    Cancellation,
    Credits,
    Job,
    ProviderInfo,
    Submitted,
    TaskRef,
    Update,
)
from mediatask.providers import hookspecs
from mediatask.providers.validate import name_valid_fields

ENTRY_POINT_GROUP = "mediatask"
PLUGINS_ENV = "MEDIATASK_PLUGINS"


def _status_class(request: Request) -> Request:
    """A request that reads a task's state counts toward the ``status`` class of rate limits,
    unless its plugin named another."""
    return request if request.rate_class else attrs.evolve(request, rate_class="status")


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; mediatask goes on without it."""


@attrs.frozen
class LoadFailure:
    """A plugin that was found but could not be loaded, and why."""

    name: str
    distribution: str
    reason: str


@attrs.frozen
class PluginRecord:
    """A registered plugin: its name, where it came from, and what it declares."""

    name: str
    distribution: str
    version: str
    providers: tuple[str, ...]
    hooks: tuple[str, ...]


def _selected_names(value: str | None) -> set[str] | None:
    if not value:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


class PluginManager:
    """Loads plugins, checks them, and calls their hooks routed by provider."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager("mediatask")
        self._pm.add_hookspecs(hookspecs)
        self._providers: dict[str, ProviderInfo] = {}
        self._owner: dict[str, object] = {}
        self._records: dict[str, PluginRecord] = {}
        self._callers: dict[tuple[str, str], Any] = {}
        self.failures: list[LoadFailure] = []
        """Plugins that were found but failed to load, for ``mediatask plugins``."""

    @classmethod
    def from_entry_points(cls, selected: str | None = None) -> PluginManager:
        """Load the installed plugins (entry-point group ``mediatask``).

        :param selected: comma-separated plugin names to load; default ``$MEDIATASK_PLUGINS``,
            and all installed plugins when that is unset too. A plugin named there that fails to
            load is an error; any other is a warning that names it.
        """
        manager = cls()
        names = _selected_names(selected if selected is not None else os.environ.get(PLUGINS_ENV))
        found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        for entry_point in sorted(found, key=lambda ep: ep.name):
            if names is not None and entry_point.name not in names:
                continue
            manager._load_entry_point(entry_point, explicit=names is not None)
        if names is not None and (missing := names - set(manager._records)):
            raise UnknownProviderError(
                f"{PLUGINS_ENV} names plugins that are not installed: {', '.join(sorted(missing))}"
            )
        return manager

    @classmethod
    def from_plugins(cls, plugins: Mapping[str, object]) -> PluginManager:
        """Build a manager from explicit plugin objects (modules or instances), e.g. in tests."""
        manager = cls()
        for name, plugin in plugins.items():
            manager.register(plugin, name=name)
        return manager

    def _load_entry_point(
        self, entry_point: importlib.metadata.EntryPoint, *, explicit: bool
    ) -> None:
        dist = entry_point.dist
        dist_name = dist.name if dist is not None else entry_point.value
        version = dist.version if dist is not None else "?"
        try:
            plugin = entry_point.load()
            self.register(plugin, name=entry_point.name, distribution=dist_name, version=version)
        except Exception as exc:  # a broken plugin must not take the CLI down
            reason = f"{type(exc).__name__}: {exc}"
            if explicit:
                raise PluginError(
                    f"plugin {entry_point.name!r} ({dist_name}) failed to load: {reason}"
                ) from exc
            self.failures.append(LoadFailure(entry_point.name, dist_name, reason))
            warnings.warn(
                f"mediatask plugin {entry_point.name!r} ({dist_name}) failed to load and is "
                f"skipped: {reason}",
                PluginLoadWarning,
                stacklevel=2,
            )

    def register(
        self, plugin: object, *, name: str, distribution: str = "", version: str = ""
    ) -> None:
        """Register ``plugin``, checking it first; on any error nothing stays registered.

        Rejects misspelled hooks, ``async def`` hookimpls and a provider name another plugin
        already declared.
        """
        self._pm.register(plugin, name=name)
        try:
            self._check(plugin, name)
            infos = self._declared(plugin)
            for info in infos:
                if info.name in self._providers:
                    other = self._pm.get_name(self._owner[info.name])
                    raise PluginError(
                        f"plugin {name!r} declares provider {info.name!r}, "
                        f"which plugin {other!r} already declares"
                    )
        except BaseException:
            self._pm.unregister(plugin)
            raise
        for info in infos:
            self._providers[info.name] = info
            self._owner[info.name] = plugin
        hooks = tuple(sorted(impl.name for impl in self._pm.get_hookcallers(plugin) or ()))
        self._records[name] = PluginRecord(
            name, distribution or name, version, tuple(i.name for i in infos), hooks
        )
        self._callers.clear()  # subset callers fix their exclusions when created

    def _check(self, plugin: object, name: str) -> None:
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"plugin {name!r} implements a hook that does not exist: {exc}"
            ) from exc
        for caller in self._pm.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and (
                    inspect.iscoroutinefunction(impl.function)
                    or inspect.isasyncgenfunction(impl.function)
                ):
                    raise PluginError(
                        f"plugin {name!r}: hook {caller.name} is async; hooks must be plain "
                        "functions (the core does all I/O)"
                    )

    def _declared(self, plugin: object) -> list[ProviderInfo]:
        impl = getattr(plugin, "mediatask_providers", None)
        if impl is None:
            return []
        infos = impl()
        if not isinstance(infos, list) or not all(isinstance(i, ProviderInfo) for i in infos):
            raise PluginError("mediatask_providers must return a list of ProviderInfo")
        return infos

    # -- reading what is registered ----------------------------------------------------------

    @property
    def providers(self) -> Mapping[str, ProviderInfo]:
        """Every declared provider, by name."""
        return dict(self._providers)

    @property
    def plugins(self) -> Sequence[PluginRecord]:
        """Every registered plugin."""
        return list(self._records.values())

    @property
    def hook_names(self) -> Sequence[str]:
        """The names of every hook in the contract."""
        return [name for name in dir(self._pm.hook) if name.startswith("mediatask_")]

    def hook_argnames(self, hook: str) -> Sequence[str]:
        """The argument names of a hook's specification, in order."""
        caller = getattr(self._pm.hook, hook)
        spec = caller.spec
        assert spec is not None  # noqa: S101  # every hook here comes from our own specs
        return list(spec.argnames)

    def provider(self, name: str) -> ProviderInfo:
        """Return the provider called ``name``; :class:`UnknownProviderError` lists the others."""
        try:
            return self._providers[name]
        except KeyError:
            known = ", ".join(sorted(self._providers)) or "none (install a provider plugin)"
            hint = did_you_mean(name, self._providers)
            raise UnknownProviderError(
                f"unknown provider {name!r}{hint}; installed providers: {known}"
            ) from None

    # -- routed hook calls ---------------------------------------------------------------------

    def _call(self, hook: str, provider: str, **kwargs: Any) -> Any:
        key = (hook, provider)
        caller = self._callers.get(key)
        if caller is None:
            owner = self._owner.get(provider)
            if owner is None:
                self.provider(provider)  # raises the helpful error
            others = list({id(p): p for p in self._owner.values() if p is not owner}.values())
            caller = self._pm.subset_hook_caller(hook, remove_plugins=others)
            self._callers[key] = caller
        try:
            return caller(provider=provider, **kwargs)
        except MediataskError:
            raise
        except Exception as exc:
            raise PluginError(
                f"the {provider} plugin failed in {hook}: {type(exc).__name__}: {exc}"
            ) from exc

    def _required(self, hook: str, provider: str, value: Any, kind: type | tuple[type, ...]) -> Any:
        if not isinstance(value, kind):
            raise PluginError(f"the {provider} plugin's {hook} returned {value!r}")
        return value

    def validate(self, provider: str, job: Job) -> Job:
        """Let the plugin check ``job`` further (hook ``mediatask_validate``); a field it refuses
        as unknown is told with the names valid there (see :func:`name_valid_fields`)."""
        try:
            value = self._call("mediatask_validate", provider, job=job)
        except UsageError as exc:
            operation = self.provider(provider).operation(job.operation)
            if operation is None:
                raise
            raise UsageError(name_valid_fields(operation, str(exc))) from None
        checked: Job | None = self._required(
            "mediatask_validate", provider, value, (Job, type(None))
        )
        return job if checked is None else checked

    def submit(self, provider: str, job: Job, marker: str = "") -> Request:
        """Build the submit request for ``job`` (hook ``mediatask_submit``)."""
        value = self._call("mediatask_submit", provider, job=job, marker=marker)
        request: Request = self._required("mediatask_submit", provider, value, Request)
        return request

    def read_submission(self, provider: str, job: Job, response: Response) -> Submitted:
        """Read a submit answer (hook ``mediatask_read_submission``)."""
        value = self._call("mediatask_read_submission", provider, job=job, response=response)
        submitted: Submitted = self._required(
            "mediatask_read_submission", provider, value, Submitted
        )
        return submitted

    def poll(self, provider: str, task: TaskRef) -> Request:
        """Build the status request for ``task`` (hook ``mediatask_poll``)."""
        value = self._call("mediatask_poll", provider, task=task)
        request: Request = self._required("mediatask_poll", provider, value, Request)
        return _status_class(request)

    def stream(self, provider: str, task: TaskRef) -> Request | None:
        """Build the SSE request for ``task``, or ``None`` (hook ``mediatask_stream``)."""
        value = self._call("mediatask_stream", provider, task=task)
        request: Request | None = self._required(
            "mediatask_stream", provider, value, (Request, type(None))
        )
        return None if request is None else _status_class(request)

    def parse_result(self, provider: str, task: TaskRef, payload: Mapping[str, Any]) -> Update:
        """Read a status payload into an Update (hook ``mediatask_parse_result``)."""
        value = self._call("mediatask_parse_result", provider, task=task, payload=payload)
        update: Update = self._required("mediatask_parse_result", provider, value, Update)
        return update

    def implements(self, hook: str, provider: str) -> bool:
        """True when the plugin that declared ``provider`` implements the optional ``hook``."""
        owner = self._owner.get(provider)
        caller = getattr(self._pm.hook, hook)
        return any(impl.plugin is owner for impl in caller.get_hookimpls())

    def result(self, provider: str, task: TaskRef, update: Update) -> Request | None:
        """Build the result request after a final status, or ``None`` (hook
        ``mediatask_result``)."""
        value = self._call("mediatask_result", provider, task=task, update=update)
        request: Request | None = self._required(
            "mediatask_result", provider, value, (Request, type(None))
        )
        return None if request is None else _status_class(request)

    def read_result(
        self, provider: str, task: TaskRef, update: Update, response: Response
    ) -> Update:
        """Read the result answer (hook ``mediatask_read_result``, else
        ``mediatask_parse_result`` on its JSON)."""
        if not self.implements("mediatask_read_result", provider):
            return self.parse_result(provider, task, response.json_object())
        value = self._call(
            "mediatask_read_result", provider, task=task, update=update, response=response
        )
        read: Update = self._required("mediatask_read_result", provider, value, Update)
        return read

    def next_page(
        self, provider: str, operation: str | None, request: Request, response: Response
    ) -> Request | None:
        """The next page's list request, or ``None`` (hook ``mediatask_next_page``)."""
        value = self._call(
            "mediatask_next_page", provider, operation=operation, request=request, response=response
        )
        following: Request | None = self._required(
            "mediatask_next_page", provider, value, (Request, type(None))
        )
        return following

    def read_error(
        self, provider: str, request: Request, response: Response
    ) -> MediataskError | None:
        """Let the plugin name the error in an answer (hook ``mediatask_read_error``)."""
        value = self._call("mediatask_read_error", provider, request=request, response=response)
        error: MediataskError | None = self._required(
            "mediatask_read_error", provider, value, (MediataskError, type(None))
        )
        return error

    def upload(self, provider: str, path: Path, history: Sequence[Response]) -> Request | str:
        """Take one upload step (hook ``mediatask_upload``)."""
        value = self._call("mediatask_upload", provider, path=path, history=list(history))
        step: Request | str = self._required("mediatask_upload", provider, value, (Request, str))
        return step

    def cancel(self, provider: str, task: TaskRef) -> Request | None:
        """Build the cancel request for ``task``, or ``None`` (hook ``mediatask_cancel``)."""
        value = self._call("mediatask_cancel", provider, task=task)
        request: Request | None = self._required(
            "mediatask_cancel", provider, value, (Request, type(None))
        )
        return request

    def read_cancel(
        self, provider: str, task: TaskRef, response: Response
    ) -> Cancellation | str | None:
        """Read a cancel answer into what came of it (hook ``mediatask_read_cancel``)."""
        value = self._call("mediatask_read_cancel", provider, task=task, response=response)
        said: Cancellation | str | None = self._required(
            "mediatask_read_cancel", provider, value, (Cancellation, str, type(None))
        )
        return said

    def list_tasks(self, provider: str, operation: str | None) -> Request | None:
        """Build the provider-side list request, or ``None`` (hook ``mediatask_list``)."""
        value = self._call("mediatask_list", provider, operation=operation)
        request: Request | None = self._required(
            "mediatask_list", provider, value, (Request, type(None))
        )
        return request

    def read_list(
        self, provider: str, operation: str | None, response: Response
    ) -> list[Submitted]:
        """Read a list answer (hook ``mediatask_read_list``)."""
        value = self._call("mediatask_read_list", provider, operation=operation, response=response)
        records: list[Submitted] = self._required("mediatask_read_list", provider, value, list)
        return records

    def credits(self, provider: str) -> Request | None:
        """Build the credits request, or ``None`` (hook ``mediatask_credits``)."""
        value = self._call("mediatask_credits", provider)
        request: Request | None = self._required(
            "mediatask_credits", provider, value, (Request, type(None))
        )
        return request

    def read_credits(self, provider: str, response: Response) -> Credits:
        """Read a credits answer (hook ``mediatask_read_credits``)."""
        value = self._call("mediatask_read_credits", provider, response=response)
        credits: Credits = self._required("mediatask_read_credits", provider, value, Credits)
        return credits

    def emulator(self, provider: str) -> hookspecs.ProviderEmulator | None:
        """Return the provider's emulator, or ``None`` (hook ``mediatask_emulator``)."""
        emulator: hookspecs.ProviderEmulator | None = self._call("mediatask_emulator", provider)
        return emulator

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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import attrs
import pluggy

from mediatask.http.messages import Request, Response
from mediatask.model.errors import MediataskError, PluginError, UnknownProviderError, UsageError
from mediatask.model.suggest import did_you_mean
from mediatask.model.values import Cancellation, Credits, Job, ProviderInfo, Submitted, Update
from mediatask.providers import hookspecs
from mediatask.providers.validate import name_valid_fields

if TYPE_CHECKING:  # in signatures only
    from mediatask.model.values import TaskRef

_P = ParamSpec("_P")
_T = TypeVar("_T")

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

    def _routed(
        self, spec: Callable[_P, _T], kind: type | tuple[type, ...] = object
    ) -> Callable[_P, _T]:
        """The hook ``spec`` specifies, called as :meth:`_call` does for the ``provider`` among
        its arguments; an answer that is not a ``kind`` is the plugin's :class:`PluginError`."""
        hook = spec.__name__

        def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            if args:  # as pluggy's own hook callers
                raise TypeError(f"{hook} takes its arguments by keyword")
            provider = str(kwargs.pop("provider"))
            value = self._call(hook, provider, **kwargs)
            if not isinstance(value, kind):
                raise PluginError(f"the {provider} plugin's {hook} returned {value!r}")
            return cast("_T", value)

        return call

    def validate(self, provider: str, job: Job) -> Job:
        """Let the plugin check ``job`` further (hook ``mediatask_validate``); a field it refuses
        as unknown is told with the names valid there (see :func:`name_valid_fields`)."""
        validate = self._routed(hookspecs.mediatask_validate, (Job, type(None)))
        try:
            checked = validate(provider=provider, job=job)
        except UsageError as exc:
            operation = self.provider(provider).operation(job.operation)
            if operation is None:
                raise
            raise UsageError(name_valid_fields(operation, str(exc))) from None
        return job if checked is None else checked

    def submit(self, provider: str, job: Job, marker: str = "") -> Request:
        """Build the submit request for ``job`` (hook ``mediatask_submit``)."""
        submit = self._routed(hookspecs.mediatask_submit, Request)
        return submit(provider=provider, job=job, marker=marker)

    def read_submission(self, provider: str, job: Job, response: Response) -> Submitted:
        """Read a submit answer (hook ``mediatask_read_submission``)."""
        read = self._routed(hookspecs.mediatask_read_submission, Submitted)
        return read(provider=provider, job=job, response=response)

    def poll(self, provider: str, task: TaskRef) -> Request:
        """Build the status request for ``task`` (hook ``mediatask_poll``)."""
        poll = self._routed(hookspecs.mediatask_poll, Request)
        return _status_class(poll(provider=provider, task=task))

    def stream(self, provider: str, task: TaskRef) -> Request | None:
        """Build the SSE request for ``task``, or ``None`` (hook ``mediatask_stream``)."""
        stream = self._routed(hookspecs.mediatask_stream, (Request, type(None)))
        request = stream(provider=provider, task=task)
        return None if request is None else _status_class(request)

    def parse_result(self, provider: str, task: TaskRef, payload: Mapping[str, Any]) -> Update:
        """Read a status payload into an Update (hook ``mediatask_parse_result``)."""
        parse = self._routed(hookspecs.mediatask_parse_result, Update)
        return parse(provider=provider, task=task, payload=payload)

    def implements(self, hook: str, provider: str) -> bool:
        """True when the plugin that declared ``provider`` implements the optional ``hook``."""
        owner = self._owner.get(provider)
        caller = getattr(self._pm.hook, hook)
        return any(impl.plugin is owner for impl in caller.get_hookimpls())

    def result(self, provider: str, task: TaskRef, update: Update) -> Request | None:
        """Build the result request after a final status, or ``None`` (hook
        ``mediatask_result``)."""
        result = self._routed(hookspecs.mediatask_result, (Request, type(None)))
        request = result(provider=provider, task=task, update=update)
        return None if request is None else _status_class(request)

    def read_result(
        self, provider: str, task: TaskRef, update: Update, response: Response
    ) -> Update:
        """Read the result answer (hook ``mediatask_read_result``, else
        ``mediatask_parse_result`` on its JSON)."""
        spec = hookspecs.mediatask_read_result
        if not self.implements(spec.__name__, provider):
            return self.parse_result(provider, task, response.json_object())
        read = self._routed(spec, Update)
        return read(provider=provider, task=task, update=update, response=response)

    def next_page(
        self, provider: str, operation: str | None, request: Request, response: Response
    ) -> Request | None:
        """The next page's list request, or ``None`` (hook ``mediatask_next_page``)."""
        next_page = self._routed(hookspecs.mediatask_next_page, (Request, type(None)))
        return next_page(provider=provider, operation=operation, request=request, response=response)

    def read_error(
        self, provider: str, request: Request, response: Response
    ) -> MediataskError | None:
        """Let the plugin name the error in an answer (hook ``mediatask_read_error``)."""
        read = self._routed(hookspecs.mediatask_read_error, (MediataskError, type(None)))
        return read(provider=provider, request=request, response=response)

    def upload(self, provider: str, path: Path, history: Sequence[Response]) -> Request | str:
        """Take one upload step (hook ``mediatask_upload``)."""
        upload = self._routed(hookspecs.mediatask_upload, (Request, str))
        step = upload(provider=provider, path=path, history=list(history))
        return cast("Request | str", step)  # the kind refused ``None``

    def cancel(self, provider: str, task: TaskRef) -> Request | None:
        """Build the cancel request for ``task``, or ``None`` (hook ``mediatask_cancel``)."""
        cancel = self._routed(hookspecs.mediatask_cancel, (Request, type(None)))
        return cancel(provider=provider, task=task)

    def read_cancel(
        self, provider: str, task: TaskRef, response: Response
    ) -> Cancellation | str | None:
        """Read a cancel answer into what came of it (hook ``mediatask_read_cancel``)."""
        read = self._routed(hookspecs.mediatask_read_cancel, (Cancellation, str, type(None)))
        return read(provider=provider, task=task, response=response)

    def list_tasks(self, provider: str, operation: str | None) -> Request | None:
        """Build the provider-side list request, or ``None`` (hook ``mediatask_list``)."""
        list_tasks = self._routed(hookspecs.mediatask_list, (Request, type(None)))
        return list_tasks(provider=provider, operation=operation)

    def read_list(
        self, provider: str, operation: str | None, response: Response
    ) -> list[Submitted]:
        """Read a list answer (hook ``mediatask_read_list``)."""
        read = self._routed(hookspecs.mediatask_read_list, list)
        return read(provider=provider, operation=operation, response=response)

    def credits(self, provider: str) -> Request | None:
        """Build the credits request, or ``None`` (hook ``mediatask_credits``)."""
        credits = self._routed(hookspecs.mediatask_credits, (Request, type(None)))
        return credits(provider=provider)

    def read_credits(self, provider: str, response: Response) -> Credits:
        """Read a credits answer (hook ``mediatask_read_credits``)."""
        read = self._routed(hookspecs.mediatask_read_credits, Credits)
        return read(provider=provider, response=response)

    def emulator(self, provider: str) -> hookspecs.ProviderEmulator | None:
        """Return the provider's emulator, or ``None`` (hook ``mediatask_emulator``)."""
        return self._routed(hookspecs.mediatask_emulator)(provider=provider)

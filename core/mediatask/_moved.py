"""Where the modules of mediatask 0.x went when the package was arranged by layers.

Code written against the old flat layout (``from mediatask.errors import AuthError``,
``from mediatask.model import Job``) keeps working with a :class:`DeprecationWarning` that names
the replacement: import the name from :mod:`mediatask` (or :mod:`mediatask.plugin` in a
plugin). The old paths go away in mediatask 1.0.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import warnings
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import types
    from collections.abc import Callable, Sequence
    from importlib.abc import Loader

MOVED_MODULES: dict[str, str] = {
    "mediatask.api": "mediatask._api",
    "mediatask.bodies": "mediatask.http.bodies",
    "mediatask.concurrency": "mediatask.engine.concurrency",
    "mediatask.config": "mediatask.settings.config",
    "mediatask.connections": "mediatask.http.pool",
    "mediatask.contract": "mediatask.testing._contract",
    "mediatask.display": "mediatask.cli.display",
    "mediatask.download": "mediatask.engine.download",
    "mediatask.dry_run": "mediatask.batch.preflight",
    "mediatask.durations": "mediatask.model.parsing",
    "mediatask.errors": "mediatask.model.errors",
    "mediatask.file_host": "mediatask.engine.file_host",
    "mediatask.following": "mediatask.engine.following",
    "mediatask.headers": "mediatask.http.headers",
    "mediatask.hookspecs": "mediatask.providers.hookspecs",
    "mediatask.http11": "mediatask.http.http11",
    "mediatask.identity": "mediatask.journal.identity",
    "mediatask.journal_backend": "mediatask.journal.backend",
    "mediatask.journal_postgres": "mediatask.journal.postgres",
    "mediatask.journal_schema": "mediatask.journal.schema",
    "mediatask.keys": "mediatask.settings.keys",
    "mediatask.known": "mediatask.engine.known",
    "mediatask.lifecycle": "mediatask.journal.lifecycle",
    "mediatask.manifest": "mediatask.batch.manifest",
    "mediatask.many": "mediatask.engine.run_many",
    "mediatask.naming": "mediatask.engine.naming",
    "mediatask.plugins": "mediatask.providers.manager",
    "mediatask.policy": "mediatask.engine.policy",
    "mediatask.recorded": "mediatask.batch.recorded",
    "mediatask.redact": "mediatask.model.redact",
    "mediatask.runner": "mediatask.engine.fanout",
    "mediatask.sandbox": "mediatask.providers.sandbox",
    "mediatask.schedule": "mediatask.engine.schedule",
    "mediatask.sending": "mediatask.engine.sending",
    "mediatask.shared_limits": "mediatask.batch.shared_limits",
    "mediatask.sse": "mediatask.http.sse",
    "mediatask.statuses": "mediatask.providers.statuses",
    "mediatask.suggest": "mediatask.model.suggest",
    "mediatask.summary": "mediatask.batch.summary",
    "mediatask.transport": "mediatask.http.transport",
    "mediatask.uncertain": "mediatask.engine.uncertain",
    "mediatask.urllib3_transport": "mediatask.http.urllib3_transport",
    "mediatask.validate": "mediatask.providers.validate",
    "mediatask.workers": "mediatask.batch.workers",
}
"""An old module path that no longer exists → the module that holds its names now."""

RENAMED_TO_PACKAGE: dict[str, str] = {
    "mediatask.batch": "mediatask.batch.runner",
    "mediatask.engine": "mediatask.engine.client",
    "mediatask.http": "mediatask.http.messages",
    "mediatask.journal": "mediatask.journal.sqlite",
    "mediatask.model": "mediatask.model.values",
}
"""An old module whose path is now a package of a layer → the module that holds its names now."""

MOVED_NAMES: dict[str, dict[str, str]] = {
    "mediatask.batch": {"CANCEL_SECONDS": "mediatask.engine.deadline"},
    "mediatask.engine.sending": {"DETAIL_LIMIT": "mediatask.http.failures"},
    "mediatask.http.http11": dict.fromkeys(
        ("MAX_ANSWER_BYTES", "USER_AGENT", "DIRECT_MIN_BYTES", "RECEIVE_BYTES", "REDIRECTS"),
        "mediatask.http.exchange",
    ),
    "mediatask.http.transport": {"CommitReporting": "mediatask.http.transport:Transport"},
    "mediatask.journal.postgres": {
        "IDLE_IN_TRANSACTION_MS": "mediatask.journal.postgres.connection"
    },
}
"""Names an old module had that now live in another module: its path (the name kept) or
``module:NewName`` (renamed); served by the ``__getattr__`` of the module the old path leads to."""


def _warn(message: str) -> None:
    warnings.warn(
        f"{message} — the old path goes away in mediatask 1.0",
        DeprecationWarning,
        stacklevel=_caller_level(),
    )


def _moved_module(old: str, new: str) -> str:
    return (
        f"{old} is private and moved to {new}; import the names mediatask exports from "
        "mediatask (mediatask.plugin in a plugin, mediatask.testing in its tests)"
    )


def _moved_name(old: str, new: str, name: str) -> str:
    """Where an old module's name went: its public home if it has one, else its private one."""
    for face in ("mediatask", "mediatask.plugin", "mediatask.testing"):
        module = importlib.import_module(face)
        public = getattr(module, "__all__", [n for n in vars(module) if not n.startswith("_")])
        if name in public:
            return f"{old}.{name} moved: import it from {face}"
    return f"{old}.{name} is private and moved to {new}.{name}, where it may change"


def _is_import_machinery(frame: types.FrameType) -> bool:
    """A frame of the import system, which :func:`warnings.warn` skips by itself."""
    name = frame.f_code.co_filename
    return "importlib" in name and "_bootstrap" in name


def _caller_level() -> int:
    """The ``stacklevel`` that points at the code that imported (past this module's frames;
    the import system's are not counted, as :func:`warnings.warn` skips them)."""
    frame = sys._getframe(1)
    level = 1
    while (caller := frame.f_back) is not None:
        if not _is_import_machinery(caller):
            level += 1
            if caller.f_code.co_filename != __file__:
                break
        frame = caller
    return level


class _Alias:
    """Loads an old module path as the module that replaced it, with a warning.

    A loader by its two methods (PEP 451); not derived from ``importlib.abc.Loader``, whose import
    costs ``import mediatask`` twenty milliseconds."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new
        self.spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        _warn(_moved_module(self.old, self.new))
        module = importlib.import_module(self.new)
        self.spec = module.__spec__  # the import system sets the old one on it next
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the module was imported under its new name, whose spec it keeps."""
        module.__spec__ = self.spec


class MovedModuleFinder:
    """Finds the old module paths of :data:`MOVED_MODULES` (installed by ``mediatask``)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec that loads the new module for an old path; ``None`` for any other name."""
        new = MOVED_MODULES.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, cast("Loader", _Alias(fullname, new)))


def _moved_elsewhere(module: str, name: str) -> object:
    """``module.name`` from :data:`MOVED_NAMES`, with a warning; AttributeError if not there."""
    target = MOVED_NAMES.get(module, {}).get(name)
    if target is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    home, _, new_name = target.partition(":")
    new_name = new_name or name
    if new_name == name:
        _warn(_moved_name(module, home, name))
    else:
        _warn(f"{module}.{name} is gone: use {home}.{new_name}")
    return getattr(importlib.import_module(home), new_name)


def moved_names(module: str) -> Callable[[str], object]:
    """A module's ``__getattr__`` serving the names :data:`MOVED_NAMES` lists for it."""

    def __getattr__(name: str) -> object:  # noqa: N807 (a module's __getattr__, PEP 562)
        return _moved_elsewhere(module, name)

    return __getattr__


def old_names(package: str) -> Callable[[str], object]:
    """A package's ``__getattr__`` serving the names its old same-named module had, with a warning.

    A name the old module did not have raises :class:`AttributeError`, so submodules still import.
    """
    new = RENAMED_TO_PACKAGE[package]

    def __getattr__(name: str) -> object:  # noqa: N807 (a module's __getattr__, PEP 562)
        if name.startswith("__"):
            raise AttributeError(name)
        module = importlib.import_module(new)
        if name not in vars(module):
            return _moved_elsewhere(package, name)
        _warn(_moved_name(package, new, name))
        return getattr(module, name)

    return __getattr__


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (called by ``mediatask/__init__``)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())

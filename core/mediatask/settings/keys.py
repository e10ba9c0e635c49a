"""The key store: provider keys in one JSON file, mode 0600, under the user's mediatask home.

The home is ``$MEDIATASK_HOME`` when set (tests and CI point it at a temporary folder), else
``click.get_app_dir("mediatask")``. Keys are read on demand, so ``mediatask keys set`` takes
effect at once; a store that is missing or unreadable holds no keys. Only this module ever writes
a key to disk, and only to :attr:`KeyStore.path`.

The home is created 0700 (:func:`make_home`). A key store or home that other users can read is
still used, with a :class:`KeyStoreWarning` (and, in the CLI, one line) that says the fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import stat
import warnings
from collections.abc import Mapping
from pathlib import Path

import attrs
import click

from mediatask.model.errors import ConfigError

HOME_ENV = "MEDIATASK_HOME"
KEYS_FILE = "keys.json"


class KeyStoreWarning(UserWarning):
    """The key store or the mediatask home can be read by other users of the machine."""


def home_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user's mediatask folder: ``$MEDIATASK_HOME`` or the platform's app folder."""
    env = os.environ if environ is None else environ
    override = env.get(HOME_ENV)
    return Path(override).expanduser() if override else Path(click.get_app_dir("mediatask"))


def make_home(environ: Mapping[str, str] | None = None) -> Path:
    """The user's mediatask folder, created 0700 (owner only) when it does not exist yet.

    A folder that already exists keeps its mode: :func:`exposed` says when it is too open.
    """
    home = home_dir(environ)
    if not home.is_dir():
        try:
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(home, 0o700)  # mkdir's mode is narrowed by the umask, never widened: be sure
        except OSError as exc:
            raise ConfigError(
                f"cannot create the mediatask home {home}: {exc.strerror or exc} (set {HOME_ENV})"
            ) from None
    return home


def _exposure(path: Path, fix: str) -> str | None:
    """One line naming the fix when ``path`` exists and its group or others have any access."""
    if os.name == "nt":
        return None  # POSIX modes mean nothing there; the user's profile folder is private
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None
    return (
        f"{path} can be read by other users (mode {mode:o}): run `{fix} {shlex.quote(str(path))}`"
    )


def exposed(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per part of the user's mediatask home that other users can read, with its fix."""
    home = home_dir(environ)
    found = [_exposure(home, "chmod 700"), _exposure(home / KEYS_FILE, "chmod 600")]
    return [line for line in found if line]


@attrs.frozen
class KeyStore:
    """Provider keys in a 0600 JSON file; a value naming the file, read and written on demand."""

    path: Path

    @classmethod
    def default(cls, environ: Mapping[str, str] | None = None) -> KeyStore:
        """The store in the user's mediatask home (see :func:`home_dir`)."""
        return cls(home_dir(environ) / KEYS_FILE)

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        exposure = _exposure(self.path, "chmod 600")
        if exposure is not None:  # shown once per process by Python's default warning filter
            warnings.warn(exposure, KeyStoreWarning, stacklevel=3)
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str) and v}

    def get(self, provider: str) -> str | None:
        """The stored key of ``provider``, or ``None``; usable as ``Settings.key_store``."""
        return self._read().get(provider)

    __call__ = get

    def values(self) -> list[str]:
        """Every stored key (for scrubbing them out of text)."""
        return list(self._read().values())

    def names(self) -> list[str]:
        """The providers that have a stored key, sorted."""
        return sorted(self._read())

    def set(self, provider: str, key: str) -> None:
        """Store ``key`` for ``provider`` (replacing any earlier one)."""
        key = key.strip()
        if not key:
            raise ConfigError(f"an empty key for {provider} was not stored")
        self._write({**self._read(), provider: key})

    def remove(self, provider: str) -> bool:
        """Forget ``provider``'s key; ``False`` when there was none."""
        keys = self._read()
        if keys.pop(provider, None) is None:
            return False
        self._write(keys)
        return True

    def _write(self, keys: Mapping[str, str]) -> None:
        """Write the whole store: a 0600 temporary file, then an atomic rename."""
        if not self.path.parent.is_dir():
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.path.parent, 0o700)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(dict(sorted(keys.items())), file, indent=2)
        os.chmod(temporary, 0o600)  # in case a umask or the filesystem widened it
        os.replace(temporary, self.path)

"""Where a provider's key and base URL come from: explicit settings, the environment, the key store.

Precedence: an explicit override (command-line option, sandbox) > ``MEDIATASK_<NAME>_KEY`` /
``MEDIATASK_<NAME>_BASE_URL`` > the key store > the provider's declared default base URL.
Rate windows likewise: :attr:`Settings.rates` > ``MEDIATASK_<NAME>_RATE`` > the declared ones.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

import attrs

from mediatask.model.errors import ConfigError
from mediatask.model.parsing import parse_rate
from mediatask.model.values import ProviderInfo, frozen_map
from mediatask.settings.keys import KeyStore

ALLOW_HTTP_ENV = "MEDIATASK_ALLOW_HTTP"


@attrs.frozen
class ProviderSettings:
    """How to reach one provider: base URL and key (never shown in reprs)."""

    base_url: str
    key: str | None = attrs.field(default=None, repr=False)


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(info: ProviderInfo, base_url: str, *, allow_http: bool) -> str:
    """Return ``base_url`` if it is usable; :class:`ConfigError` says how to fix it otherwise."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{info.name}: base URL {base_url!r} is not an http(s) URL; fix {info.base_url_env}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname) and not allow_http:
        raise ConfigError(
            f"{info.name}: refusing to send the key over plain http to {parts.hostname}; use "
            f"https in {info.base_url_env}, or set {ALLOW_HTTP_ENV}=1 to allow it"
        )
    return base_url.rstrip("/")


KeyLookup = Callable[[str], str | None]
"""Reads a provider's key from the key store by provider name; ``None`` when it has none."""


def _key_variables(environ: Mapping[str, str]) -> set[str]:
    """The values of every ``MEDIATASK_*_KEY`` variable that is set."""
    return {
        value
        for name, value in environ.items()
        if name.startswith("MEDIATASK_") and name.endswith("_KEY") and value
    }


def _default_store(settings: Settings) -> KeyLookup:
    return KeyStore.default(settings.environ)


@attrs.frozen
class Settings:
    """Resolves each provider's settings; a value, so tests and the sandbox build their own."""

    overrides: Mapping[str, ProviderSettings] = attrs.field(factory=dict, converter=frozen_map)
    environ: Mapping[str, str] = attrs.field(
        factory=lambda: dict(os.environ), converter=frozen_map, repr=False
    )
    key_store: KeyLookup = attrs.field(
        default=attrs.Factory(_default_store, takes_self=True), repr=False
    )
    """The key store consulted last; default: the user's (``mediatask keys set``)."""
    rates: Mapping[str, tuple[tuple[int, float], ...]] = attrs.field(
        factory=dict, converter=frozen_map
    )
    """Per provider name: the account's rate windows, as (requests, seconds) pairs (``()``:
    none), over ``MEDIATASK_<NAME>_RATE`` and the provider's declared ones."""

    def rate_limits(self, info: ProviderInfo) -> tuple[tuple[int, float], ...]:
        """The windows to keep ``info``'s requests under, until its answers list the account's
        own; :class:`UsageError` when ``MEDIATASK_<NAME>_RATE`` is not a rate."""
        if info.name in self.rates:
            return self.rates[info.name]
        spec = self.environ.get(info.rate_env, "").strip()
        return parse_rate(spec, where=info.rate_env) if spec else info.rate_limits

    @property
    def allow_http(self) -> bool:
        """Whether plain-http base URLs off the loopback are allowed."""
        return self.environ.get(ALLOW_HTTP_ENV, "") not in ("", "0", "false", "no")

    def base_url(self, info: ProviderInfo) -> str:
        """The provider's checked base URL."""
        override = self.overrides.get(info.name)
        url = (
            override.base_url if override else self.environ.get(info.base_url_env) or info.base_url
        )
        return check_base_url(info, url, allow_http=self.allow_http)

    def key(self, info: ProviderInfo) -> str | None:
        """The provider's key, or ``None`` when none is configured anywhere."""
        override = self.overrides.get(info.name)
        if override is not None and override.key:
            return override.key
        aliased = (self.environ.get(name) for name in (info.key_env, *info.key_aliases))
        return next((key for key in aliased if key), None) or self.key_store(info.name)

    def require_key(self, info: ProviderInfo) -> str:
        """The provider's key; :class:`ConfigError` names the variable to set when there is none."""
        key = self.key(info)
        if not key:
            aliases = "".join(f" or {name}" for name in info.key_aliases)
            raise ConfigError(
                f"no API key for {info.name}: set {info.key_env}{aliases} "
                f"(or run `mediatask keys set {info.name}`)"
            )
        return key

    def secrets(self, infos: Iterable[ProviderInfo] = ()) -> frozenset[str]:
        """Every key these settings could send, for scrubbing (:mod:`mediatask.model.redact`).

        The overrides' keys, every ``MEDIATASK_*_KEY`` variable, every key in the user's key
        store, and the key of each provider in ``infos`` (whatever its variable is called).
        """
        found = {override.key for override in self.overrides.values() if override.key}
        found |= _key_variables(self.environ)
        if isinstance(self.key_store, KeyStore):
            found |= set(self.key_store.values())
        found |= {key for info in infos if (key := self.key(info))}
        return frozenset(key.strip() for key in found if key.strip())

    def with_overrides(self, overrides: Mapping[str, ProviderSettings]) -> Settings:
        """Return these settings with ``overrides`` taking precedence."""
        return attrs.evolve(self, overrides={**self.overrides, **overrides})

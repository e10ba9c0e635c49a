"""HTTP as values: what a plugin asks the core to send, and what came back.

Plugins build :class:`Request` values and read :class:`Response` values; only the transport
(``mediatask.http.transport``) touches sockets.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import attrs

from mediatask.model.errors import MalformedPayloadError
from mediatask.model.redact import SECRET_HEADERS, redact_headers, scrub_url_secrets
from mediatask.model.values import frozen_map

__all__ = ["SECRET_HEADERS", "Request", "Response", "redact_headers", "same_origin"]


def _lower_keys(value: Mapping[str, str]) -> Mapping[str, str]:
    return frozen_map({k.lower(): v for k, v in value.items()})


def _path_map(value: Mapping[str, Any]) -> Mapping[str, Path]:
    return frozen_map({k: Path(v) for k, v in value.items()})


@attrs.frozen(repr=False)
class Request:
    """One HTTP request, as a plugin describes it. A relative ``url`` is joined to the base URL.

    At most one body: ``json``, ``content`` (bytes), ``upload`` (a file sent as the raw body) or
    ``fields``/``files`` (multipart form; ``files`` maps a field name to a local path).
    """

    method: str = attrs.field(converter=str.upper)  # type: ignore[misc]  # str.upper is a fine converter
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_map, hash=False)
    params: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_map, hash=False)
    """Query-string parameters, appended to ``url``."""
    json: Any = attrs.field(default=None, hash=False)
    content: bytes | None = None
    upload: Path | None = None
    fields: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_map, hash=False)
    files: Mapping[str, Path] = attrs.field(factory=dict, converter=_path_map, hash=False)
    authenticated: bool = True
    """Whether the core may add the provider's key (only ever on the provider's own origin)."""
    field_types: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_map, hash=False)
    """Per form field: the ``Content-Type`` its part carries (e.g. ``application/json``); a
    field not named here is sent as plain text, without one."""
    file_names: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_map, hash=False)
    """Per file field: the ``filename`` its part carries (default: the local file's name)."""
    rate_limited: bool = True
    """Whether the provider counts this request against its rate limits; ``False`` for the
    requests it says it does not count (Claid counts image processing, not status reads):
    they are sent without waiting for room in the windows."""
    rate_class: str = ""
    """The class of requests this one counts toward where the provider limits classes apart
    (``ProviderInfo.rate_classes``): e.g. ``submit``, ``status``, ``other`` or a class of the
    provider's own. Empty: the core's class for it (``submit`` for a submit, ``status`` for a
    poll, stream or result request, else ``other``)."""
    timeout: float | None = None
    """Seconds this request may wait for each part of its answer (default: the transport's
    read timeout, 60 s); e.g. longer for a request the provider answers slowly by design."""

    def __attrs_post_init__(self) -> None:
        bodies = [
            self.json is not None,
            self.content is not None,
            self.upload is not None,
            bool(self.fields or self.files),
        ]
        if sum(bodies) > 1:
            raise ValueError("a Request carries at most one body: json, content, upload or form")

    def __repr__(self) -> str:
        url = scrub_url_secrets(self.url)
        return f"Request({self.method} {url}, headers={redact_headers(self.headers)})"

    def joined(self, base_url: str) -> Request:
        """Return this request with its URL resolved against ``base_url``."""
        if urlsplit(self.url).scheme:
            return self
        return attrs.evolve(self, url=urljoin(base_url.rstrip("/") + "/", self.url.lstrip("/")))


@attrs.frozen(repr=False)
class Response:
    """One HTTP answer, read whole (status calls are small; big bodies are streamed instead)."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_keys, hash=False)
    """Header names are lower-cased."""
    body: bytes = b""
    url: str = ""

    def __repr__(self) -> str:
        return f"Response({self.status} from {scrub_url_secrets(self.url)}, {len(self.body)} bytes)"

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body decoded as UTF-8, with undecodable bytes replaced."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; :class:`PluginError` when it is not JSON."""
        try:
            return jsonlib.loads(self.body)
        except ValueError:
            snippet = self.text[:120].replace("\n", " ")
            raise MalformedPayloadError(
                f"expected JSON from {self.url} (HTTP {self.status}), got: {snippet!r}"
            ) from None

    def json_object(self) -> Mapping[str, Any]:
        """The body as a JSON object; :class:`PluginError` when it is anything else."""
        data = self.json()
        if not isinstance(data, Mapping):
            raise MalformedPayloadError(
                f"expected a JSON object from {self.url}, got {type(data).__name__}"
            )
        return data


def same_origin(url: str, base_url: str) -> bool:
    """True when ``url`` has the scheme, host and port of ``base_url``."""
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)

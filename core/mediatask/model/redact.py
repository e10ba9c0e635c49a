"""Secret scrubbing, in one place: keys, credentials in URLs, signed query parameters.

A :class:`Redactor` knows the keys in use (from :meth:`mediatask.settings.config.Settings.secrets`)
and
removes them, in every form a provider may echo them (bare, after ``Bearer``/``KEY``, URL-encoded,
JSON-escaped), from any text. It works on whole tokens: a key is replaced only where it is not part
of a longer run of letters and digits, so a one-letter key leaves "Task" alone. Credentials in URLs
(``https://user:KEY@host``) and the values of signed query parameters (``X-Amz-Signature=…``) go
too, whatever the key.

Where it is applied (each a single call):

- :class:`~mediatask.engine.sending.Sender` scrubs every answer before a plugin reads it, and every
error
  it raises (whichever plugin built it); the engine scrubs every stream event the same way;
- the CLI's error printer and its log handler (:class:`RedactingFilter`);
- the journal, before any row is written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import attrs

REDACTED = "<redacted>"

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
"""Headers whose values are secrets whatever they hold (compared lower-cased)."""

SIGNED_PARAMETERS = frozenset(
    {
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "x-goog-signature",
        "x-goog-credential",
        "signature",
        "sig",
        "token",
        "access_token",
        "id_token",
        "api_key",
        "apikey",
        "api-key",
        "key",
        "password",
        "secret",
        "client_secret",
    }
)
"""Query parameters whose values are credentials (presigned uploads and results, OAuth, keys)."""

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#@\"'<>]+@")
_SIGNED_QUERY = re.compile(
    r"(?i)([?&;](?:"
    + "|".join(re.escape(name) for name in sorted(SIGNED_PARAMETERS, key=len, reverse=True))
    + r")=)[^&#\s\"'<>]*"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# A key is a whole token: not preceded by a letter or digit (except as the end of a %XX escape,
# as in ``Bearer%20KEY``) and not followed by one.
_BEFORE = r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2}))"
_AFTER = r"(?![A-Za-z0-9])"

MIN_KEY_IN_DATA = 8
"""Answers are data: a shorter key (a test's ``k``) is too likely to be a word of the answer
(``/k.png``), so answers lose only keys at least this long; messages, logs and rows lose all."""

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return ``headers`` with every secret-bearing value replaced, for logs and reprs."""
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def scrub_url_secrets(text: str) -> str:
    """``text`` without URL credentials (``user:pass@``) or signed query-parameter values."""
    text = _URL_CREDENTIALS.sub(rf"\1{REDACTED}@", text)
    return _SIGNED_QUERY.sub(rf"\1{REDACTED}", text)


def one_line(text: str) -> str:
    """``text`` safe to print as one terminal line: every control character (newline, carriage
    return, ESC of a colour or cursor sequence…) becomes a space."""
    return _CONTROL.sub(" ", text).strip()


def echoed_forms(secret: str) -> set[str]:
    """Every form in which a provider may echo ``secret``: bare, URL-encoded, JSON-escaped."""
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    forms |= {form.replace("/", "\\/") for form in forms}
    return {form for form in forms if form}


def _alternation(secrets: Iterable[str]) -> str | None:
    forms = {form for secret in secrets if secret for form in echoed_forms(secret)}
    if not forms:
        return None
    longest_first = sorted(forms, key=len, reverse=True)
    return _BEFORE + "(?:" + "|".join(re.escape(form) for form in longest_first) + ")" + _AFTER


def _secret_set(secrets: Iterable[str]) -> frozenset[str]:
    return frozenset(secret for secret in secrets if secret)


@attrs.frozen
class Redactor:
    """Removes the given secrets (and any URL credentials and signatures) from text."""

    secrets: frozenset[str] = attrs.field(
        default=frozenset(), converter=_secret_set, repr=lambda s: f"<{len(s)} secrets>"
    )
    _text: re.Pattern[str] | None = attrs.field(init=False, eq=False, repr=False)
    _data: re.Pattern[str] | None = attrs.field(init=False, eq=False, repr=False)
    _bytes: re.Pattern[bytes] | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        pattern = _alternation(self.secrets)
        object.__setattr__(self, "_text", re.compile(pattern) if pattern else None)
        in_data = _alternation(s for s in self.secrets if len(s) >= MIN_KEY_IN_DATA)
        object.__setattr__(self, "_data", re.compile(in_data) if in_data else None)
        object.__setattr__(self, "_bytes", re.compile(in_data.encode()) if in_data else None)

    def keys_out(self, text: str) -> str:
        """``text`` with every known secret replaced; URLs otherwise kept whole."""
        return self._text.sub(REDACTED, text) if self._text is not None else text

    def scrub(self, text: str) -> str:
        """``text`` fit to show or store: no secrets, URL credentials or signatures."""
        return self.keys_out(scrub_url_secrets(text))

    def keys_out_of_data(self, text: str) -> str:
        """``text`` (data: a body, a handle, a link) with every known secret of
        :data:`MIN_KEY_IN_DATA` characters or more replaced."""
        return self._data.sub(REDACTED, text) if self._data is not None else text

    def row(self, columns: Mapping[str, Any]) -> dict[str, Any]:
        """A journal row's columns, keys out: ``error`` and ``detail`` are messages
        (:meth:`scrub`), every other text is data (:meth:`keys_out_of_data`)."""
        clean = dict(columns)
        for name, value in columns.items():
            if isinstance(value, str):
                message = name in ("error", "detail")
                clean[name] = self.scrub(value) if message else self.keys_out_of_data(value)
        return clean

    def keys_out_of_bytes(self, data: bytes) -> bytes:
        """``data`` (a body) with every known secret of :data:`MIN_KEY_IN_DATA` characters or
        more replaced (shorter ones are left to the scrubbing of messages, logs and rows)."""
        return self._bytes.sub(REDACTED.encode(), data) if self._bytes is not None else data

    def response(self, response: T) -> T:
        """An HTTP :class:`~mediatask.http.messages.Response` with the known secrets out of its
        body and
        headers, as :meth:`keys_out_of_bytes` (its URLs' signatures are kept: links need them)."""
        if self._bytes is None:
            return response
        body: bytes = response.body  # type: ignore[attr-defined]
        headers: Mapping[str, str] = response.headers  # type: ignore[attr-defined]
        clean_body = self.keys_out_of_bytes(body)
        clean_headers = {
            name: self.keys_out_of_bytes(value.encode()).decode() for name, value in headers.items()
        }
        if clean_body == body and clean_headers == dict(headers):
            return response
        return attrs.evolve(response, body=clean_body, headers=clean_headers)  # type: ignore[misc]

    def error(self, exc: E) -> E:
        """Scrub ``exc``'s message in place (and its causes', and a group's), and return it.

        Changing the arguments in place keeps the exception's type and attributes (status,
        retry_after…) for whoever catches it.
        """
        seen: set[int] = set()
        pending: list[BaseException | None] = [exc]
        while pending:
            current = pending.pop()
            if current is None or id(current) in seen:
                continue
            seen.add(id(current))
            current.args = tuple(
                self.scrub(arg) if isinstance(arg, str) else arg for arg in current.args
            )
            if isinstance(current, BaseExceptionGroup):
                pending.extend(current.exceptions)
            pending.extend((current.__cause__, current.__context__))
        return exc


class RedactingFilter(logging.Filter):
    """A log filter that scrubs each record's message; attach it to the handlers that print.

    ``source`` gives the :class:`Redactor` to use; it is asked once, at the first record (the
    CLI knows its keys only once the command line is parsed).
    """

    def __init__(self, source: Callable[[], Redactor]) -> None:
        super().__init__()
        self._source = source
        self._redactor: Redactor | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its scrubbed text; never drops a record."""
        if self._redactor is None:
            self._redactor = self._source()
        record.msg = self._redactor.scrub(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            self._redactor.error(record.exc_info[1])
        return True

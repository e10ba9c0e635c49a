"""A small declarative schema language, for Claid's edit document (see :mod:`.contract`).

One schema, two users: the plugin checks a job before any network call and the emulator checks
what it receives, so both name the same dotted paths (``operations.resizing.fit``). Every object
is strict (``additionalProperties: false``), as Claid's published schema is.

A check returns a list of :class:`Problem` values rather than raising, so that the emulator can
report every problem at once (as Claid's 422 does) and the plugin can pick the first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from mediatask.plugin import Param

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
REQUIRED = "field required"
EXTRA = "extra fields not permitted"


@attrs.frozen
class Problem:
    """One reason a document is invalid: where (a dotted path) and what is wrong there."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def join(path: str, name: str) -> str:
    """The dotted path of ``name`` inside ``path``."""
    return f"{path}.{name}" if path else name


def alternatives(parts: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _kind(value: Any) -> str:
    """The JSON kind of a value: null, boolean, integer, number, string, object, array."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "array" if isinstance(value, list | tuple) else type(value).__name__


class Node(Protocol):
    """A schema node: accepts some JSON kinds, checks a value, converts command-line text."""

    @property
    def nullable(self) -> bool:
        """Whether ``null`` is allowed."""
        ...

    @property
    def kinds(self) -> frozenset[str]:
        """The JSON kinds (besides null) this node can accept."""
        ...

    def describe(self) -> str:
        """What a valid value looks like, for messages: ``one of crop, cover``."""
        ...

    def problems(self, value: Any, path: str) -> list[Problem]:
        """Everything wrong with a non-null ``value`` at ``path`` (empty when it is valid)."""
        ...

    def coerce(self, text: str) -> Any:
        """Convert text given on the command line to this node's type (unchanged if it cannot)."""
        ...


def check(node: Node, value: Any, path: str) -> list[Problem]:
    """Check ``value`` against ``node``, null and JSON kind included."""
    if value is None:
        return [] if node.nullable else [Problem(path, "none is not an allowed value")]
    kind = "number" if _kind(value) == "integer" and "number" in node.kinds else _kind(value)
    if kind not in node.kinds:
        return [Problem(path, f"must be {node.describe()}")]
    return node.problems(value, path)


def coerce(node: Node, text: str) -> Any:
    """Convert command-line text for ``node``: ``null``, JSON objects, then the node's own rule."""
    stripped = text.strip()
    if stripped == "null" and node.nullable:
        return None
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return node.coerce(text)


@attrs.frozen
class Enum:
    """One of a few strings."""

    values: tuple[str, ...]
    nullable: bool = False
    kinds: frozenset[str] = frozenset({"string"})

    def describe(self) -> str:
        """See :class:`Node`."""
        return self.values[0] if len(self.values) == 1 else "one of " + ", ".join(self.values)

    def problems(self, value: Any, path: str) -> list[Problem]:
        """See :class:`Node`."""
        return [] if value in self.values else [Problem(path, f"must be {self.describe()}")]

    def coerce(self, text: str) -> Any:
        """See :class:`Node`."""
        return text


@attrs.frozen
class Boolean:
    """true or false (``yes``/``no``, ``1``/``0`` on the command line)."""

    nullable: bool = False
    kinds: frozenset[str] = frozenset({"boolean"})

    def describe(self) -> str:
        """See :class:`Node`."""
        return "true or false"

    def problems(self, value: Any, path: str) -> list[Problem]:
        """See :class:`Node`."""
        return []

    def coerce(self, text: str) -> Any:
        """See :class:`Node`."""
        lowered = text.strip().lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else text


@attrs.frozen
class Number:
    """An integer (or any number with ``integer=False``) within optional bounds."""

    minimum: float | None = None
    maximum: float | None = None
    integer: bool = True
    nullable: bool = False

    @property
    def kinds(self) -> frozenset[str]:
        """See :class:`Node`."""
        return frozenset({"integer"} if self.integer else {"number"})

    def describe(self) -> str:
        """See :class:`Node`."""
        noun = "an integer" if self.integer else "a number"
        if self.minimum is not None and self.maximum is not None:
            return f"{noun} from {self.minimum:g} to {self.maximum:g}"
        if self.minimum is not None:
            return f"{noun} of at least {self.minimum:g}"
        return noun

    def problems(self, value: Any, path: str) -> list[Problem]:
        """See :class:`Node`."""
        low, high = self.minimum, self.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            return [Problem(path, f"must be {self.describe()}")]
        return []

    def coerce(self, text: str) -> Any:
        """See :class:`Node`."""
        try:
            return int(text) if self.integer else float(text)
        except ValueError:
            return text


@attrs.frozen
class Text:
    """A string with optional length bounds and a pattern (``hint`` describes the pattern)."""

    min_length: int = 0
    max_length: int | None = None
    pattern: str | None = None
    hint: str = "a string"
    nullable: bool = False
    kinds: frozenset[str] = frozenset({"string"})

    def describe(self) -> str:
        """See :class:`Node`."""
        return self.hint

    def problems(self, value: Any, path: str) -> list[Problem]:
        """See :class:`Node`."""
        if len(value) < self.min_length:
            return [Problem(path, f"ensure this value has at least {self.min_length} characters")]
        if self.max_length is not None and len(value) > self.max_length:
            return [Problem(path, f"ensure this value has at most {self.max_length} characters")]
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return [Problem(path, f"must be {self.hint}")]
        return []

    def coerce(self, text: str) -> Any:
        """See :class:`Node`."""
        return text


def _fields(value: Mapping[str, Node]) -> Mapping[str, Node]:
    return dict(value)


@attrs.frozen
class Obj:
    """An object with known fields only (``additionalProperties: false``)."""

    fields: Mapping[str, Node] = attrs.field(converter=_fields, hash=False)
    required: tuple[str, ...] = ()
    nullable: bool = False
    kinds: frozenset[str] = frozenset({"object"})

    def describe(self) -> str:
        """See :class:`Node`."""
        return "an object with " + ", ".join(self.fields)

    def problems(self, value: Any, path: str) -> list[Problem]:
        """See :class:`Node`."""
        found = [Problem(join(path, name), REQUIRED) for name in self.required if name not in value]
        for name, item in value.items():
            node = self.fields.get(name)
            if node is None:
                found.append(Problem(join(path, str(name)), EXTRA))
            else:
                found.extend(check(node, item, join(path, name)))
        return found

    def coerce(self, text: str) -> Any:
        """See :class:`Node`."""
        return text


def _tagged(value: Mapping[str, Obj]) -> Mapping[str, Obj]:
    return dict(value)


@attrs.frozen
class OneOf:
    """A union: a value is checked against the option that takes its JSON kind.

    Objects are told apart by their ``type`` field (``tagged``), as Claid's unions are. When
    several options take a kind (a string that is ``auto`` or ``150%``), the value must satisfy
    one of them.
    """

    options: tuple[Node, ...] = ()
    tagged: Mapping[str, Obj] = attrs.field(factory=dict, converter=_tagged, hash=False)
    nullable: bool = False

    @property
    def kinds(self) -> frozenset[str]:
        """See :class:`Node`."""
        found = frozenset({"object"}) if self.tagged else frozenset()
        return found.union(*(option.kinds for option in self.options))

    def describe(self) -> str:
        """See :class:`Node`."""
        parts = [option.describe() for option in self.options]
        if self.tagged:
            parts.append("an object with type " + ", ".join(self.tagged))
        return alternatives(parts)

    def problems(self, value: Any, path: str) -> list[Problem]:
        """See :class:`Node`."""
        kind = _kind(value)
        if kind == "object" and self.tagged:
            tag = value.get("type")
            if tag is None:
                return [Problem(join(path, "type"), REQUIRED)]
            chosen = self.tagged.get(tag)
            if chosen is None:
                return [Problem(join(path, "type"), "must be one of " + ", ".join(self.tagged))]
            return chosen.problems(value, path)
        takers = [
            o
            for o in self.options
            if kind in o.kinds or (kind == "integer" and "number" in o.kinds)
        ]
        results = [option.problems(value, path) for option in takers]
        if any(not found for found in results):
            return []
        if len(results) == 1:
            return results[0]
        return [Problem(path, "must be " + alternatives([o.describe() for o in takers]))]

    def coerce(self, text: str) -> Any:
        """See :class:`Node`: the first option that turns the text into something valid."""
        for option in self.options:
            value = option.coerce(text)
            if (
                value is not text
                and _kind(value) in option.kinds
                and not option.problems(value, "")
            ):
                return value
        return text


def as_param(name: str, node: Node, *, required: bool = False) -> Param:
    """``node`` as a documented parameter, for ``providers show``: objects with their fields
    (a union's object variants too), enums with their values, numbers with their bounds."""
    if isinstance(node, Obj):
        fields = [
            as_param(key, child, required=key in node.required)
            for key, child in node.fields.items()
        ]
        return Param(name, "object", required=required, fields=fields)
    if isinstance(node, Enum):
        return Param(name, required=required, choices=node.values)
    if isinstance(node, Boolean):
        return Param(name, "bool", required=required)
    if isinstance(node, Number):
        kind = "int" if node.integer else "float"
        return Param(name, kind, required=required, minimum=node.minimum, maximum=node.maximum)
    if isinstance(node, OneOf):
        fields = [
            field
            for option in node.options
            if isinstance(option, Obj)
            for field in as_param(name, option).fields
        ]
        fields += [  # each variant's own fields; its "type" is the tag itself
            attrs.evolve(variant, fields=[f for f in variant.fields if f.name != "type"])
            for variant in (as_param(f"type: {tag}", obj) for tag, obj in node.tagged.items())
            if len(variant.fields) > 1
        ]
        kind = "object" if fields else "str"
        return Param(name, kind, required=required, description=node.describe(), fields=fields)
    return Param(name, required=required, description=node.describe())

"""docs/writing-a-provider.md's reference is the code's: value types, errors, emulator toolkit.

The section between the reference markers is generated here from ``mediatask.plugin``,
``mediatask.model.errors`` and ``mediatask.emulator``; the test fails when the page and the code
disagree. ``REWRITE_DOCS=1`` rewrites the section instead.
"""

from __future__ import annotations

import ast
import enum
import inspect
import itertools
import os
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

import mediatask.emulator
import mediatask.model.errors
import mediatask.plugin

PAGE = Path(__file__).resolve().parents[2] / "docs" / "writing-a-provider.md"
BEGIN = "<!-- reference: generated from the code by tests/docs/test_docs_reference.py -->"
END = "<!-- end of the generated reference -->"


def first_line(thing: object) -> str:
    """The first sentence-line of ``thing``'s docstring, joined into one line."""
    doc = inspect.getdoc(thing) or ""
    return " ".join(doc.split("\n\n")[0].split())


def attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings written under a class's attributes (``x: int`` then ``\"\"\"…\"\"\"``)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    for here, after in itertools.pairwise(body):
        if (
            isinstance(here, ast.AnnAssign)
            and isinstance(here.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[here.target.id] = " ".join(after.value.value.split("\n\n")[0].split())
    return docs


def default(field: attrs.Attribute[Any]) -> str:
    value: Any = field.default
    if value is attrs.NOTHING:
        return ""
    if isinstance(value, attrs.Factory):  # type: ignore[arg-type]
        made = value.factory
        return f" = {made.__name__}()" if made in (dict, list, tuple, set) else " (made)"
    if isinstance(value, enum.Enum):
        return f" = {value.name}"
    if attrs.has(type(value)) and value == type(value)():
        return f" = {type(value).__name__}()"
    return f" = {value!r}"


def signature(function: Any, *, bound: bool = False) -> str:
    """``function``'s parameters and return type as written (``self``/``cls`` left out)."""
    found = inspect.signature(function)
    parameters = list(found.parameters.values())[1 if bound else 0 :]
    parts: list[str] = []
    for parameter in parameters:
        text = parameter.name
        if parameter.kind is parameter.VAR_POSITIONAL:
            text = f"*{text}"
        elif parameter.kind is parameter.VAR_KEYWORD:
            text = f"**{text}"
        elif parameter.kind is parameter.KEYWORD_ONLY and not any(
            part.startswith("*") for part in parts
        ):
            parts.append("*")
        if parameter.annotation is not parameter.empty:
            text += f": {annotation(parameter.annotation)}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        parts.append(text)
    returned = found.return_annotation
    arrow = "" if returned is found.empty else f" -> {annotation(returned)}"
    return f"({', '.join(parts)}){arrow}"


def annotation(value: Any) -> str:
    text = value if isinstance(value, str) else inspect.formatannotation(value)
    return re.sub(r"\b(?:[a-z_]+\.)+(?=[A-Za-z])", "", text)  # collections.abc.X -> X


def value_type(cls: type) -> Iterator[str]:
    yield f"**`{cls.__name__}`** — {first_line(cls)}"
    yield ""
    if isinstance(cls, enum.EnumMeta):
        for member in cls:  # type: ignore[var-annotated]
            yield f"- `{member.name}` (`{member.value!r}`)"
    else:
        docs = attribute_docs(cls)
        for field in attrs.fields(cls):
            if not field.init and field.name.startswith("_"):
                continue
            name = field.alias or field.name
            said = f" — {docs[field.name]}" if field.name in docs else ""
            yield f"- `{name}: {field.type}{default(field)}`{said}"
    yield ""


def error_line(cls: type[BaseException]) -> str:
    base = cls.__mro__[1].__name__
    retried = " Retried by the core." if getattr(cls, "retryable", False) else ""
    arguments = signature(cls.__init__, bound=True).removesuffix(" -> None")
    if arguments.startswith("(*args"):  # the builtin exception's own: a message
        arguments = "(message)"
    return f"- `{cls.__name__}{arguments}` ({base}) — {first_line(cls)}{retried}"


def members(cls: type) -> Iterator[str]:
    docs = attribute_docs(cls)
    if attrs.has(cls):
        for field in attrs.fields(cls):
            if field.name.startswith("_") or not field.init:
                continue
            said = f" — {docs[field.name]}" if field.name in docs else ""
            yield f"  - `{field.name}: {field.type}{default(field)}`{said}"
    for name, member in vars(cls).items():
        if name.startswith("_") or (attrs.has(cls) and name in attrs.fields_dict(cls)):
            continue
        if isinstance(member, property):
            yield f"  - `{name}` (property) — {first_line(member)}"
        elif isinstance(member, (staticmethod, classmethod)):
            function = member.__func__
            bound = isinstance(member, classmethod)
            yield f"  - `{name}{signature(function, bound=bound)}` — {first_line(function)}"
        elif inspect.isfunction(member):
            yield f"  - `{name}{signature(member, bound=True)}` — {first_line(member)}"


def toolkit_entry(name: str, thing: object) -> Iterator[str]:
    if inspect.ismodule(thing):
        yield f"- `{name}` (module) — {first_line(thing)}"
    elif isinstance(thing, enum.EnumMeta):
        words = ", ".join(f"`{member.name}`" for member in thing)  # type: ignore[var-annotated]
        yield f"- `{name}` (enum: {words}) — {first_line(thing)}"
    elif inspect.isclass(thing):
        yield f"- `{name}` (class) — {first_line(thing)}"
        if not issubclass(thing, BaseException):
            yield from members(thing)
    elif inspect.isfunction(thing):
        yield f"- `{name}{signature(thing)}` — {first_line(thing)}"
    elif isinstance(thing, frozenset):  # the reserved names: listed in order
        names = ", ".join(f"`{item}`" for item in sorted(thing))
        yield f"- `{name}` — names a subclass of `Emulator` may not define: {names}"
    else:
        yield f"- `{name}` = `{annotation(thing)}`"


def reference() -> str:
    lines = [BEGIN, "", "### Value types", ""]
    lines.append(
        "What the hooks build and read, from `mediatask.plugin`: each is a frozen value; the "
        "fields are its constructor's arguments."
    )
    lines.append("")
    for name in mediatask.plugin.__all__:
        thing = getattr(mediatask.plugin, name)
        if inspect.isclass(thing) and (attrs.has(thing) or isinstance(thing, enum.EnumMeta)):
            lines += value_type(thing)
    lines += ["### Errors", ""]
    lines.append(
        "Every error mediatask raises on purpose (each importable from `mediatask`; the ones a "
        "plugin uses are in `mediatask.plugin` too), with the class it extends:"
    )
    lines.append("")
    errors = [
        cls
        for cls in vars(mediatask.model.errors).values()
        if inspect.isclass(cls) and issubclass(cls, mediatask.model.errors.MediataskError)
    ]
    lines += [error_line(cls) for cls in errors]
    lines += ["", "### The emulator toolkit", ""]
    lines.append("Everything `mediatask.emulator` offers an emulator (needs `mediatask[sandbox]`):")
    lines.append("")
    for name in mediatask.emulator.__all__:
        lines += toolkit_entry(name, getattr(mediatask.emulator, name))
    lines += ["", END]
    return "\n".join(lines)


def test_the_reference_is_the_codes() -> None:
    text = PAGE.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    wanted = reference()
    if os.environ.get("REWRITE_DOCS") == "1":
        PAGE.write_text(text[:start] + wanted + text[end:], encoding="utf-8")
        text = PAGE.read_text(encoding="utf-8")
    assert text[start : text.index(END) + len(END)] == wanted, (
        "docs/writing-a-provider.md's reference differs from the code: "
        "REWRITE_DOCS=1 pytest tests/docs/test_docs_reference.py rewrites it"
    )

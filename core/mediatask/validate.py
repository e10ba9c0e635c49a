"""Checking a job against its provider's declared operation, before any network call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from mediatask.errors import UnknownProviderError, UsageError
from mediatask.model import Job, Operation, Param, ProviderInfo

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def is_url(value: str) -> bool:
    """True for an http(s) URL with a host."""
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def find_operation(info: ProviderInfo, name: str) -> Operation:
    """Return the operation ``name`` of ``info``; the error lists the operations there are."""
    operation = info.operation(name)
    if operation is None:
        known = ", ".join(op.name for op in info.operations)
        raise UnknownProviderError(f"{info.name} has no operation {name!r}; choose one of: {known}")
    return operation


def _convert(param: Param, value: Any) -> Any:
    kind = param.type
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError("must be true or false")
    if kind in ("int", "float"):
        return _number(kind, value)
    text = str(value)
    if kind == "url" and not is_url(text):
        raise ValueError("must be an http(s) URL")
    return text


def _number(kind: str, value: Any) -> int | float:
    whole = kind == "int"
    problem = "must be a whole number" if whole else "must be a number"
    if isinstance(value, bool):
        raise ValueError(problem)
    try:
        number = float(str(value).strip()) if not isinstance(value, int | float) else value
    except ValueError:
        raise ValueError(problem) from None
    if not whole:
        return float(number)
    if isinstance(number, float) and not number.is_integer():
        raise ValueError(problem)
    return int(number)


def _choices(param: Param) -> str:
    return ", ".join(str(choice) for choice in param.choices)


def check_param(where: str, param: Param, raw: Any) -> Any:
    """Return ``raw`` converted to the parameter's type, or a :class:`UsageError` saying why not."""
    try:
        value = _convert(param, raw)
    except ValueError as exc:
        hint = f" ({_choices(param)})" if param.choices else ""
        raise UsageError(f"{where}: {param.name} {exc}{hint}, got {raw!r}") from None
    if param.choices and value not in param.choices:
        raise UsageError(f"{where}: {param.name} must be one of {_choices(param)}, got {raw!r}")
    if param.minimum is not None and value < param.minimum:
        raise UsageError(f"{where}: {param.name} must be at least {param.minimum}, got {raw!r}")
    if param.maximum is not None and value > param.maximum:
        raise UsageError(f"{where}: {param.name} must be at most {param.maximum}, got {raw!r}")
    return value


def check_params(where: str, operation: Operation, params: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``params`` typed and with defaults filled in, or raise a :class:`UsageError`."""
    unknown = sorted(set(params) - {p.name for p in operation.params})
    if unknown:
        known = ", ".join(p.name for p in operation.params) or "none"
        raise UsageError(f"{where}: unknown parameter {unknown[0]!r}; known parameters: {known}")
    checked: dict[str, Any] = {}
    for param in operation.params:
        if param.name in params:
            checked[param.name] = check_param(where, param, params[param.name])
        elif param.required:
            raise UsageError(f"{where}: missing parameter {param.name}: pass -p {param.name}=VALUE")
        elif param.default is not None:
            checked[param.name] = param.default
    return checked


def check_job(info: ProviderInfo, job: Job) -> Job:
    """Return ``job`` with typed parameters, or raise a :class:`UsageError` naming the fix."""
    operation = find_operation(info, job.operation)
    where = f"{info.name} {operation.name}"
    wanted = len(operation.inputs)
    if len(job.inputs) != wanted:
        if wanted == 0:
            raise UsageError(f"{where} takes no input file; drop --input")
        names = ", ".join(operation.inputs)
        raise UsageError(
            f"{where} takes {wanted} input(s) ({names}), got {len(job.inputs)}: pass --input"
        )
    if operation.open_params:
        return job
    return attrs.evolve(job, params=check_params(where, operation, job.params))

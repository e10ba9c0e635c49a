"""The value types every part of mediatask speaks: frozen attrs classes.

A provider plugin translates between these and its HTTP API; the engine, the journal and the CLI
only ever see these.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from mediatask.model.errors import UsageError, wrong_type


def frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """Copy ``value`` into a read-only mapping, so a frozen class stays frozen."""
    return MappingProxyType(dict(value))


def _str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, os.PathLike):
        return _str_tuple(os.fspath(value))
    if not isinstance(value, Iterable) or isinstance(value, bytes | Mapping):
        raise wrong_type("inputs", "a path or URL string or a list of them", value)
    items = []
    for item in value:
        if isinstance(item, os.PathLike):
            item = os.fspath(item)
        if not isinstance(item, str):
            raise wrong_type("each input", "a path or URL string", item)
        items.append(item)
    return tuple(items)


def _name(instance: object, attribute: attrs.Attribute[str], value: Any) -> None:
    """A non-empty string, or a TypeError/ValueError that says which argument and what it got."""
    owner = type(instance).__name__
    if not isinstance(value, str):
        raise wrong_type(f"{owner}.{attribute.name}", "a string", value)
    if not value.strip():
        raise UsageError(f"{owner}.{attribute.name} must not be empty: name one, e.g. 'a1d'")


def _param_map(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise wrong_type("params", "a mapping of names to values", value)
    bad = [name for name in value if not isinstance(name, str)]
    if bad:
        raise wrong_type("each parameter name", "a string", bad[0])
    return frozen_map(value)


def _outputs(value: Iterable[Output]) -> tuple[Output, ...]:
    return tuple(value)


def _params(value: Iterable[Param]) -> tuple[Param, ...]:
    return tuple(value)


def _operations(value: Iterable[Operation]) -> tuple[Operation, ...]:
    return tuple(value)


def _limits(value: Iterable[tuple[int, float]]) -> tuple[tuple[int, float], ...]:
    return tuple((int(n), float(s)) for n, s in value)


def _rate_classes(
    value: Mapping[str, Iterable[tuple[int, float]]],
) -> Mapping[str, tuple[tuple[int, float], ...]]:
    return frozen_map({str(name): _limits(windows) for name, windows in value.items()})


def _any_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


def _path_tuple(value: Any) -> tuple[Path, ...]:
    return tuple(Path(item) for item in value)


def _task_id(value: Any) -> str:
    """A provider's task id as a string; ids come as strings or integers, nothing else."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise wrong_type("task_id", "a string or an integer", value)
    return str(value)


def invalid_if(
    wrong: Callable[[Any], bool], must: str
) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """An attrs validator: a value for which ``wrong`` is true is a :class:`ValueError` saying
    ``NAME must …, got VALUE`` (``must``: ``"must not be negative"``)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if wrong(value):
            raise ValueError(f"{attribute.name} {must}, got {value!r}")

    return check


_optional_aware = invalid_if(
    lambda value: value is not None and value.tzinfo is None, "must be timezone-aware"
)


def _aware(instance: object, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    if not isinstance(value, datetime):
        raise wrong_type(attribute.name, "a timezone-aware datetime", value)
    _optional_aware(instance, attribute, value)


class Status(enum.Enum):
    """One vocabulary for every provider's task states; plugins keep the raw word beside it."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        """True once the task will not change any more."""
        return self in (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)


class LocalFiles(enum.Enum):
    """How a provider takes an input that is a local file rather than a URL."""

    NONE = "none"
    """URLs only: the core must make the file reachable by URL (the sandbox file host does)."""
    INLINE = "inline"
    """The plugin's submit request carries the file itself (e.g. a multipart upload)."""
    UPLOAD = "upload"
    """The plugin's ``mediatask_upload`` hook turns the file into a URL first."""


@attrs.frozen
class Job:
    """What the user asks for: one operation of one provider on some inputs."""

    provider: str = attrs.field(validator=_name)
    operation: str = attrs.field(validator=_name)
    inputs: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    """Local paths or http(s) URLs, in the order the operation declares them."""
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_param_map, hash=False)
    """Parameter values; after validation they have the declared types and defaults filled in."""

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form the journal and ``--json`` outputs use."""
        return {
            "provider": self.provider,
            "operation": self.operation,
            "inputs": list(self.inputs),
            "params": dict(self.params),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        """Read back :meth:`to_json`'s form."""
        return cls(
            provider=data["provider"],
            operation=data["operation"],
            inputs=data.get("inputs", ()),
            params=data.get("params", {}),
        )


@attrs.frozen
class TaskRef:
    """What a provider gave back for one submitted job: enough to find the task again."""

    provider: str = attrs.field(validator=_name)
    task_id: str = attrs.field(converter=_task_id, validator=attrs.validators.min_len(1))
    """The provider's id, always a string (some providers hand out integers)."""
    submitted_at: datetime = attrs.field(validator=_aware)
    operation: str = ""
    """The operation that created the task, when known (some providers need it to poll)."""
    extra: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_map, hash=False)
    """Whatever else the provider needs to find the task, e.g. a result URL."""

    @property
    def handle(self) -> str:
        """The portable name of the task, ``PROVIDER:TASK_ID``."""
        return f"{self.provider}:{self.task_id}"

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form the journal and the CLI hand around."""
        return {
            "provider": self.provider,
            "task_id": self.task_id,
            "submitted_at": self.submitted_at.isoformat(),
            "operation": self.operation,
            "extra": dict(self.extra),
        }

    @classmethod
    def parse(
        cls,
        handle: str,
        *,
        operation: str = "",
        submitted_at: datetime | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> TaskRef:
        """The task named by ``handle``, ``PROVIDER:TASK_ID`` (split on the first colon), as
        ``mediatask submit`` prints it.

        Give ``operation`` for a provider that needs it to find the task (A2E keeps each kind of
        task at its own endpoints); ``submitted_at`` defaults to now.

        :raises UsageError: when ``handle`` is not ``PROVIDER:TASK_ID``.
        """
        provider, sep, task_id = handle.partition(":")
        if not sep or not provider.strip() or not task_id:
            raise UsageError(
                f"{handle!r} is not a task handle: write PROVIDER:TASK_ID, e.g. a1d:abc123"
            )
        when = submitted_at if submitted_at is not None else datetime.now(UTC)
        return cls(provider, task_id, when, operation, extra or {})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskRef:
        """Read back :meth:`to_json`'s form: a named constructor, never ``TaskRef(**data)``."""
        return cls(
            provider=data["provider"],
            task_id=data["task_id"],
            submitted_at=datetime.fromisoformat(data["submitted_at"]),
            operation=data.get("operation", ""),
            extra=data.get("extra", {}),
        )


VALUE_KINDS = ("text", "json")
"""The kinds of an output that is a value rather than a file (see :attr:`Output.value`)."""


def _url(instance: Output, attribute: attrs.Attribute[str], value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"Output.url must be a string, got {type(value).__name__}")
    if not value and instance.value is None:
        raise ValueError("Output.url must not be empty: give the file's URL, or a value")


def _json_value(instance: Output, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Output.value must be JSON (text, numbers, lists, objects): {exc}"
        ) from exc


@attrs.frozen
class Output:
    """One artefact a task produced, as the provider describes it: a file, or a value.

    A file has a ``url`` to download. A value (a caption, a score, a JSON document) is carried
    in :attr:`value` itself: make one with :meth:`text` or :meth:`data`.
    """

    url: str = attrs.field(default="", validator=_url)
    """The file's URL; empty for a value."""
    role: str = "output"
    """What the artefact is to the task: ``image``, ``thumbnail``, ``video``, ``caption``…"""
    kind: str = "file"
    """Broad kind: ``image``, ``video``, ``audio``, ``vector`` or ``file``; for a value,
    ``text`` or ``json``."""
    mime_type: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    expires_at: datetime | None = attrs.field(default=None, validator=_optional_aware)
    downloadable: bool = True
    """``False`` when the provider wrote the artefact where the job asked (its own storage, a
    bucket the user connected): ``url`` is then its location (``storage://…``), not a link,
    and there is nothing to download. Always ``False`` for a value."""
    value: Any = attrs.field(default=None, validator=_json_value)
    """The output itself when it is not a file: text, or any JSON value; ``None`` for a file."""

    def __attrs_post_init__(self) -> None:
        if self.value is None:
            return
        kind = self.kind if self.kind in VALUE_KINDS else _value_kind(self.value)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "downloadable", False)
        if self.mime_type is None:
            mime = "text/plain" if kind == "text" else "application/json"
            object.__setattr__(self, "mime_type", mime)

    @classmethod
    def text(cls, value: str, role: str = "text", mime_type: str = "text/plain") -> Output:
        """A text output (a caption, a transcript): shown by ``run``, kept in the journal."""
        if not isinstance(value, str):
            raise TypeError(f"Output.text takes a string, got {type(value).__name__}")
        return cls(role=role, kind="text", mime_type=mime_type, value=value)

    @classmethod
    def data(cls, value: Any, role: str = "data", mime_type: str = "application/json") -> Output:
        """A JSON output (a score, labels, a document): shown by ``run``, kept in the journal."""
        return cls(role=role, kind="json", mime_type=mime_type, value=value)

    @property
    def is_value(self) -> bool:
        """True for an output carried as a value (:attr:`value`), not a file."""
        return self.value is not None

    def shown(self) -> str:
        """The value as ``run`` prints it: text as it is, JSON on one line."""
        if isinstance(self.value, str) and self.kind == "text":
            return self.value
        return json.dumps(self.value, ensure_ascii=False, separators=(",", ":"))

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form used in results files and ``--json`` output."""
        data = attrs.asdict(self)
        data["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        if self.value is None:
            del data["value"]  # a file's form stays what it was
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Output:
        """The output :meth:`to_json` wrote (a journal's copy); missing fields take defaults."""
        expires = data.get("expires_at")
        return cls(
            url=str(data.get("url") or ""),
            role=str(data.get("role") or "output"),
            kind=str(data.get("kind") or "file"),
            mime_type=data.get("mime_type"),
            size=data.get("size"),
            width=data.get("width"),
            height=data.get("height"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            downloadable=data.get("downloadable") is not False,
            value=data.get("value"),
        )


def _value_kind(value: Any) -> str:
    return "text" if isinstance(value, str) else "json"


def lasting(outputs: Iterable[Output], lifetime: float | None, done: datetime) -> list[Output]:
    """``outputs``, each file without an ``expires_at`` given ``done + lifetime`` (when known);
    a value does not expire."""
    if lifetime is None:
        return list(outputs)
    until = done + timedelta(seconds=lifetime)
    return [o if o.expires_at or o.is_value else attrs.evolve(o, expires_at=until) for o in outputs]


@attrs.frozen
class Update:
    """One observation of a task: a poll answer or one stream event."""

    status: Status
    raw_status: str = ""
    """The provider's own word for the status."""
    progress: float | None = None
    """0 to 1 when the provider reports it."""
    message: str | None = None
    """A failure reason or progress note, in the provider's words."""
    outputs: tuple[Output, ...] = attrs.field(default=(), converter=_outputs)
    payload: Mapping[str, Any] = attrs.field(
        factory=dict, converter=frozen_map, hash=False, eq=False, repr=False
    )
    """The raw payload the update was read from."""
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_map, hash=False)
    """Provider facts worth keeping that the model has no field for (e.g. coins charged)."""


class CancelOutcome(enum.Enum):
    """What asking a provider to cancel a task came to; the Cancellation constructor of the same
    name says what each outcome means (``canceled()``, ``requested()``, ``nothing()``)."""

    CANCELED = "canceled"
    REQUESTED = "requested"
    NOTHING = "nothing"


@attrs.frozen
class Cancellation:
    """The answer to a cancel, as ``mediatask_read_cancel`` may read it (or the core finds it)."""

    outcome: CancelOutcome
    message: str = ""
    """The provider's words, when they say more than the outcome (e.g. coins refunded)."""
    state: Status | None = None
    """For :attr:`CancelOutcome.NOTHING`: the final state the task was already in, if known."""

    @classmethod
    def canceled(cls, message: str = "") -> Cancellation:
        """The provider stopped (or deleted) the task."""
        return cls(CancelOutcome.CANCELED, message)

    @classmethod
    def requested(cls, message: str = "") -> Cancellation:
        """The provider took the request; the task may still end otherwise: whether it stops
        is for later polls to say."""
        return cls(CancelOutcome.REQUESTED, message)

    @classmethod
    def nothing(cls, state: Status | None = None, message: str = "") -> Cancellation:
        """The task had already ended (in ``state``): there was nothing to cancel."""
        return cls(CancelOutcome.NOTHING, message, state)

    def line(self, handle: str) -> str:
        """One line for the user: the provider's words, or the outcome in ours."""
        if self.outcome is CancelOutcome.NOTHING:
            final = f": {self.state.value}" if self.state is not None else ""
            said = f" — {self.message}" if self.message else ""
            return f"{handle}: nothing to cancel (already final{final}){said}"
        if self.message:
            return self.message
        done = "canceled" if self.outcome is CancelOutcome.CANCELED else "cancel requested"
        return f"{handle}: {done}"

    def to_json(self, handle: str) -> dict[str, Any]:
        """The JSON form ``cancel --json`` prints."""
        return {
            "handle": handle,
            "outcome": self.outcome.value,
            "canceled": self.outcome is CancelOutcome.CANCELED,
            "state": self.state.value if self.state is not None else None,
            "message": self.line(handle),
        }


@attrs.frozen
class Submitted:
    """What a plugin read from a submission answer; the core adds the provider and the time."""

    task_id: str = attrs.field(converter=str, validator=attrs.validators.min_len(1))
    extra: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_map, hash=False)
    update: Update | None = None
    """The task's state when the answer already tells it (e.g. finished at once)."""
    created_at: datetime | None = attrs.field(default=None, validator=_optional_aware)
    """When the provider created the task, where a list tells it (timezone-aware): a paged
    list is read back only as far as the time that is looked for."""


@attrs.frozen
class Credits:
    """An account's remaining balance with a provider."""

    amount: float
    unit: str = "credits"
    """What the provider counts in: ``credits``, ``coins``, ``API calls``…"""
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_map, hash=False)


@attrs.frozen
class Result:
    """The final, successful outcome of a task."""

    task: TaskRef
    outputs: tuple[Output, ...] = attrs.field(converter=_outputs)
    finished_at: datetime = attrs.field(validator=_aware)
    payload: Mapping[str, Any] = attrs.field(
        factory=dict, converter=frozen_map, hash=False, eq=False, repr=False
    )
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_map, hash=False)
    files: tuple[Path, ...] = attrs.field(default=(), converter=_path_tuple)
    """Local copies of the outputs, once downloaded."""

    @property
    def seconds(self) -> float:
        """Wall time from submission to the final update."""
        return (self.finished_at - self.task.submitted_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form ``--json`` prints."""
        return {
            "handle": self.task.handle,
            "task": self.task.to_json(),
            "outputs": [output.to_json() for output in self.outputs],
            "files": [str(path) for path in self.files],
            "seconds": round(self.seconds, 3),
            "extra": dict(self.extra),
        }


PARAM_TYPES = ("str", "int", "float", "bool", "url", "object")
"""``object``: a nested document (of an ``open_params`` operation), its ``fields`` documented."""


@attrs.frozen
class Param:
    """One declared parameter of an operation: enough to validate it and to document it."""

    name: str
    type: str = attrs.field(default="str", validator=attrs.validators.in_(PARAM_TYPES))
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = attrs.field(default=(), converter=_any_tuple)
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""
    fields: tuple[Param, ...] = attrs.field(default=(), converter=_params)
    """An ``object`` parameter's own fields, for documentation (``providers show`` prints them
    as a tree); the plugin's ``mediatask_validate`` checks them."""
    default_sent: bool = True
    """``False``: ``default`` only says what the provider does when the parameter is left out,
    and the job leaves it out (the provider may treat a value it was sent differently)."""
    shapes: tuple[Param, ...] = attrs.field(default=(), converter=_params)
    """The shapes a value may take, when more than one (a preset word, or an ``object`` of
    width and height): a value is checked against each in turn and takes the first that
    accepts it. Each shape is a :class:`Param` whose name says what it is (``preset``)."""


@attrs.frozen
class Operation:
    """One thing a provider can do, with the inputs and parameters it takes."""

    name: str
    title: str
    inputs: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    """Names of the inputs, in order (e.g. ``image``); empty for prompt-only operations."""
    params: tuple[Param, ...] = attrs.field(default=(), converter=_params)
    output_kind: str = "image"
    open_params: bool = False
    """The parameters form a document the plugin checks itself (hook ``mediatask_validate``);
    ``params`` then only documents the top-level names."""
    input_kinds: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    """The kind of each input (``image``, ``video``, ``audio``), in order: a local file's first
    bytes are checked against it before any network call. Empty: not checked."""
    max_input_bytes: int | None = None
    """The largest local input the provider takes, when it documents one; ``None``: unknown."""

    def param(self, name: str) -> Param | None:
        """Return the declared parameter called ``name``, if any."""
        return next((p for p in self.params if p.name == name), None)


@attrs.frozen
class Capabilities:
    """What a provider's API can do beyond submit and poll."""

    stream: bool = False
    cancel: bool = False
    list: bool = False
    local_files: LocalFiles = LocalFiles.NONE
    stream_ends: bool = False
    """The status stream closes by design once it has sent its last status: a stream that ends
    cleanly is followed by one poll at once, never opened again while the task may be done."""
    input_schemes: tuple[str, ...] = ()
    """URL schemes the provider resolves itself (Claid's ``storage``): such an input is passed
    on as given, neither fetched nor read as a local path."""
    finds_marker: bool | None = None
    """Whether a task in the provider's list carries the marker its submit put on it (hook
    ``mediatask_submit``'s ``marker``, read back as ``Submitted.extra["marker"]``), so a submit
    whose answer was lost can be found there. ``None``: as ``list`` says (the plugins written
    before this field); ``False`` for a list whose records have no field to carry it."""
    submit_blocks: float = 0.0
    """The longest a submit may hold its answer, in seconds, for an API that can wait for the
    task before answering (``Prefer: wait=N``); 0: a submit answers at once. Such a submit
    gets at least that long to answer, and Ctrl-C while it waits leaves it uncertain within a
    second instead of waiting for the answer."""

    @property
    def searchable(self) -> bool:
        """True when a lost submit can be looked up by its marker in the provider's list."""
        return self.list and self.finds_marker is not False


@attrs.frozen
class ProviderInfo:
    """What a plugin declares about one provider."""

    name: str = attrs.field(validator=attrs.validators.matches_re(r"[a-z][a-z0-9_-]*"))
    title: str
    base_url: str
    auth_scheme: str
    """The word before the key in ``Authorization`` (``Bearer``, ``KEY``…)."""
    operations: tuple[Operation, ...] = attrs.field(converter=_operations)
    capabilities: Capabilities = Capabilities()
    docs_url: str = ""
    rate_limits: tuple[tuple[int, float], ...] = attrs.field(default=(), converter=_limits)
    """The provider's documented request limits, as (requests, seconds) pairs: (4, 1), (120, 60)."""
    max_concurrency: int | None = None
    """How many tasks in flight the provider's documents allow, if they say; ``None``: unknown,
    and the engine learns it from the provider's answers."""
    result_lifetime: float | None = None
    """Seconds the provider keeps a result after the task completed, if it says (Claid and
    A1D: a day). An output read without an ``expires_at`` gets completion (when we saw it)
    plus this; ``None``: unknown."""
    rate_classes: Mapping[str, tuple[tuple[int, float], ...]] = attrs.field(
        factory=dict, converter=_rate_classes, hash=False
    )
    """Limits the provider sets on classes of requests apart, as windows per class (Replicate:
    ``{"submit": [(600, 60)]}``): a request of such a class (``Request.rate_class``, else
    ``submit``, ``status`` or ``other``) keeps to its class's windows instead of
    ``rate_limits``, which go on governing every other request."""
    key_aliases: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    """Environment variables the provider's own tools read its key from (``REPLICATE_API_TOKEN``,
    ``FAL_KEY``): read, in order, when :attr:`key_env` is not set."""

    @property
    def key_env(self) -> str:
        """The environment variable that holds this provider's key."""
        return f"MEDIATASK_{self.env_name}_KEY"

    @property
    def base_url_env(self) -> str:
        """The environment variable that overrides this provider's base URL."""
        return f"MEDIATASK_{self.env_name}_BASE_URL"

    @property
    def rate_env(self) -> str:
        """The environment variable that sets this provider's rate windows (``1/s,30/min``)."""
        return f"MEDIATASK_{self.env_name}_RATE"

    @property
    def env_name(self) -> str:
        """The provider name as it appears in environment variables."""
        return self.name.upper().replace("-", "_")

    def operation(self, name: str) -> Operation | None:
        """Return the declared operation called ``name``, if any."""
        return next((op for op in self.operations if op.name == name), None)

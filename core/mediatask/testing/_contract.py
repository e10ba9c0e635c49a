"""The provider contract suite: what every provider plugin must do, as tests a plugin inherits.

A plugin's tests subclass :class:`ProviderContract` with the provider's name, sample inputs and
one sample job per declared operation, and pytest runs every check below against the plugin and
its emulator::

    from mediatask.testing import ProviderContract

    class TestContract(ProviderContract):
        provider = "echo"
        jobs = {"mirror": (["photo.png"], {})}

        def status_payload(self, task, word):
            return {"id": task.task_id, "state": word}

Optional steps are checked for the plugins that have them: a result step
(``mediatask_result``) is one request per job; error answers the plugin reads as the task's own
failure are listed in :attr:`ProviderContract.failed_answers`; list pages
(``mediatask_next_page``) are checked on the answers :meth:`ProviderContract.list_answer`
builds. A stream is opened once per job: it ends after the final event, by design or not,
without being opened again.

The end-to-end checks take the sample inputs from an ``inputs_url`` fixture the plugin's
``conftest.py`` provides: a server answering ``/samples/<name>`` (see
:func:`mediatask.testing.serving_samples`).

Pure checks call the plugin's hooks directly (an exception the core would wrap in a
``PluginError`` is seen as the plugin raised it); end-to-end checks run each operation through
the real engine against the emulator, once following by Server-Sent Events (when the provider
declares a stream) and once by polling.
"""

from __future__ import annotations

import functools
import importlib.metadata
import itertools
import json
from collections.abc import Generator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pluggy
import pytest

from mediatask.http.messages import Request, Response
from mediatask.model.errors import AuthError, FailedTask, MediataskError, PluginError
from mediatask.model.values import (
    VALUE_KINDS,
    CancelOutcome,
    Job,
    LocalFiles,
    Operation,
    Output,
    ProviderInfo,
    Result,
    Status,
    TaskRef,
    Update,
)
from mediatask.providers import hookspecs
from mediatask.providers.hookspecs import hookimpl
from mediatask.providers.validate import KIND_FORMATS, sniff

CONTRACT_KEY = "contract-key-7f3a9c"
"""The key the pure checks put on requests: no error may repeat it."""

UNKNOWN_STATUS_WORD = "contract-unknown-status"
"""A status word no provider sends: it must read as a task still in progress."""

UNREADABLE_PAYLOADS: tuple[Any, ...] = (
    {},
    {"status": None, "state": None, "data": None},
    {"data": "not an object", "status": 7},
    {"data": [], "result": [1, 2], "outputs": "x"},
    {"data": {"status": {"nested": True}}, "id": []},
)
"""Status payloads a provider should never send: a plugin reads them or raises PluginError."""

ERROR_STATUSES = (400, 401, 402, 403, 404, 409, 422, 429, 500, 502, 503)


def plugin_object(provider: str) -> object:
    """The installed plugin (its entry point, loaded) that declares ``provider``."""
    for entry_point in importlib.metadata.entry_points(group="mediatask"):
        plugin = entry_point.load()
        declare = getattr(plugin, "mediatask_providers", None)
        if declare is not None and provider in {info.name for info in declare()}:
            return plugin
    raise LookupError(f"no installed plugin declares provider {provider!r}")


class _Recorder:
    """A cross-cutting plugin: records hook results, and hides the stream when asked to."""

    def __init__(self, *, poll_only: bool) -> None:
        self.poll_only = poll_only
        self.calls: list[tuple[str, dict[str, Any], Any]] = []
        self.answers: list[tuple[Request, Response]] = []
        self.streams = 0
        """Streams opened (``mediatask_stream`` calls that gave a request)."""
        self.order: list[str] = []
        """``stream`` and ``poll``, in the order the engine asked for them."""

    def _record(self, hook: str, kwargs: dict[str, Any]) -> Generator[None, Any, Any]:
        result = yield
        self.calls.append((hook, kwargs, result))
        return result

    @hookimpl(wrapper=True)
    def mediatask_submit(self, job: Job, marker: str) -> Generator[None, Any, Any]:
        return (yield from self._record("submit", {"job": job, "marker": marker}))

    @hookimpl(wrapper=True)
    def mediatask_poll(self, task: TaskRef) -> Generator[None, Any, Any]:
        self.order.append("poll")
        return (yield from self._record("poll", {"task": task}))

    @hookimpl(wrapper=True)
    def mediatask_parse_result(
        self, task: TaskRef, payload: Mapping[str, Any]
    ) -> Generator[None, Any, Any]:
        return (yield from self._record("parse_result", {"task": task, "payload": payload}))

    @hookimpl(wrapper=True)
    def mediatask_result(self, task: TaskRef, update: Update) -> Generator[None, Any, Any]:
        return (yield from self._record("result", {"task": task, "update": update}))

    @hookimpl(wrapper=True)
    def mediatask_stream(self, task: TaskRef) -> Generator[None, Any, Any]:
        request = yield
        if self.poll_only:
            return None
        if request is not None:
            self.streams += 1
            self.order.append("stream")
        return request

    @hookimpl(wrapper=True)
    def mediatask_read_error(
        self, request: Request, response: Response
    ) -> Generator[None, Any, Any]:
        self.answers.append((request, response))
        return (yield)


class ProviderContract:
    """Checks a provider plugin against the contract; subclass it in the plugin's tests.

    Set :attr:`provider` and :attr:`jobs` (and :attr:`status_words`, :attr:`unreadable`), and
    override :meth:`status_payload`. Every check is a test method; a subclass may add its own.
    """

    provider: ClassVar[str]
    """The provider's name, as its plugin declares it."""
    jobs: ClassVar[Mapping[str, tuple[Sequence[str], Mapping[str, Any]]]] = {}
    """Per declared operation: the sample names of its inputs (served by the ``inputs_url``
    fixture at ``/samples/<name>``), and its parameters."""
    not_run: ClassVar[Mapping[str, str]] = {}
    """Declared operations left out of the end-to-end runs, each with the reason."""
    status_words: ClassVar[Mapping[str, Status]] = {}
    """The provider's status words (as its documents and clients spell them) and what each
    means; each is read from :meth:`status_payload` and must give that status."""
    unreadable: ClassVar[Sequence[Mapping[str, Any]]] = ()
    """Status payloads in the provider's own shape that cannot be read (no status, no data):
    each must raise ``PluginError``."""
    failed_answers: ClassVar[Sequence[tuple[int, Mapping[str, Any], bool]]] = ()
    """Error answers (HTTP status, JSON body, whether it means canceled) to the task's status or
    result request that mean the task itself failed or was canceled: each must read as
    :class:`~mediatask.model.errors.FailedTask`, never as an error to retry."""
    plugin: ClassVar[object | None] = None
    """The plugin object (module or instance); ``None``: the installed plugin that declares
    :attr:`provider`, found through its entry point."""

    def status_payload(self, task: TaskRef, word: str) -> Mapping[str, Any]:
        """A status payload (a poll body) for ``task`` that carries the status word ``word``."""
        raise NotImplementedError("a provider contract names its status payload's shape")

    def list_answer(self, request: Request, *, last: bool) -> Response:
        """An answer to the list ``request`` in the provider's shape: a full page followed by
        more (``last=False``), or the last page. Needed when the plugin has list pages."""
        raise NotImplementedError("a provider with list pages builds a sample page's answer")

    # -- helpers -------------------------------------------------------------------------------

    def implements(self, hook: str) -> bool:
        """True when the plugin implements the optional ``hook``."""
        return bool(getattr(self.hooks, hook).get_hookimpls())

    @functools.cached_property
    def info(self) -> ProviderInfo:
        """The provider's declaration."""
        declared: list[list[ProviderInfo]] = self.hooks.mediatask_providers()
        return next(i for infos in declared for i in infos if i.name == self.provider)

    @functools.cached_property
    def hooks(self) -> Any:
        """The plugin's hooks alone, called directly (exceptions are not wrapped)."""
        manager = pluggy.PluginManager("mediatask")
        manager.add_hookspecs(hookspecs)
        manager.register(self.plugin or plugin_object(self.provider))
        return manager.hook

    def _plugins(self, recorder: _Recorder) -> Any:
        from mediatask.providers.manager import PluginManager

        if self.plugin is None:
            plugins = PluginManager.from_entry_points()
        else:
            plugins = PluginManager.from_plugins({self.provider: self.plugin})
        plugins.register(recorder, name="contract-recorder")
        return plugins

    def task(self, operation: str = "") -> TaskRef:
        """A task of the provider, as a submit might have named it."""
        return TaskRef(
            self.provider,
            "contract-task-1",
            datetime(2026, 1, 1, tzinfo=UTC),
            operation or self.info.operations[0].name,
        )

    def sample_job(self, operation: str, inputs_url: str) -> Job:
        """The sample job for ``operation``, its inputs served under ``inputs_url``."""
        names, params = self.jobs[operation]
        return Job(self.provider, operation, [f"{inputs_url}/samples/{n}" for n in names], params)

    # -- pure checks ---------------------------------------------------------------------------

    def test_every_declared_operation_has_a_sample_job(self) -> None:
        """Each operation is run end to end, or says why not."""
        declared = {operation.name for operation in self.info.operations}

        assert declared - set(self.jobs) - set(self.not_run) == set()
        assert set(self.jobs) - declared == set()

    def test_capabilities_agree_with_the_hooks(self) -> None:
        """What the provider declares it can do is what its hooks do."""
        capabilities, task = self.info.capabilities, self.task()
        stream = self.hooks.mediatask_stream(provider=self.provider, task=task)
        cancel = self.hooks.mediatask_cancel(provider=self.provider, task=task)
        listing = self.hooks.mediatask_list(provider=self.provider, operation=None)
        uploads = self.hooks.mediatask_upload.get_hookimpls()

        assert isinstance(stream, Request) == capabilities.stream
        assert isinstance(cancel, Request) == capabilities.cancel
        assert isinstance(listing, Request) == capabilities.list
        assert bool(uploads) == (capabilities.local_files is LocalFiles.UPLOAD)

    def test_a_list_searched_for_markers_gets_them_from_the_submits(self) -> None:
        """A list that finds lost submits (``list``, ``finds_marker`` not False) finds them by
        the marker submits carry (in the body, form, query or headers of the submit of an
        operation it lists; a sample job may leave it out, e.g. for a name of the user's own).
        A provider whose tasks have no field for it declares ``finds_marker=False``."""
        if not self.info.capabilities.searchable:
            pytest.skip(f"{self.provider} declares no list searched for markers")
        marker, carried = "mediatask-0123456789abcdef", []
        for name in self.jobs:
            if self.hooks.mediatask_list(provider=self.provider, operation=name) is None:
                continue
            job = self._checked(name)
            request = self.hooks.mediatask_submit(provider=self.provider, job=job, marker=marker)
            parts = [request.json, dict(request.fields), dict(request.params)]
            carried.append(marker in json.dumps([*parts, dict(request.headers)], default=str))

        assert any(carried), (
            "no submit carries its marker, so the list cannot find a lost one: put it on the "
            "task, or declare Capabilities(finds_marker=False)"
        )

    def test_a_submit_that_may_block_gets_time_for_its_hold(self) -> None:
        """A provider that may hold a submit says how long (``submit_blocks``, seconds), and
        each submit request has longer than that to answer."""
        from mediatask.engine.client import held_long_enough

        blocks = self.info.capabilities.submit_blocks
        assert 0 <= blocks < float("inf"), f"submit_blocks must be seconds, got {blocks!r}"
        if not blocks:
            pytest.skip(f"{self.provider} answers a submit at once")
        for name in self.jobs:
            request = self.hooks.mediatask_submit(
                provider=self.provider, job=self._checked(name), marker=""
            )
            timeout = held_long_enough(self.info, request).timeout
            assert timeout is not None, name
            assert timeout > blocks, f"{name}: {timeout} s"

    def test_rate_classes_are_windows(self) -> None:
        """Each class the provider limits apart has windows of at least one request."""
        for name, windows in {"": self.info.rate_limits, **self.info.rate_classes}.items():
            for count, seconds in windows:
                assert count >= 1, f"rate class {name!r}: {count}/{seconds}s"
                assert seconds > 0, f"rate class {name!r}: {count}/{seconds}s"

    def _checked(self, operation: str) -> Job:
        """The sample job of ``operation`` as the core hands it to the submit hook."""
        from mediatask.providers.validate import check_job

        job = check_job(self.info, self.sample_job(operation, "https://inputs.invalid"))
        validated = self.hooks.mediatask_validate(provider=self.provider, job=job)
        return validated if isinstance(validated, Job) else job

    def test_read_error_is_none_on_success(self) -> None:
        """A 2xx answer with a plain body is never read as an error."""
        request = Request("GET", "https://provider.invalid/task")
        for status in (200, 201, 202):
            answer = Response(status, {"content-type": "application/json"}, b"{}")
            assert (
                self.hooks.mediatask_read_error(
                    provider=self.provider, request=request, response=answer
                )
                is None
            )

    def test_status_words_read_as_declared(self) -> None:
        """Each known status word reads as the status it means, and is kept as the raw word."""
        task = self.task()
        for word, status in self.status_words.items():
            update = self.hooks.mediatask_parse_result(
                provider=self.provider, task=task, payload=self.status_payload(task, word)
            )

            assert (update.status, update.raw_status) == (status, word), word

    def test_unknown_status_words_are_not_final(self) -> None:
        """A status word the plugin does not know means the task is still going."""
        for operation in self.info.operations:
            task = self.task(operation.name)
            payload = self.status_payload(task, UNKNOWN_STATUS_WORD)
            update = self.hooks.mediatask_parse_result(
                provider=self.provider, task=task, payload=payload
            )

            assert isinstance(update, Update)
            assert not update.status.is_final, operation.name

    def test_unreadable_payloads_raise_plugin_error(self) -> None:
        """Garbage is read, or refused with ``PluginError``: never ``KeyError`` or ``TypeError``."""
        task = self.task()
        for payload in UNREADABLE_PAYLOADS:
            try:
                update = self.hooks.mediatask_parse_result(
                    provider=self.provider, task=task, payload=payload
                )
            except PluginError:
                continue
            assert isinstance(update, Update), payload
            if update.status is Status.SUCCEEDED and not self.implements("mediatask_result"):
                assert update.outputs, f"a success without outputs from {payload!r}"
        for payload in self.unreadable:
            with pytest.raises(PluginError):
                self.hooks.mediatask_parse_result(
                    provider=self.provider, task=task, payload=payload
                )

    def test_errors_carry_no_key(self) -> None:
        """Whatever the plugin makes of an error answer never repeats the key it was sent with."""
        info = self.info
        request = Request(
            "POST",
            f"{info.base_url}/contract?key={CONTRACT_KEY}",
            headers={"Authorization": f"{info.auth_scheme} {CONTRACT_KEY}"},
            json={"api_key": CONTRACT_KEY},
        )
        bodies = (b"", b"{}", b'{"error": "no", "message": "no", "code": 1}', b"<html>x</html>")
        for status in ERROR_STATUSES:
            for body in bodies:
                answer = Response(status, {"content-type": "application/json"}, body, request.url)
                error = self.hooks.mediatask_read_error(
                    provider=self.provider, request=request, response=answer
                )
                if error is not None:
                    assert isinstance(error, MediataskError)
                    assert CONTRACT_KEY not in f"{error} {error!r} {error.args!r}"

    def test_failed_answers_read_as_the_tasks_end(self) -> None:
        """Each declared failure answer is :class:`FailedTask` with the provider's reason."""
        if not self.failed_answers:
            pytest.skip(f"{self.provider} declares no answer that is a task's failure")
        task = self.task()
        requests = [self.hooks.mediatask_poll(provider=self.provider, task=task)]
        if self.implements("mediatask_result"):
            final = Update(Status.SUCCEEDED, "contract-final")
            result = self.hooks.mediatask_result(provider=self.provider, task=task, update=final)
            requests += [result] if result is not None else []
        for status, body, canceled in self.failed_answers:
            answer = Response(
                status, {"content-type": "application/json"}, json.dumps(body).encode()
            )
            for request in requests:
                error = self.hooks.mediatask_read_error(
                    provider=self.provider, request=request, response=answer
                )
                assert isinstance(error, FailedTask), (status, body)
                assert error.canceled == canceled, (status, body)
                assert error.reason, (status, body)
                assert not error.retryable

    def test_the_result_step_names_one_request_for_a_final_status(self) -> None:
        """A plugin with a result step names its request for every final status word."""
        if not self.implements("mediatask_result"):
            pytest.skip(f"{self.provider} has no result step")
        task = self.task()
        finals = [word for word, status in self.status_words.items() if status.is_final]
        assert finals, "status_words names no final word"
        for word in finals:
            update = self.hooks.mediatask_parse_result(
                provider=self.provider, task=task, payload=self.status_payload(task, word)
            )
            request = self.hooks.mediatask_result(provider=self.provider, task=task, update=update)
            assert request is None or isinstance(request, Request), word

    def test_list_pages_lead_on_and_end(self) -> None:
        """A full page leads to a next page's request (another one); the last page to none."""
        if not self.implements("mediatask_next_page"):
            pytest.skip(f"{self.provider} has no list pages")
        for operation in [None, *(o.name for o in self.info.operations)]:
            first = self.hooks.mediatask_list(provider=self.provider, operation=operation)
            if first is None:
                continue
            ask = functools.partial(
                self.hooks.mediatask_next_page, provider=self.provider, operation=operation
            )
            second = ask(request=first, response=self.list_answer(first, last=False))
            assert isinstance(second, Request), operation
            assert second != first, f"{operation}: the next page is the same request"
            third = ask(request=second, response=self.list_answer(second, last=False))
            assert isinstance(third, Request), operation
            assert third not in (first, second), f"{operation}: a page is asked for again"
            assert ask(request=second, response=self.list_answer(second, last=True)) is None

    # -- against the emulator ------------------------------------------------------------------

    async def _run_all(
        self,
        inputs_url: str,
        tmp_path: Path,
        *,
        poll_only: bool,
        drop_stream_after: int | None = None,
    ) -> _Recorder:
        from mediatask.providers.sandbox import open_sandbox
        from mediatask.testing import quick_client

        recorder = _Recorder(poll_only=poll_only)
        plugins = self._plugins(recorder)
        async with (
            open_sandbox(plugins, [self.provider]) as box,
            quick_client(plugins, box) as client,
        ):
            box.emulators[self.provider].faults.drop_stream_after = drop_stream_after
            for operation in self.info.operations:
                if operation.name not in self.jobs:
                    continue
                job = self.sample_job(operation.name, inputs_url)
                result = await client.run(job, tmp_path / operation.name)
                _check_result(operation, result)
        return recorder

    @pytest.mark.trio  # also where trio_mode is not set
    async def test_a_finished_task_is_never_reported_canceled(
        self, inputs_url: str, tmp_path: Path
    ) -> None:
        """Cancelling a task that has ended says so (nothing to cancel), or what the provider
        did (deleted it): never that it was canceled."""
        from mediatask.providers.sandbox import open_sandbox
        from mediatask.testing import quick_client

        if not self.info.capabilities.cancel or not self.jobs:
            pytest.skip(f"{self.provider} cannot cancel a task")
        name = next(iter(self.jobs))
        plugins = self._plugins(_Recorder(poll_only=True))
        async with (
            open_sandbox(plugins, [self.provider]) as box,
            quick_client(plugins, box) as client,
        ):
            result = await client.run(self.sample_job(name, inputs_url))
            done = await client.cancel_task(result.task)

        assert done.outcome is not CancelOutcome.CANCELED, done.line(result.task.handle)

    @pytest.mark.trio  # also where trio_mode is not set
    async def test_every_operation_runs_end_to_end_by_polling(
        self, inputs_url: str, tmp_path: Path
    ) -> None:
        """Submit, poll to the end, read the result and download it, for each operation."""
        recorder = await self._run_all(inputs_url, tmp_path, poll_only=True)

        assert [hook for hook, _, _ in recorder.calls if hook == "poll"]
        self._one_result_step_per_job(recorder)

    def _one_result_step_per_job(self, recorder: _Recorder) -> None:
        """With a result step, each job run sent exactly one result request."""
        if self.implements("mediatask_result"):
            submits = [hook for hook, _, _ in recorder.calls if hook == "submit"]
            results = [r for hook, _, r in recorder.calls if hook == "result" and r is not None]
            assert len(results) == len(submits), "one result request per job"

    @pytest.mark.trio  # also where trio_mode is not set
    async def test_every_operation_runs_end_to_end_by_stream(
        self, inputs_url: str, tmp_path: Path
    ) -> None:
        """The same, following each task by Server-Sent Events."""
        if not self.info.capabilities.stream:
            pytest.skip(f"{self.provider} declares no stream")
        recorder = await self._run_all(inputs_url, tmp_path, poll_only=False)

        submits = [hook for hook, _, _ in recorder.calls if hook == "submit"]
        assert recorder.streams == len(submits), "a stream ends after the final event: one a job"
        self._one_result_step_per_job(recorder)

    @pytest.mark.trio  # also where trio_mode is not set
    async def test_a_stream_that_ends_by_design_is_followed_by_a_poll(
        self, inputs_url: str, tmp_path: Path
    ) -> None:
        """Declared ``stream_ends``: a stream ending before its final event is not reopened
        before a poll has asked whether the task is done."""
        if not self.info.capabilities.stream_ends:
            pytest.skip(f"{self.provider} declares no stream that ends by design")
        recorder = await self._run_all(inputs_url, tmp_path, poll_only=False, drop_stream_after=1)

        assert "poll" in recorder.order
        assert ("stream", "stream") not in itertools.pairwise(recorder.order), recorder.order

    @pytest.mark.trio  # also where trio_mode is not set
    async def test_hooks_are_deterministic(self, inputs_url: str, tmp_path: Path) -> None:
        """Called again with the same arguments, every hook gives the same answer."""
        recorder = await self._run_all(inputs_url, tmp_path, poll_only=True)
        hooks = self.hooks

        assert {hook for hook, _, _ in recorder.calls} >= {"submit", "poll", "parse_result"}
        for hook, kwargs, result in recorder.calls:
            again = getattr(hooks, f"mediatask_{hook}")(provider=self.provider, **kwargs)
            assert again == result, hook

    @pytest.mark.trio  # also where trio_mode is not set
    async def test_the_emulator_refuses_a_bad_key_in_its_own_envelope(
        self, inputs_url: str
    ) -> None:
        """A wrong key is an ``AuthError`` naming the key variable, in the provider's words."""
        from mediatask.providers.sandbox import open_sandbox
        from mediatask.testing import quick_client

        recorder = _Recorder(poll_only=True)
        plugins = self._plugins(recorder)
        operation = next(iter(self.jobs))
        async with open_sandbox(plugins, [self.provider]) as box:
            wrong = {self.provider: attrs.evolve(box.settings[self.provider], key=CONTRACT_KEY)}
            emulator = box.emulators[self.provider]
            async with quick_client(plugins, box, wrong) as client:
                with pytest.raises(AuthError) as refused:
                    await client.run(self.sample_job(operation, inputs_url))

        assert self.info.key_env in str(refused.value)
        assert CONTRACT_KEY not in str(refused.value)
        _, answer = recorder.answers[-1]
        own = emulator.error_response(answer.status, "refused")
        assert set(answer.json_object()) == set(json.loads(own.body))


def _check_result(operation: Operation, result: Result) -> None:
    """``result`` of a job of ``operation`` is whole: its values carried, its files saved."""
    assert result.outputs, operation.name
    files = [output for output in result.outputs if output.downloadable]
    assert len(result.files) == len(files)
    _check_values(operation, result.outputs)
    for output, path in zip(files, result.files, strict=True):
        _check_file(operation, output, path)


def _check_values(operation: Operation, outputs: Sequence[Output]) -> None:
    """The outputs that are values (a caption, a score: carried, not downloaded) are of a
    value's kind and survive JSON; an operation that declares values sends one."""
    for output in outputs:
        if output.is_value:
            assert output.kind in VALUE_KINDS, f"{operation.name}: {output.kind}"
            assert Output.from_json(output.to_json()) == output, operation.name
    if operation.output_kind in VALUE_KINDS:
        assert any(o.is_value for o in outputs), (
            f"{operation.name} declares {operation.output_kind} outputs, sent none"
        )


def _check_file(operation: Operation, output: Output, path: Path) -> None:
    """An output saved at ``path``: not empty, of a kind, its bytes that kind's."""
    assert path.stat().st_size > 0, f"{operation.name}: empty {path.name}"
    assert output.kind, f"{operation.name}: an output of no kind"
    if output.kind in KIND_FORMATS:  # image, video, audio: the bytes agree
        with path.open("rb") as file:
            found = sniff(file.read(64))
        assert found is not None, f"{operation.name}: {path.name} is no media"
        assert output.kind in found[1], f"{operation.name}: {path.name}"

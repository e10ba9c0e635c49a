"""What a job would send, without sending it: the requests ``--dry-run`` prints.

:func:`precheck` is the one judge of a job before any request: ``--dry-run`` and a real batch
(which runs it over every line before its first submit, see :func:`bad_lines`) agree because
both ask it. :func:`plan` checks the job so and builds the requests the plugin would send, in
order: the first step of each upload the provider needs (later steps depend on its answers, so
they are described), then the submit. Nothing goes on the wire and nothing is journalled. Keys
and signed URLs are redacted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from mediatask.batch.manifest import Entry, ManifestError
from mediatask.engine.client import Client, file_params
from mediatask.http.messages import Request, redact_headers
from mediatask.http.transport import full_url
from mediatask.model.errors import MediataskError
from mediatask.model.redact import Redactor, scrub_url_secrets
from mediatask.model.values import Job, LocalFiles, Operation, ProviderInfo, frozen_map
from mediatask.providers.validate import find_operation, provider_resolves


@attrs.frozen
class Step:
    """One thing a submit would do: a request (``method``, ``url``…) or, when it cannot be
    known without sending, a ``note`` saying what would happen."""

    method: str = ""
    url: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_map)
    body: Any = None
    """A JSON body as data; a file, form or bytes body as a description of what it holds."""
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The form ``--dry-run --json`` prints."""
        if self.note:
            return {"note": self.note}
        headers = dict(self.headers)
        return {"method": self.method, "url": self.url, "headers": headers, "body": self.body}

    def text(self) -> str:
        """The step as text: ``METHOD URL``, its headers, a blank line, its body."""
        if self.note:
            return f"then: {self.note}"
        lines = [f"{self.method} {self.url}", *(f"{k}: {v}" for k, v in self.headers.items())]
        if self.body is not None:
            body = self.body
            lines += ["", body if isinstance(body, str) else json.dumps(body, indent=2)]
        return "\n".join(lines)


@attrs.frozen
class PlaceholderHost:
    """The file host of a dry run with ``--sandbox`` or ``--file-host``: names the URL a file
    would have, publishing nothing."""

    where: str = "the sandbox's file host"

    def publish(self, path: Path) -> str:
        """A stand-in for the URL the file host would give ``path``."""
        return f"<URL of {path.name} on {self.where}>"


def _file(path: Path) -> str:
    return f"<file {path.name}, {path.stat().st_size} bytes>"


def describe(client: Client, provider: str, request: Request) -> Step:
    """``request`` as it would go on the wire, key and signatures redacted, bodies described."""
    prepared = client.prepared(provider, request)
    body: Any = None
    if prepared.json is not None:
        body = prepared.json
    elif prepared.content is not None:
        body = f"<{len(prepared.content)} bytes>"
    elif prepared.upload is not None:
        body = _file(prepared.upload)
    elif prepared.fields or prepared.files:
        body = {
            "multipart": {
                **dict(prepared.fields),
                **{name: _file(path) for name, path in prepared.files.items()},
            }
        }
    return Step(
        method=prepared.method,
        url=scrub_url_secrets(full_url(prepared)),
        headers=redact_headers(prepared.headers),
        body=body,
    )


def _reachable(
    client: Client, info: ProviderInfo, item: str, *, inline: bool
) -> tuple[str, list[Step]]:
    """What a local file would become in the request, and the steps that make it so."""
    path = Path(item).expanduser()
    way = client.reach(info, item, inline=inline)
    if way is LocalFiles.INLINE:
        return str(path.resolve()), []
    if way is LocalFiles.NONE and client.file_host is not None:
        return client.file_host.publish(path), []
    first = client.plugins.upload(info.name, path, [])
    if isinstance(first, str):
        return first, []
    size = path.stat().st_size
    later = Step(note=f"upload {path.name} ({size} bytes) as the provider's answer directs")
    return f"<URL of {path.name} once uploaded>", [describe(client, info.name, first), later]


def precheck(client: Client, job: Job, out_dir: Path | None = None) -> Job:
    """Check ``job`` as its submit would before the first request, offline; return it typed.

    The operation and its parameters, each local file (readable, of a kind and size the
    provider takes, and a way to reach it: a URL-only provider needs ``client``'s file host),
    the schemes of its inputs, ``out_dir`` when given, and a key for the provider.

    :raises MediataskError: the first problem found, naming the fix.
    """
    checked = client.check(job, out_dir)
    info = client.provider(checked.provider)
    operation = find_operation(info, checked.operation)
    for item in checked.inputs:
        if not provider_resolves(info, item):
            client.reach(info, item, inline=True)
    for path in file_params(operation, checked.params).values():
        client.reach(info, path, inline=False)
    client.settings.require_key(info)
    return checked


def bad_lines(client: Client, entries: Iterable[Entry]) -> list[ManifestError]:
    """The manifest lines :func:`precheck` refuses, each with its line number and the fix."""
    found = []
    for entry in entries:
        try:
            precheck(client, entry.job)
        except MediataskError as exc:
            said = exc.said(flags=True)  # its options named as the command line's flags
            found.append(ManifestError(entry.line, f"job {entry.id}: {said}", entry.id))
    return found


def plan(client: Client, job: Job, out_dir: Path | None = None) -> tuple[Job, list[Step]]:
    """Check ``job`` (and ``out_dir``) with :func:`precheck` and return it typed with the steps
    its submit would take, sending nothing. Local files of URL-only providers are served when
    ``client`` has a file host (``--sandbox``, ``--file-host``)."""
    checked = precheck(client, job, out_dir)
    info = client.provider(checked.provider)
    operation: Operation = find_operation(info, checked.operation)
    steps: list[Step] = []
    inputs = []
    for item in checked.inputs:
        if provider_resolves(info, item):
            inputs.append(item)
            continue
        reachable, before = _reachable(client, info, item, inline=True)
        inputs.append(reachable)
        steps += before
    params = dict(checked.params)
    for name, path in file_params(operation, checked.params).items():
        params[name], before = _reachable(client, info, path, inline=False)
        steps += before
    sent = attrs.evolve(checked, inputs=inputs, params=params)
    steps.append(describe(client, info.name, client.plugins.submit(info.name, sent, "")))
    return checked, steps


def plan_text(steps: Iterable[Step], redactor: Redactor) -> str:
    """The steps as the text ``--dry-run`` prints, any key left scrubbed out."""
    return redactor.scrub("\n\n".join(step.text() for step in steps))


def plan_json(job: Job, steps: Iterable[Step], redactor: Redactor) -> dict[str, Any]:
    """The JSON form of one job's plan, any key left scrubbed out."""
    document = {"job": job.to_json(), "requests": [step.to_json() for step in steps]}
    scrubbed = redactor.keys_out_of_data(json.dumps(document, default=str))
    return dict(json.loads(scrubbed))

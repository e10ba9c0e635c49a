"""Which job each submit was for, and how many tasks each job got: proof of "never twice".

A job's identity is what a provider would see twice if the same job were submitted twice: the
input URLs in a JSON body (``url:`` and the URLs), else the bytes of an uploaded file
(``file:`` and a hash), else the whole body (``body:`` and a hash). Two jobs with the same
inputs share an identity, so tests that count per job give each job its own input.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import attrs

_URL_SCHEMES = ("http://", "https://")


@attrs.define
class Submission:
    """One submit request being answered: its job identity and the tasks it created."""

    identity: str
    created: int = 0
    """Tasks created while answering it (A2E can create several from one request)."""


current_submission: ContextVar[Submission | None] = ContextVar(
    "mediatask_emulator_submission", default=None
)
"""The submit request the running handler answers (set per request by the fault middleware)."""


@attrs.define
class SubmitLedger:
    """Per job identity: submit requests that reached the emulator whole (a request whose
    client went away before its last byte is not counted), and those that made a task."""

    received: Counter[str] = attrs.field(factory=Counter)
    created: Counter[str] = attrs.field(factory=Counter)

    def arrived(self, submission: Submission) -> None:
        """Count a submit request as it arrives, before any fault or answer."""
        self.received[submission.identity] += 1

    def task_created(self, submission: Submission) -> None:
        """Count a task created for ``submission``; one request counts once however many."""
        if not submission.created:
            self.created[submission.identity] += 1
        submission.created += 1

    def created_twice(self) -> list[str]:
        """Identities for which more than one request created a task."""
        return sorted(identity for identity, count in self.created.items() if count > 1)

    def to_json(self) -> dict[str, dict[str, int]]:
        """``{identity: {"received": n, "created": m}}``, for the admin endpoint."""
        return {
            identity: {"received": count, "created": self.created[identity]}
            for identity, count in sorted(self.received.items())
        }


def job_identity(body: bytes, content_type: str) -> str:
    """The identity of the job a submit body asks for (see the module docstring)."""
    if content_type.startswith("multipart/"):
        files = sorted(
            hashlib.sha256(data).hexdigest()[:16] for data in _uploaded_files(body, content_type)
        )
        if files:
            return "file:" + ",".join(files)
    else:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        urls = sorted(set(_urls(document)))
        if urls:
            return "url:" + " ".join(urls)
    return "body:" + hashlib.sha256(body).hexdigest()[:16]


def _urls(value: Any) -> Iterator[str]:
    if isinstance(value, str) and value.startswith(_URL_SCHEMES):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from _urls(item)


def _uploaded_files(body: bytes, content_type: str) -> list[bytes]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return []
    files: list[bytes] = []
    for part in message.iter_parts():
        if part.get_filename() is not None:
            payload = part.get_payload(decode=True)
            files.append(payload if isinstance(payload, bytes) else b"")
    return files

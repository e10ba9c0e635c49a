"""What makes two jobs "the same content": what a journal holds a submitted job to.

A local input counts by its bytes (a SHA-256 digest), not by where it was found, so a batch
folder moved or copied elsewhere (a new machine, a renamed project) is still the same batch;
a URL counts as written; parameters count by value.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mediatask.model.values import Job
from mediatask.providers.validate import is_url, url_scheme

_CHUNK = 1 << 20


def content_identity(job: Job) -> str:
    """A digest of ``job``'s content: provider, operation, parameters and each input (a local
    file by its bytes; a missing file, a URL or other reference as written)."""
    inputs = [_input(item) for item in job.inputs]
    form = {**job.to_json(), "inputs": inputs}
    text = json.dumps(form, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _input(item: str) -> str:
    if is_url(item) or url_scheme(item) is not None:
        return item
    path = Path(item)
    if not path.is_file():
        return item
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()

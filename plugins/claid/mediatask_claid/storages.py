"""The emulator's storage connectors: Claid's ``/v1/storage/storages`` and ``storage://`` URIs.

Claid lets an account connect storages (``StorageIn``: ``name``, ``type`` of ``web_folder``, ``s3``
or ``gcs``, ``parameters``) and then name images in them as ``storage://NAME/PATH``, for inputs
and for ``output.destination``. Here a ``web_folder`` is read over HTTP from its ``base_url``
(read-only: ASSUMPTION, nothing is documented about writing to one); ``s3`` and ``gcs`` buckets
are folders under :attr:`Storages.root` (``ROOT/BUCKET/KEY``), or kept in memory without one;
either way a test can look at what was written (:meth:`Storages.object`). Credentials are
accepted and never echoed beyond the access key (``CredentialsOut``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from mediatask_claid.contract import Problem

TYPES = ("web_folder", "s3", "gcs")
"""``StorageType`` in Claid's OpenAPI."""
SCHEME = "storage://"


class StorageError(Exception):
    """A ``storage://`` place that cannot be used; its text is Claid-style (a 400 ``storage``)."""


def _problems(body: Any) -> list[Problem]:
    """What is wrong with a ``StorageIn`` body (required fields, the type, the parameters)."""
    if not isinstance(body, Mapping):
        return [Problem("", "value is not a valid dict")]
    found = [Problem(name, "field required") for name in ("name", "type", "parameters")]
    found = [problem for problem in found if problem.path not in body]
    extra = sorted(set(body) - {"name", "type", "parameters"})
    found += [Problem(name, "extra fields not permitted") for name in extra]
    name, kind, parameters = body.get("name"), body.get("type"), body.get("parameters")
    if "name" in body and (not isinstance(name, str) or not 0 < len(name) <= 50 or "/" in name):
        found.append(Problem("name", "ensure this value has at most 50 characters"))
    if "type" in body and kind not in TYPES:
        found.append(Problem("type", f"value is not a valid enumeration member; {TYPES}"))
    if "parameters" in body and not isinstance(parameters, Mapping):
        found.append(Problem("parameters", "value is not a valid dict"))
    elif isinstance(parameters, Mapping) and kind in TYPES:
        wanted = ("base_url",) if kind == "web_folder" else ("bucket", "credentials")
        found += [
            Problem(f"parameters.{field}", "field required")
            for field in wanted
            if not parameters.get(field)
        ]
        credentials = parameters.get("credentials")
        if kind != "web_folder" and isinstance(credentials, Mapping):
            found += [
                Problem(f"parameters.credentials.{field}", "field required")
                for field in ("access_key", "secret_access_key")
                if not credentials.get(field)
            ]
    return found


def _shown(record: Mapping[str, Any]) -> dict[str, Any]:
    """A storage as listed (``StorageOut``): the secret access key left out."""
    parameters = dict(record["parameters"])
    credentials = parameters.get("credentials")
    if isinstance(credentials, Mapping):
        parameters["credentials"] = {"access_key": credentials.get("access_key", "")}
    return {**record, "parameters": parameters}


@attrs.frozen
class Place:
    """Where a ``storage://NAME/PATH`` URI points: its storage record and the path in it."""

    storage: Mapping[str, Any]
    path: str
    """The path after the storage name, with the storage's own ``path`` prefix prepended."""

    @property
    def kind(self) -> str:
        """``web_folder``, ``s3`` or ``gcs``."""
        return str(self.storage["type"])

    @property
    def bucket(self) -> str:
        """The bucket name (empty for a web folder)."""
        return str(self.storage["parameters"].get("bucket", ""))


@attrs.define
class Storages:
    """The connected storages of the emulated account, by name."""

    root: Path | None = None
    """Buckets live here as folders; ``None``: in memory."""
    _objects: dict[tuple[str, str], bytes] = attrs.field(init=False, factory=dict)
    _records: dict[str, dict[str, Any]] = attrs.field(init=False, factory=dict)
    _next_id: int = attrs.field(init=False, default=1)

    def create(self, body: Any, now: float) -> tuple[dict[str, Any] | None, list[Problem]]:
        """Connect a storage; ``(record, [])``, or ``(None, problems)`` when the body is wrong.

        A name already taken is a problem too (``name``: "already exists"; the real text is
        UNKNOWN)."""
        found = _problems(body)
        if not found and body["name"] in self._records:
            found = [Problem("name", "storage with this name already exists")]
        if found:
            return None, found
        created = datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds")
        record = {
            "id": self._next_id,
            "name": body["name"],
            "type": body["type"],
            "parameters": {"path": "", **body["parameters"]}
            if body["type"] != "web_folder"
            else dict(body["parameters"]),
            "created_at": created,
        }
        self._next_id += 1
        self._records[record["name"]] = record
        return _shown(record), []

    def listing(self) -> list[dict[str, Any]]:
        """Every connected storage, oldest first, secrets left out."""
        return [_shown(record) for record in self._records.values()]

    def get(self, storage_id: int) -> dict[str, Any] | None:
        """The storage with ``storage_id``, secrets left out; ``None`` if there is none."""
        for record in self._records.values():
            if record["id"] == storage_id:
                return _shown(record)
        return None

    def delete(self, storage_id: int) -> bool:
        """Disconnect the storage with ``storage_id``; ``False`` if there is none."""
        for name, record in self._records.items():
            if record["id"] == storage_id:
                del self._records[name]
                return True
        return False

    def place(self, uri: str) -> Place:
        """Where ``storage://NAME/PATH`` points; :class:`StorageError` for an unknown name."""
        name, _, path = uri.removeprefix(SCHEME).partition("/")
        record = self._records.get(name)
        if record is None:
            raise StorageError(f"Storage {name!r} not found.")
        prefix = str(record["parameters"].get("path", "")).strip("/")
        return Place(record, f"{prefix}/{path}".lstrip("/") if prefix else path)

    def _file(self, root: Path, place: Place) -> Path:
        """The local file of a bucket object (``ROOT/BUCKET/KEY``), kept inside ``root``."""
        target = (root / place.bucket / place.path).resolve()
        if not target.is_relative_to(root.resolve()) or not place.path:
            raise StorageError(f"Invalid object path {place.path!r}.")
        return target

    def object(self, uri: str) -> bytes | None:
        """The bytes stored at ``storage://NAME/PATH`` in a bucket, or ``None``."""
        try:
            return self.read_local(self.place(uri))
        except StorageError:
            return None

    def read_local(self, place: Place) -> bytes:
        """The bytes of a bucket object; :class:`StorageError` when it does not exist."""
        if self.root is None:
            data = self._objects.get((place.bucket, place.path))
        else:
            try:
                data = self._file(self.root, place).read_bytes()
            except OSError:
                data = None
        if data is None:
            raise StorageError(
                f"Unable to retrieve the object {place.path!r} from storage "
                f"{place.storage['name']!r}."
            )
        return data

    def put(self, place: Place, data: bytes) -> None:
        """Store ``data`` as a bucket object."""
        if self.root is None:
            self._objects[(place.bucket, place.path)] = data
            return
        target = self._file(self.root, place)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def write(self, destination: str, stem: str, ext: str, data: bytes) -> dict[str, str]:
        """Store a result at ``destination`` (a file, or a folder ending in ``/`` that gets
        ``STEM.EXT``); the output object's storage fields (``object_key`` … ``claid_storage_uri``).
        """
        place = self.place(destination)
        if place.kind == "web_folder":
            raise StorageError(f"Storage {place.storage['name']!r} is a web folder: read only.")
        relative = destination.removeprefix(SCHEME).partition("/")[2]
        if not relative or relative.endswith("/"):
            relative += f"{stem}.{ext}"
            place = self.place(f"{SCHEME}{place.storage['name']}/{relative}")
        self.put(place, data)
        key = str(PurePosixPath(place.path))
        scheme = "s3" if place.kind == "s3" else "gs"
        return {
            "object_key": key,
            "object_bucket": place.bucket,
            "object_uri": f"{scheme}://{place.bucket}/{key}",
            "claid_storage_uri": f"{SCHEME}{place.storage['name']}/{relative}",
        }

"""Local files for URL-only providers, through the user's own S3-compatible bucket (or the
long-lived sandbox's file host, ``mediatask emulate --all``).

A provider that takes inputs by URL only (A1D) cannot read ``photo.png``. With a file host
configured once (``--file-host s3://BUCKET/PREFIX`` or ``$MEDIATASK_FILE_HOST``), each such input
is uploaded under ``PREFIX/<random>/`` and the provider gets a presigned GET URL that expires
soon; each object is deleted once its task has ended (or, if no task was made with it, when the
host is closed).

Credentials, region and endpoint come from boto3's standard places: ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_PROFILE``, ``~/.aws/config``, and ``AWS_ENDPOINT_URL_S3`` (or
``AWS_ENDPOINT_URL``) for a store that is not AWS (R2, MinIO, B2, GCS interop). Needs the
``mediatask[s3]`` extra.

``--file-host http://127.0.0.1:PORT`` names the file host of ``mediatask emulate --all``
instead: each input is uploaded to it and served back to the emulators (loopback only).
"""

from __future__ import annotations

import logging
import mimetypes
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import attrs
import trio

from mediatask.model.errors import ConfigError

log = logging.getLogger("mediatask")

FILE_HOST_ENV = "MEDIATASK_FILE_HOST"
"""Where local files for URL-only providers go, e.g. ``s3://my-bucket/mediatask``."""
EXPIRES_SECONDS = 3600
"""How long a presigned URL works: the provider fetches an input when its task starts, and the
object is deleted once the task ends."""
CLEANUP_SECONDS = 3.0
"""How long the deletes on close may take (after Ctrl-C too) before they are given up, logged."""
DELETE_BATCH = 1000
"""S3 deletes at most this many objects per request."""


@attrs.frozen
class S3Location:
    """A bucket and a key prefix, parsed from ``s3://BUCKET[/PREFIX]``."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, spec: str) -> S3Location:
        """Parse ``s3://BUCKET[/PREFIX]``; :class:`ConfigError` naming the form otherwise."""
        parts = urlsplit(spec.strip())
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ConfigError(
                f"file host {spec!r} is not an S3 location: write s3://BUCKET/PREFIX "
                f"(--file-host or {FILE_HOST_ENV}), or the sandbox's http://127.0.0.1:PORT"
            )
        return cls(parts.netloc, parts.path.strip("/"))

    def key(self, token: str, name: str) -> str:
        """The object key of a file published under ``token``."""
        return "/".join(part for part in (self.prefix, token, name) if part)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@attrs.define
class S3FileHost:
    """Publishes local files to an S3-compatible bucket as presigned URLs.

    An object is deleted as soon as the task it was given to ends (:meth:`release`), or when
    the host is closed if no task was created with it; one whose task is still running then
    (:meth:`keep`: the provider may not have fetched it yet) is left in the bucket.
    ``publish`` blocks (it uploads): the engine calls it in a worker thread. The boto3 client
    is thread-safe.
    """

    location: S3Location
    client: Any = attrs.field(repr=False)
    """A boto3 S3 client."""
    expires: int = EXPIRES_SECONDS
    keys: dict[str, str] = attrs.field(factory=dict)
    """Object key per presigned URL, for every object this host put and has not deleted."""
    kept: set[str] = attrs.field(factory=set)
    """The URLs a live task may still fetch: not deleted on close."""

    def publish(self, path: Path) -> str:
        """Upload ``path`` and return a presigned GET URL for it."""
        key = self.location.key(secrets.token_urlsafe(12), path.name)
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.location.bucket, "Key": key},
            ExpiresIn=self.expires,
        )
        self.keys[url] = key  # before the upload: a cancelled one is cleaned up too
        extra = {"ContentType": mimetypes.guess_type(path.name)[0] or "application/octet-stream"}
        try:
            self.client.upload_file(str(path), self.location.bucket, key, ExtraArgs=extra)
        except Exception as exc:  # noqa: BLE001  # boto3 raises its own tree and OSError
            raise ConfigError(
                f"could not upload {path.name} to {self.location}: {_reason(exc)}"
            ) from None
        return url

    def keep(self, urls: Sequence[str]) -> None:
        """A task was created with ``urls``: leave them until :meth:`release`."""
        self.kept.update(urls)

    def release(self, urls: Sequence[str]) -> None:
        """The task given ``urls`` has ended: delete their objects (blocking)."""
        self._delete([url for url in urls if url in self.keys])

    def check(self) -> None:
        """Make sure the bucket is reachable with the credentials found (blocking: one HEAD).

        :raises ConfigError: no credentials, or the bucket cannot be reached; the line says which.
        """
        try:
            self.client.head_bucket(Bucket=self.location.bucket)
        except Exception as exc:  # noqa: BLE001  # as in publish
            raise ConfigError(f"file host {self.location}: {_reason(exc)}") from None

    def remove_unused(self) -> None:
        """Delete every object no live task may need (blocking); unknown keys are no error."""
        published = list(self.keys)  # one step: an abandoned upload's thread may still add one
        self._delete([url for url in published if url not in self.kept])

    def _delete(self, urls: list[str]) -> None:
        for start in range(0, len(urls), DELETE_BATCH):
            batch = urls[start : start + DELETE_BATCH]
            try:
                objects = [{"Key": self.keys[url]} for url in batch]
                self.client.delete_objects(
                    Bucket=self.location.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            except Exception as exc:  # noqa: BLE001  # logged: the job's outcome matters more
                log.warning("could not delete inputs under %s: %s", self.location, _reason(exc))
                return
            for url in batch:
                self.keys.pop(url, None)
                self.kept.discard(url)


def _reason(exc: BaseException) -> str:
    """One line for a boto3 failure, saying what to fix; never a secret."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, NoCredentialsError):
        return (
            "no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "AWS_PROFILE (and AWS_ENDPOINT_URL_S3 for a store that is not AWS)"
        )
    if isinstance(exc, ClientError):
        error: Mapping[str, Any] = exc.response.get("Error", {})
        code = str(error.get("Code", "?"))
        if code in ("404", "NoSuchBucket"):
            return "the bucket does not exist (check the name, or AWS_ENDPOINT_URL_S3)"
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return f"access denied ({code}): check the credentials and the bucket's policy"
        return f"the store answered {code}: {error.get('Message', '')}".rstrip(": ")
    return str(exc) or type(exc).__name__


def s3_client() -> Any:
    """A boto3 S3 client from the standard configuration, signing with SigV4.

    :raises ConfigError: boto3 is not installed.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError("a file host on S3 needs boto3: pip install 'mediatask[s3]'") from None
    return boto3.session.Session().client("s3", config=Config(signature_version="s3v4"))


@asynccontextmanager
async def open_file_host(
    spec: str, *, client: Any = None
) -> AsyncIterator[S3FileHost | HttpFileHost]:
    """A file host for ``s3://BUCKET/PREFIX`` (an :class:`S3FileHost`) or the sandbox's
    ``http://127.0.0.1:PORT`` (an :class:`HttpFileHost`), checked before anything is submitted;
    on exit, every object published to S3 that no running task may need is deleted.

    :param client: a boto3 S3 client (default: :func:`s3_client`).
    :raises ConfigError: a bad location, no boto3, no credentials, or an unreachable bucket.
    """
    if urlsplit(spec).scheme in ("http", "https"):
        http = HttpFileHost.parse(spec)
        await trio.to_thread.run_sync(http.check, abandon_on_cancel=True)
        yield http
        return
    location = S3Location.parse(spec)
    host = S3FileHost(location, client if client is not None else s3_client())
    await trio.to_thread.run_sync(host.check, abandon_on_cancel=True)
    try:
        yield host
    finally:
        with trio.CancelScope(shield=True, deadline=trio.current_time() + CLEANUP_SECONDS):
            await trio.to_thread.run_sync(host.remove_unused, abandon_on_cancel=True)


@attrs.frozen
class HttpFileHost:
    """Publishes local files to the long-lived sandbox's file host (``mediatask emulate
    --all``) by ``PUT /files/<name>``; it keeps them until it stops."""

    base_url: str

    @classmethod
    def parse(cls, spec: str) -> HttpFileHost:
        """Take ``http://127.0.0.1:PORT``; :class:`ConfigError` off the loopback."""
        host = urlsplit(spec).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(
                f"file host {spec!r}: an http file host must be the sandbox's on this machine "
                "(mediatask emulate --all prints it); for your own storage write s3://BUCKET/PREFIX"
            )
        return cls(spec.rstrip("/"))

    def publish(self, path: Path) -> str:
        """Upload ``path`` and return the URL the file host serves it at (blocking)."""
        with path.open("rb") as body:
            answer = self._request("PUT", f"/files/{quote(path.name)}", body)
        if answer.status != 201:
            raise ConfigError(
                f"the file host at {self.base_url} refused {path.name}: HTTP {answer.status}"
            )
        url: str = answer.data.decode()
        return url

    def check(self) -> None:
        """Make sure the file host answers (blocking)."""
        self._request("HEAD", "/files/", None)

    def _request(self, method: str, path: str, body: Any) -> Any:
        import urllib3

        try:
            return urllib3.request(
                method, self.base_url + path, body=body, retries=False, timeout=30.0
            )
        except urllib3.exceptions.HTTPError:
            raise ConfigError(
                f"the sandbox's file host at {self.base_url} is not answering: is "
                "`mediatask emulate --all` still running?"
            ) from None

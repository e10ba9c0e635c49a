"""``--file-host s3://BUCKET/PREFIX``: where ``run``, ``submit`` and ``batch`` publish local
files for providers that take URLs only (see :mod:`mediatask.engine.file_host`)."""

from __future__ import annotations

from collections.abc import Iterable

from mediatask.cli.options import command_options, remembered_option
from mediatask.engine.file_host import FILE_HOST_ENV
from mediatask.model.values import Job
from mediatask.providers.manager import PluginManager

file_host_option = remembered_option(
    "--file-host",
    field="file_host",
    metavar="s3://BUCKET/PREFIX",
    envvar=FILE_HOST_ENV,
    help="Publish local inputs of URL-only providers to this S3-compatible bucket as "
    "presigned URLs (credentials and AWS_ENDPOINT_URL_S3 as for the AWS CLI); each is "
    f"deleted once its task ends. Default: ${FILE_HOST_ENV}.",
)
"""The ``--file-host`` option (default ``$MEDIATASK_FILE_HOST``)."""


def forget_unless_needed(plugins: PluginManager, jobs: Iterable[Job]) -> None:
    """Drop ``--file-host`` (or ``$MEDIATASK_FILE_HOST``) for a command none of whose ``jobs``
    has a local file that needs one: its bucket is then not checked, nor its credentials."""
    options = command_options()
    if options.file_host is None:
        return
    from mediatask.engine.client import needs_file_host
    from mediatask.model.errors import MediataskError

    for job in jobs:
        try:
            if needs_file_host(plugins.provider(job.provider), job):
                return
        except MediataskError:  # an unknown provider or operation: said where it is checked
            continue
    options.file_host = None

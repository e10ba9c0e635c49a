"""A throw-away PostgreSQL server for tests: ``postgres_server`` (per session), ``postgres_url``.

Starts the PostgreSQL 15 binaries (``/usr/lib/postgresql/15/bin``, or ``$MEDIATASK_PG_BIN``) on
a fresh cluster in a temporary folder, listening on a free loopback port with trust
authentication, and stops it at the end. PostgreSQL refuses to run as root: as root, the
cluster is made and run as the ``postgres`` system user (``runuser``), created if missing. Each
test that asks for ``postgres_url`` gets a database of its own.

Without the binaries the fixture fails with one line saying what to install: no mock, no skip.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

BIN_ENV = "MEDIATASK_PG_BIN"
DEFAULT_BIN = "/usr/lib/postgresql/15/bin"
INSTALL = "apt-get install postgresql-15"
SYSTEM_USER = "postgres"


@attrs.frozen
class PostgresServer:
    """A running throw-away server."""

    host: str
    port: int
    user: str = SYSTEM_USER

    def url(self, database: str = "postgres") -> str:
        """A libpq URL of ``database`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Make an empty database called ``name``; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')  # the name is the test's own
        return self.url(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_server_user(command: list[str]) -> list[str]:
    """``command`` run as the unprivileged system user when we are root."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        raise RuntimeError("running PostgreSQL as root needs runuser (util-linux)")
    with contextlib.suppress(KeyError):
        import pwd

        pwd.getpwnam(SYSTEM_USER)
        return ["runuser", "-u", SYSTEM_USER, "--", *command]
    subprocess.run(  # noqa: S603  # a fixed command
        ["useradd", "--system", "--no-create-home", SYSTEM_USER],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return ["runuser", "-u", SYSTEM_USER, "--", *command]


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start a server on a new cluster; stop it and remove the cluster when the block ends.

    :raises RuntimeError: the binaries are missing (the message says what to install), or the
        server did not start.
    """
    bindir = Path(os.environ.get(BIN_ENV, DEFAULT_BIN))
    if not (bindir / "initdb").is_file():
        raise RuntimeError(f"PostgreSQL 15 is not installed at {bindir}: {INSTALL}")
    root = Path(tempfile.mkdtemp(prefix="mediatask-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        import pwd

        _as_server_user([])  # makes the user if missing
        owner = pwd.getpwnam(SYSTEM_USER)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    # Run in the cluster's folder: the caller's may be closed to the server's user (/root).
    quiet = {"check": True, "capture_output": True, "text": True, "cwd": root}
    try:
        subprocess.run(  # noqa: S603  # the PostgreSQL binaries, no shell
            _as_server_user(
                [str(bindir / "initdb"), "-D", str(data), "-U", SYSTEM_USER, "--auth=trust"]
            ),
            **quiet,  # type: ignore[call-overload]
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
        subprocess.run(  # noqa: S603  # the PostgreSQL binaries, no shell
            _as_server_user(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(root / "log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            **quiet,  # type: ignore[call-overload]
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        said = (exc.stderr or exc.stdout or "").strip()
        raise RuntimeError(f"PostgreSQL did not start: {said}") from None
    try:
        yield PostgresServer("127.0.0.1", port)
    finally:
        subprocess.run(  # noqa: S603  # the PostgreSQL binaries, no shell
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
            cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL server for the whole test session."""
    try:
        with running_server() as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """The URL of an empty database of this test's own."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    return postgres_server.create_database(f"{name}_{secrets.token_hex(3)}")

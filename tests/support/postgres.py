"""A throw-away PostgreSQL server for tests: ``postgres_server`` (per session), ``postgres_url``.

Test-only: it is not part of the library wheel. Starts the PostgreSQL 15 binaries
(``/usr/lib/postgresql/15/bin``, or the folder ``$MEDIATASK_PG_BIN`` names) on a fresh cluster
in a temporary folder, listening on a free loopback port with trust authentication, and stops it
at the end. Each test that asks for ``postgres_url`` gets a database of its own.

PostgreSQL refuses to run as root. As root, the cluster is made and run as the unprivileged
``postgres`` user (``runuser``), which the ``postgresql-15`` package creates; this helper never
creates users. Without the binaries, or as root without that user, :func:`missing` says in one
line what to do; ``tests/conftest.py`` turns that into a skip of the ``postgres`` tests, or a
failure when ``$MEDIATASK_REQUIRE_POSTGRES`` is set (``make test``, CI).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Collection, Iterator
from pathlib import Path

import attrs
import pytest

BIN_ENV = "MEDIATASK_PG_BIN"
DEFAULT_BIN = "/usr/lib/postgresql/15/bin"
INSTALL = "apt-get install postgresql-15, or set MEDIATASK_PG_BIN to its bin folder"
SYSTEM_USER = "postgres"
REQUIRE_ENV = "MEDIATASK_REQUIRE_POSTGRES"
FIXTURES = frozenset({"postgres_server", "postgres_url"})


def bin_folder() -> Path:
    """Where the PostgreSQL binaries are looked for."""
    return Path(os.environ.get(BIN_ENV, DEFAULT_BIN))


def missing() -> str | None:
    """What keeps a server from starting here, in one line naming the fix; ``None`` if nothing."""
    bindir = bin_folder()
    if not (bindir / "initdb").is_file():
        return f"PostgreSQL 15 is not installed at {bindir}: {INSTALL}"
    if os.geteuid() == 0 and _server_user() is None:
        return (
            f"PostgreSQL refuses to run as root and there is no {SYSTEM_USER!r} user to run it: "
            f"run the tests as another user, or create one (useradd --system {SYSTEM_USER})"
        )
    return None


@attrs.frozen
class Skip:
    """Skip the test: PostgreSQL is missing and not required."""

    reason: str


@attrs.frozen
class Fail:
    """Fail the test: it misuses PostgreSQL, or PostgreSQL is required and missing."""

    reason: str


def verdict(marked: bool, fixtures: Collection[str], required: bool) -> Skip | Fail | None:
    """What to do with a test about to start (``None``: run it).

    ``marked``: it carries the ``postgres`` marker; ``fixtures``: the fixtures it asks for;
    ``required``: ``$MEDIATASK_REQUIRE_POSTGRES`` is set, so a missing server is a failure.
    """
    if not marked:
        if FIXTURES & set(fixtures):
            return Fail("this test uses PostgreSQL: mark it @pytest.mark.postgres")
        return None
    reason = missing()
    if reason is None:
        return None
    if required:
        return Fail(f"{reason} ({REQUIRE_ENV} is set: never skipped)")
    return Skip(f"postgres tests skipped: {reason}")


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


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged user that runs the server when we are root, if it exists."""
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        return None


def _as_server_user(command: list[str]) -> list[str]:
    """``command`` run as the unprivileged server user when we are root."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        raise RuntimeError("running PostgreSQL as root needs runuser (util-linux)")
    return ["runuser", "-u", SYSTEM_USER, "--", *command]


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """Start a server on a new cluster; stop it and remove the cluster when the block ends.

    :raises RuntimeError: the server cannot start here (:func:`missing`: the message says
        what to do), or it did not start.
    """
    reason = missing()
    if reason is not None:
        raise RuntimeError(reason)
    bindir = bin_folder()
    root = Path(tempfile.mkdtemp(prefix="mediatask-pg-"))
    data = root / "data"
    owner = _server_user() if os.geteuid() == 0 else None
    if owner is not None:  # the server's user must own the folder of its cluster
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = _free_port()
    # Run in the cluster's folder: the caller's may be closed to the server's user (/root).
    quiet = {"check": True, "capture_output": True, "text": True, "cwd": root}
    try:
        subprocess.run(  # the PostgreSQL binaries, no shell
            _as_server_user(
                [str(bindir / "initdb"), "-D", str(data), "-U", SYSTEM_USER, "--auth=trust"]
            ),
            **quiet,  # type: ignore[call-overload]
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
        subprocess.run(  # the PostgreSQL binaries, no shell
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
        subprocess.run(  # the PostgreSQL binaries, no shell
            _as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
            cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or, when PostgreSQL is required, fail) ``postgres`` tests before any fixture starts.

    Raised here, the skip is one folded line in the summary however many tests it covers.
    """
    marked = item.get_closest_marker("postgres") is not None
    fixtures = getattr(item, "fixturenames", ())
    found = verdict(marked, fixtures, bool(os.environ.get(REQUIRE_ENV)))
    if isinstance(found, Fail):
        pytest.fail(found.reason, pytrace=False)
    if isinstance(found, Skip):
        pytest.skip(found.reason)


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

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

For fault tests: a server of a test's own (:func:`running_server`) can be restarted, frozen and
thawed (:class:`PostgresServer`), and a :class:`Relay` between a worker and the server can hold
the worker's traffic, at once or when it sends a given statement.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

if TYPE_CHECKING:
    from mediatask.providers.manager import PluginManager

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
    data: Path | None = None
    """The cluster's folder (to restart or freeze the server)."""
    bindir: Path | None = None

    def url(self, database: str = "postgres") -> str:
        """A libpq URL of ``database`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Make an empty database called ``name``; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')  # the name is the test's own
        return self.url(name)

    def restart(self, mode: str) -> None:
        """Restart the server: ``fast`` (sessions ended cleanly) or ``immediate`` (a crash)."""
        if self.data is None or self.bindir is None:
            raise RuntimeError("this server was not started here")
        subprocess.run(  # the PostgreSQL binaries, no shell
            _as_server_user(
                [
                    str(self.bindir / "pg_ctl"),
                    *("-D", str(self.data), "-l", str(self.data.parent / "log")),
                    *("-m", mode, "-w", "restart"),
                ]
            ),
            check=True,
            capture_output=True,
            cwd=self.data.parent,
        )

    def processes(self) -> list[int]:
        """The postmaster's process id and its children's (every backend)."""
        if self.data is None:
            raise RuntimeError("this server was not started here")
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[1]) == postmaster:
                    children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self, *, thaw: bool = False) -> None:
        """Stop every server process (SIGSTOP), or let them go on (``thaw``: SIGCONT)."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT if thaw else signal.SIGSTOP)


@attrs.define
class Relay:
    """A TCP relay to ``upstream`` (a worker connects to :attr:`port` instead) that can hold
    every stream it carries: :meth:`hold` and :meth:`flow`, or :attr:`trigger`.

    Use as a context manager. While held, nothing goes either way (what was read waits).
    """

    upstream: tuple[str, int]
    trigger: bytes | None = None
    """Hold every stream, from the message that carries these bytes on, for
    :attr:`trigger_seconds` (once)."""
    trigger_seconds: float = 0.0
    triggered: threading.Event = attrs.field(init=False, factory=threading.Event)
    """Set once the trigger was seen."""
    port: int = attrs.field(init=False, default=0)
    _flowing: threading.Event = attrs.field(init=False, factory=threading.Event)
    _listener: socket.socket | None = attrs.field(init=False, default=None)
    _sockets: list[socket.socket] = attrs.field(init=False, factory=list)

    def __enter__(self) -> Relay:
        self._flowing.set()
        listener = socket.create_server(("127.0.0.1", 0))
        self._listener, self.port = listener, listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._flowing.set()
        for sock in [*self._sockets, *([self._listener] if self._listener else [])]:
            with contextlib.suppress(OSError):
                sock.close()

    def url(self, url: str) -> str:
        """``url`` (a libpq URL of the upstream server) through this relay."""
        host, port = self.upstream
        return url.replace(f"@{host}:{port}/", f"@127.0.0.1:{self.port}/")

    def hold(self) -> None:
        """Hold every stream until :meth:`flow`."""
        self._flowing.clear()

    def flow(self) -> None:
        """Let every stream go on."""
        self._flowing.set()

    def _accept(self) -> None:
        assert self._listener is not None  # set before the thread starts
        while True:
            try:
                client, _ = self._listener.accept()
                server = socket.create_connection(self.upstream)
            except OSError:
                return
            self._sockets += [client, server]
            for source, sink, watch in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, watch), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if watch and self.trigger and self.trigger in data and not self.triggered.is_set():
                    self.triggered.set()
                    self.hold()
                    threading.Timer(self.trigger_seconds, self.flow).start()
                self._flowing.wait()
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def own_inputs(folder: Path, lines: Sequence[dict[str, Any]], image: Path) -> None:
    """Give each Claid line of a manifest an input image of its own (its own bytes, so its own
    identity in the emulator's submit ledger), made from ``image`` in ``folder``."""
    from PIL import Image

    sample = Image.open(image).convert("RGB")
    for n, line in enumerate(lines):
        if line["provider"] == "claid":
            copy = sample.copy()
            copy.putpixel((0, 0), (n % 256, n // 256, 0))
            copy.save(folder / f"in-{n:03d}.png")
            line["input"] = f"in-{n:03d}.png"


def submit_identity(folder: Path, row: Mapping[str, Any]) -> str:
    """A ledger row's job as its emulator's submit ledger names it (what its submit carries):
    see :mod:`mediatask.emulator.submissions`."""
    import hashlib
    import json

    from mediatask.emulator.submissions import job_identity
    from mediatask.model.values import Job
    from mediatask.providers.validate import check_job

    job = Job.from_json(json.loads(row["job"]))
    if job.provider == "claid":  # an upload: the file's bytes
        image = (folder / job.inputs[0]).read_bytes()
        return "file:" + hashlib.sha256(image).hexdigest()[:16]
    plugins = _plugins()
    info = plugins.provider(job.provider)
    checked = plugins.validate(info.name, check_job(info, job))
    request = plugins.submit(info.name, checked, row["marker"] or "")
    body = json.dumps(request.json, separators=(",", ":")).encode()
    return job_identity(body, "application/json")


@functools.cache
def _plugins() -> PluginManager:
    from mediatask.providers.manager import PluginManager

    return PluginManager.from_entry_points()


def served(url: str) -> bytes:
    """The bytes an emulator serves at ``url`` (an output's, to compare with the saved file)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310  # loopback emulator
        data: bytes = answer.read()
        return data


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
        yield PostgresServer("127.0.0.1", port, data=data, bindir=bindir)
    finally:
        with contextlib.suppress(OSError, ValueError, IndexError):  # a frozen server stops too
            PostgresServer("127.0.0.1", port, data=data).freeze(thaw=True)
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

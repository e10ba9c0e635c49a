"""One connection to a PostgreSQL ledger: its statements, transactions, failures and stop signals.

Every part of the ledger (:mod:`.journal`, :mod:`.leases`, :mod:`.shared_rates`,
:mod:`.in_flight`) runs its statements through a :class:`Connection`: it is made again after a
restart or a killed session, fails with a :class:`~mediatask.journal.backend.LedgerError` of one
line without the password, and gives up a statement at once when Ctrl-C or SIGTERM comes.
Opening one brings the database to this version's schema (:mod:`mediatask.journal.schema`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

import attrs
import trio

from mediatask.journal.backend import LedgerError
from mediatask.journal.schema import migrate
from mediatask.model.errors import ConfigError, UsageError
from mediatask.model.redact import Redactor
from mediatask.settings.config import Settings

if TYPE_CHECKING:
    import psycopg

URL_SCHEMES = ("postgresql://", "postgres://")
INSTALL_HINT = "pip install 'mediatask[postgres]'"
NOW = "extract(epoch from clock_timestamp())::float8"
"""The database's clock, in seconds: leases and rate logs are timed on it alone."""
IDLE_IN_TRANSACTION_MS = 5000
"""How long the server keeps a worker's transaction open while the worker says nothing."""
_SCHEMA_LOCK = 0x6D6564696174  # any fixed number: serialises the first workers' CREATE TABLEs


def is_database_url(where: str) -> bool:
    """True when ``where`` names a PostgreSQL database rather than a file."""
    return where.startswith(URL_SCHEMES)


def safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise UsageError(
            f"a postgresql:// journal needs the PostgreSQL driver: {INSTALL_HINT}"
        ) from None
    return psycopg


def _first_line(redactor: Redactor, exc: Exception) -> str:
    """The driver's error in one line, scrubbed of the password and the user's keys."""
    return redactor.scrub(str(exc).strip().splitlines()[0] if str(exc) else "")


class Connection:
    """A PostgreSQL ledger's connection, open and migrated; its tables are made if missing.

    :param url: ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`` (libpq's form; options such
        as ``?sslmode=require`` pass through).
    :raises UsageError: psycopg is not installed.
    :raises ConfigError: the database cannot be reached or written.
    """

    def __init__(self, url: str) -> None:
        driver = _driver()
        self.where = safe_url(url)
        """The database, for messages (never with its password)."""
        self.url = url
        password = urllib.parse.urlsplit(url).password
        self.redactor = Redactor((*Settings().secrets(), *([password] if password else [])))
        """Scrubs the user's keys and the database's password from what is written and said."""
        self._interrupted = False
        self._stop_watch = _StopWatch()
        self._in_transaction = False
        try:
            self._db: psycopg.Connection[dict[str, Any]] = self._connect()
            self._migrate()
        except driver.Error as exc:
            said = _first_line(self.redactor, exc)
            raise ConfigError(f"cannot open the journal {self.where}: {said}") from None

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        from psycopg.rows import dict_row

        connection: psycopg.Connection[dict[str, Any]] = _driver().connect(
            self.url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=10,
            # A transaction left open by a paused (or partitioned) worker holds its locks
            # from every other worker only this long.
            options=f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
        )
        return connection

    def _migrate(self) -> None:
        """Bring the database to this version's schema and give it its id, one worker at a
        time."""
        db = self._db
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            migrate("postgres", lambda sql: db.execute(sql).fetchall(), db.execute)
            db.execute(
                "INSERT INTO meta (name, value) VALUES ('id', %s) ON CONFLICT DO NOTHING",
                (uuid.uuid4().hex,),
            )

    @property
    def closed(self) -> bool:
        """True once the connection is closed (by :meth:`close`, or abandoned mid-statement)."""
        return bool(self._db.closed)

    def close(self) -> None:
        """Close the connection, and give the signals back to the handlers it wrapped."""
        self._db.close()
        self._stop_watch.release()

    @property
    def interrupted(self) -> bool:
        """True once Ctrl-C or SIGTERM came during one of its statements (each statement
        fails at once after that: the process is stopping)."""
        return self._interrupted or self._stop_watch.stopped

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        """Run one statement (``?`` placeholders) and return its rows by column name."""
        with self.failing(reconnect=not self._in_transaction):
            cursor = self._db.execute(sql.replace("?", "%s"), params)
            return list(cursor.fetchall()) if cursor.description else []

    def one(self, sql: str, params: Sequence[Any] = ()) -> Mapping[str, Any] | None:
        """The first row of one statement, if any."""
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement (``?`` placeholders); the number of rows it changed."""
        with self.failing(reconnect=not self._in_transaction):
            count: int = self._db.execute(sql.replace("?", "%s"), params).rowcount
            return count

    @contextlib.contextmanager
    def failing(self, *, reconnect: bool = True) -> Iterator[None]:
        """Run statements on a live connection (made again first, after a restart or a killed
        session, when ``reconnect``), failing with a :class:`LedgerError` of one line without
        the password: when the database fails, and at once when a stop signal comes or the
        calling task is being cancelled."""
        if self.interrupted or _being_cancelled():
            raise LedgerError(f"the ledger {self.where}: not written, the worker is stopping")
        try:
            with self._stop_watch.statement():
                if reconnect and (self._db.closed or self._db.broken):
                    self._db.close()
                    self._db = self._connect()
                yield
        except _StopSignal:
            self._interrupted = True
            self._db.close()  # mid-statement: its state is unknown
            raise LedgerError(
                f"the ledger {self.where}: interrupted while it did not answer"
            ) from None
        except _driver().Error as exc:
            said = _first_line(self.redactor, exc)
            raise LedgerError(f"the ledger {self.where} failed: {said}") from None

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """A transaction: the statements run inside it commit together or not at all (and fail,
        rather than reconnect, when the connection is lost midway)."""
        with self.failing():
            self._db.execute("BEGIN")
            self._in_transaction = True  # its statements run on this connection, or fail
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if not (self.interrupted or self._db.closed or self._db.broken):
                    with contextlib.suppress(_driver().Error):
                        self._db.execute("ROLLBACK")
                raise  # else the server rolls back as the connection goes
            finally:
                self._in_transaction = False

    def locked(self, name: str) -> None:
        """Hold the advisory lock ``name`` until the transaction ends: one worker at a time
        decides for it."""
        self.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (name,))


def _being_cancelled() -> bool:
    """True in a trio task that is being cancelled (unwinding after Ctrl-C, say): a statement
    then must not wait for a database that may not answer (the signal has come and gone)."""
    try:
        return trio.current_effective_deadline() == float("-inf")
    except RuntimeError:  # not in a trio task
        return False


class _StopSignal(Exception):  # noqa: N818  # a signal, not an error
    """SIGINT or SIGTERM came while a statement was waiting for the database."""


@attrs.frozen
class _Wrapped:
    """A signal handler the journal wrapped, and the trio run it belongs to (``None``: none)."""

    handler: Callable[[int, FrameType | None], Any]
    run: object | None


def _current_run() -> object | None:
    """The running ``trio.run``'s token on this thread, ``None`` outside one."""
    try:
        return trio.lowlevel.current_trio_token()
    except RuntimeError:
        return None


_DEFAULTS: Mapping[int, Any] = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGTERM: signal.SIG_DFL,
}
"""The handler each stop signal has in a Python process that set none."""


def _default_action(signum: int, frame: FrameType | None) -> None:
    """What the signal does with no handler: SIGINT raises KeyboardInterrupt, SIGTERM ends the
    process."""
    default = _DEFAULTS[signum]
    if callable(default):
        default(signum, frame)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


@attrs.define
class _StopWatch:
    """Sees SIGINT and SIGTERM for a journal whose statements run on the main thread.

    A worker's journal statements are synchronous on the event loop, which handles the signals
    only once they return: a database that does not answer would hold Ctrl-C for as long. So
    the handler in place (the event loop's) is wrapped until the journal closes: it still gets
    each signal, a statement under way is abandoned at once (psycopg waits in slices of a tenth
    of a second, running signal handlers between), and no statement starts after a signal came.

    A journal can outlive the ``trio.run`` whose handler it wrapped (the CLI opens it before the
    run and closes it after): each wrapped handler is kept with its run, and a signal goes to the
    newest one still live, the one in place before the run once it has ended.
    """

    stopped: bool = False
    """A stop signal came: the process is stopping."""
    _inside: bool = False
    _wrapped: dict[int, list[_Wrapped]] = attrs.field(factory=dict)

    @contextlib.contextmanager
    def statement(self) -> Iterator[None]:
        """Run a statement that a stop signal interrupts (on the main thread); statements
        nested in it (a transaction's) leave it interruptible until it ends."""
        if threading.current_thread() is not threading.main_thread():
            yield  # off the loop: such statements are abandoned by their cancelled caller
            return
        for number in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(number)
            if callable(handler) and handler != self._stop:
                self._wrapped.setdefault(number, []).append(_Wrapped(handler, _current_run()))
                signal.signal(number, self._stop)
        outer, self._inside = self._inside, True
        try:
            yield
        finally:
            self._inside = outer

    def release(self) -> None:
        """Put back the handler :meth:`statement` wrapped that is still live (the journal is
        closing), so a later ``trio.run`` in the process installs its own. Where a journal
        opened later wrapped ours, ours stays in its chain, still passing each signal on."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in list(self._wrapped):
            if signal.getsignal(signum) == self._stop:
                live = self._live(signum)
                signal.signal(signum, live.handler if live else _DEFAULTS[signum])
                del self._wrapped[signum]

    def _live(self, signum: int) -> _Wrapped | None:
        """The newest handler wrapped for ``signum`` outside any run or in the current one (a
        handler of a run that has ended is dropped: it would raise ``RunFinishedError``)."""
        run = _current_run()
        live = [w for w in self._wrapped.get(signum, []) if w.run is None or w.run is run]
        self._wrapped[signum] = live
        return live[-1] if live else None

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopped = True
        live = self._live(signum)
        (live.handler if live else _default_action)(signum, frame)
        if self._inside:
            raise _StopSignal

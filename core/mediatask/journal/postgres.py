"""The journal in PostgreSQL: one ledger that workers on several machines share.

Same states, records and statements as the SQLite file (:mod:`mediatask.journal.backend`), plus
what sharing needs:

- **Claims.** A worker takes jobs with ``FOR UPDATE SKIP LOCKED`` (two workers never take the
  same row) and holds each under a *lease* that it renews while it works (:meth:`claim`,
  :meth:`renew`, :meth:`release`). Leases are timed on the database's clock, so the workers'
  clocks need not agree.
- **Adoption.** A job whose lease ran out (its worker died or lost the database) is claimable
  again: a submitted task is followed by the next worker, never submitted again; a job left
  ``submitting`` is uncertain, as after a crash on one machine.
- **Fencing.** Each claim of a job raises its *lease epoch*, a fencing token. A worker's every
  write of the job carries its claim (its id and that epoch) and is refused unless the claim is
  still the job's current one (:meth:`_fence`): a worker that paused past its lease, or whose
  statements were held up, cannot touch a job another worker has claimed since, even one that
  worker has finished and let go. A refused write raises :class:`LeaseLostError` and changes
  nothing. Each write commits the state and its history event in one transaction and renews the
  lease; the intent to submit (:meth:`submitting`) is such a write, and the request's last byte
  goes out only once it has committed.

Needs the optional extra ``mediatask[postgres]`` (psycopg 3). The journal's statements are
synchronous, as for SQLite: each is one round trip on an open connection, short next to a
provider's answer (the intent to submit must be, as it is written from the submit's own
callback). A worker's coordination statements (claims, lease renewals, shared limits) run off
the event loop instead, on a connection of their own (:class:`OffLoop`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import trio

from mediatask.journal.backend import (
    Fence,
    JobRecord,
    JobState,
    JournalBackend,
    LeaseLostError,
    LedgerError,
    reconnecting,
    timestamp,
    worker_id,
)
from mediatask.journal.schema import migrate
from mediatask.model.errors import ConfigError, UsageError
from mediatask.model.redact import Redactor
from mediatask.settings.config import Settings

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "CLOSE_WAIT_SECONDS",
    "INSTALL_HINT",
    "LEASE_SECONDS",
    "OPEN_STATES",
    "URL_SCHEMES",
    "Admission",
    "LeaseLostError",
    "LedgerError",
    "OffLoop",
    "PostgresJournal",
    "is_database_url",
    "safe_url",
]

URL_SCHEMES = ("postgresql://", "postgres://")
INSTALL_HINT = "pip install 'mediatask[postgres]'"
LEASE_SECONDS = 30.0
"""How long a claim holds without renewal; workers renew at a third of it."""

T = TypeVar("T")

_NOW = "extract(epoch from clock_timestamp())::float8"
"""The database's clock, in seconds: leases are timed on it alone."""
_SCHEMA_LOCK = 0x6D6564696174  # any fixed number: serialises the first workers' CREATE TABLEs
OPEN_STATES = tuple(state for state in JobState if state.is_open)
"""The states a worker claims: work that no run has finished (or given up on) yet."""
_OPEN = ", ".join(f"'{state.value}'" for state in OPEN_STATES)


@attrs.frozen
class Admission:
    """The ledger's answer to one more request of a scope (:meth:`PostgresJournal.rate_admit`)."""

    entry: int | None
    """The request's log entry, or ``None``: it does not fit yet."""
    wait: float = 0.0
    """Seconds until it can fit, on what the log knows now."""
    exact: bool = False
    """The wait rests only on answered requests (and pauses): no answer can shorten it, so the
    caller may sleep all of it instead of asking again sooner."""


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


class PostgresJournal(JournalBackend):
    """A PostgreSQL ledger, open; its tables are made if missing.

    :param url: ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`` (libpq's form; options such
        as ``?sslmode=require`` pass through).
    :param lease_seconds: how long a claim holds unless renewed.
    :raises UsageError: psycopg is not installed.
    :raises ConfigError: the database cannot be reached or written.
    """

    def __init__(self, url: str, *, lease_seconds: float = LEASE_SECONDS) -> None:
        driver = _driver()
        from psycopg.rows import dict_row

        self.where = safe_url(url)
        self._url = url
        self.worker = worker_id()
        self.lease_seconds = lease_seconds
        self._claims: dict[str, int] = {}
        """The jobs this worker holds, each with the lease epoch of its claim."""
        password = urllib.parse.urlsplit(url).password
        self._redactor = Redactor((*Settings().secrets(), *([password] if password else [])))
        self._row_factory = dict_row
        self._interrupted = False
        self._stop_watch = _StopWatch()
        self._in_transaction = False
        try:
            self._db: psycopg.Connection[dict[str, Any]] = self._connect()
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                db = self._db
                migrate("postgres", lambda sql: db.execute(sql).fetchall(), db.execute)
                self._db.execute(
                    "INSERT INTO meta (name, value) VALUES ('id', %s) ON CONFLICT DO NOTHING",
                    (uuid.uuid4().hex,),
                )
        except driver.Error as exc:
            error = self._redactor.scrub(str(exc).strip().splitlines()[0] if str(exc) else "")
            raise ConfigError(f"cannot open the journal {self.where}: {error}") from None
        row = self._one("SELECT value FROM meta WHERE name = 'id'")
        self.id = row["value"] if row else ""

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        connection: psycopg.Connection[dict[str, Any]] = _driver().connect(
            self._url,
            autocommit=True,
            row_factory=self._row_factory,
            connect_timeout=10,
            # A transaction left open by a paused (or partitioned) worker holds its locks
            # from every other worker only this long.
            options=f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}",
        )
        return connection

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @property
    def interrupted(self) -> bool:
        """True once Ctrl-C or SIGTERM came during one of its statements (each statement
        fails at once after that: the process is stopping)."""
        return self._interrupted or self._stop_watch.stopped

    def sibling(self) -> PostgresJournal:
        """A second connection to this ledger for the same worker: its claims and leases are
        this one's (statements on it must not share this connection's transactions)."""
        other = PostgresJournal(self._url, lease_seconds=self.lease_seconds)
        other.worker = self.worker
        other._claims = self._claims  # one worker's claims, two connections
        return other

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Mapping[str, Any]]:
        with self._failing(reconnect=not self._in_transaction):
            cursor = self._db.execute(sql.replace("?", "%s"), params)
            return list(cursor.fetchall()) if cursor.description else []

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._failing(reconnect=not self._in_transaction):
            count: int = self._db.execute(sql.replace("?", "%s"), params).rowcount
            return count

    @contextlib.contextmanager
    def _failing(self, *, reconnect: bool = True) -> Iterator[None]:
        """Run statements on a live connection (made again first, after a restart or a killed
        session, when ``reconnect``), failing with a :class:`LedgerError` of one line without
        the password: when the database fails, and at once when a stop signal comes or the
        calling task is being cancelled."""
        if self._interrupted or self._stop_watch.stopped or _being_cancelled():
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
            said = self._redactor.scrub(str(exc).strip().splitlines()[0] if str(exc) else "")
            raise LedgerError(f"the ledger {self.where} failed: {said}") from None

    @contextlib.contextmanager
    def _atomic(self) -> Iterator[None]:
        with self._failing():
            self._db.execute("BEGIN")
            self._in_transaction = True  # its statements run on this connection, or fail
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if not (self._interrupted or self._db.closed or self._db.broken):
                    with contextlib.suppress(_driver().Error):
                        self._db.execute("ROLLBACK")
                raise  # else the server rolls back as the connection goes
            finally:
                self._in_transaction = False

    def _apply(self, update: str, params: Sequence[Any], event: tuple[Any, ...] | None) -> int:
        """One statement, so no transaction is left open across a pause of this process
        (holding the job's row from the other workers): the update, and the event inserted
        from what it changed."""
        if event is None:
            return self._execute(update, params)
        return self._execute(
            f"WITH changed AS ({update} RETURNING id) INSERT INTO events "  # noqa: S608  # ours
            "(job_id, at, kind, detail, worker) SELECT id, ?, ?, ?, ? FROM changed",
            (*params, *event[1:]),
        )

    def _fence(self, job_id: str) -> Fence:
        """The single place a write's claim is checked.

        A job this worker claimed: the claim (worker and epoch) must still be the job's
        current one, and the write renews its lease. A job it holds no claim on (a command
        following one task, another service): no worker may hold a live lease on it, and the
        write raises the epoch, so no claim taken before it can write after it.
        """
        epoch = self._claims.get(job_id)
        if epoch is None:
            return Fence(
                sets=", lease_epoch = lease_epoch + 1",
                where=f" AND (lease_until IS NULL OR lease_until < {_NOW})",
            )
        return Fence(
            sets=f", lease_until = {_NOW} + ?",
            set_params=(self.lease_seconds,),
            where=" AND worker = ? AND lease_epoch = ?",
            where_params=(self.worker, epoch),
        )

    def _refused(self, job_id: str) -> None:
        raise LeaseLostError(
            f"job {job_id}: another worker has taken it over (this worker's claim is no longer "
            "the job's current one): left to that worker, not written here"
        )

    # -- claims --------------------------------------------------------------------------------

    def claim(self, limit: int) -> list[JobRecord]:
        """Take up to ``limit`` open jobs nobody holds (oldest first), each under a fresh lease.

        A job another worker held until its lease ran out is *adopted*: its history says from
        whom.
        """
        rows = self._rows(
            f"""WITH picked AS (
                SELECT id, worker AS was, lease_until AS held FROM jobs
                WHERE state IN ({_OPEN}) AND (lease_until IS NULL OR lease_until < {_NOW})
                ORDER BY created_at, line, id LIMIT ? FOR UPDATE SKIP LOCKED
            )
            UPDATE jobs SET worker = ?, lease_until = {_NOW} + ?, lease_epoch = jobs.lease_epoch + 1
            FROM picked WHERE jobs.id = picked.id
            RETURNING jobs.*, picked.was, picked.held""",  # noqa: S608  # states are ours
            (limit, self.worker, self.lease_seconds),
        )
        records = []
        for row in rows:
            record = JobRecord.from_row(row)
            if row["held"] is not None and record.state is not JobState.PENDING:
                self._event(record.id, "adopted", f"lease of {row['was']} ran out", timestamp())
            records.append(record)
            self._claims[record.id] = int(row["lease_epoch"])
        records.sort(key=lambda r: (r.line is None, r.line or 0, r.id))
        return records

    def take(self, job_id: str) -> JobRecord | None:
        """Claim the job, whatever its state, unless another worker holds a live lease on it;
        the record as it stands under this claim, or ``None`` (held, or unknown).

        For decisions about a job no worker is working on (a re-run's, before the claims):
        they are written under a claim like any other write. :meth:`release` it after.
        """
        row = self._one(
            f"UPDATE jobs SET worker = ?, lease_until = {_NOW} + ?, lease_epoch = lease_epoch + 1 "  # noqa: S608
            f"WHERE id = ? AND (lease_until IS NULL OR lease_until < {_NOW}) RETURNING *",
            (self.worker, self.lease_seconds, job_id),
        )
        if row is None:
            return None
        self._claims[job_id] = int(row["lease_epoch"])
        return JobRecord.from_row(row)

    def renew(self) -> int:
        """Extend every lease this worker holds; how many it holds.

        Only claims it knows of: a claim whose answer was lost with the connection runs out.
        """
        held = list(self._claims.items())
        if not held:
            return 0
        return self._execute(
            f"UPDATE jobs SET lease_until = {_NOW} + ? FROM unnest(?::text[], ?::bigint[]) "  # noqa: S608
            "AS mine(id, epoch) WHERE jobs.id = mine.id AND jobs.lease_epoch = mine.epoch "
            "AND jobs.worker = ? AND jobs.lease_until IS NOT NULL",
            (self.lease_seconds, [i for i, _ in held], [e for _, e in held], self.worker),
        )

    def release(self, job_id: str) -> None:
        """Let go of the job (done with it for this run); a no-op if another worker holds it."""
        epoch = self._claims.pop(job_id, None)
        if epoch is not None:
            self._execute(
                "UPDATE jobs SET lease_until = NULL "
                "WHERE id = ? AND worker = ? AND lease_epoch = ?",
                (job_id, self.worker, epoch),
            )

    def held(self, job_id: str) -> bool:
        """True when another worker holds a live lease on the job."""
        row = self._one(
            f"SELECT 1 AS held FROM jobs WHERE id = ? AND worker <> ? AND lease_until >= {_NOW}",  # noqa: S608
            (job_id, self.worker),
        )
        return row is not None

    def next_expiry(self) -> float | None:
        """Seconds until the first lease on an open job runs out (0: one is claimable now).

        ``None`` when no job is open: nothing is left for any worker to do.
        """
        row = self._one(
            f"""SELECT COUNT(*) AS open,
                MIN(CASE WHEN lease_until IS NULL THEN 0 ELSE lease_until - {_NOW} END) AS wait
            FROM jobs WHERE state IN ({_OPEN})"""  # noqa: S608  # states are ours
        )
        if row is None or not row["open"]:
            return None
        return max(float(row["wait"]), 0.0)

    # -- shared rate limits (see mediatask.batch.shared_limits) --

    def rate_admit(
        self, scope: str, windows: Sequence[tuple[int, float]], count_within: float
    ) -> Admission:
        """Log one more request of ``scope`` if it fits every window now, for every worker.

        One worker at a time decides for a scope (an advisory lock for the transaction). Each
        request is logged at the latest moment the provider can have counted it (now plus
        ``count_within``, lowered to its answer's time by :meth:`rate_answered`). A request not
        admitted learns how long to wait and whether that wait is exact: a request still in
        flight is counted at its upper bound, and its answer may free room sooner, but a
        request answered is counted at its answer's time for good (any answer still to come is
        later than every answer already logged, so it cannot move the room that frees first).
        """
        longest = max(seconds for _, seconds in windows)
        most = max(limit for limit, _ in windows)
        with self._atomic():
            self._execute("SELECT pg_advisory_xact_lock(hashtext(?))", (scope,))
            now_row = self._one(f"SELECT {_NOW} AS now")  # the clock is ours
            now = float(now_row["now"]) if now_row else 0.0
            self._execute(
                "DELETE FROM rate_log WHERE scope = ? AND counted_at <= ?", (scope, now - longest)
            )
            latest = self._rows(
                "SELECT counted_at, answered FROM rate_log WHERE scope = ? "
                "ORDER BY counted_at DESC LIMIT ?",
                (scope, most),
            )
            paused = self._one("SELECT until FROM rate_pause WHERE scope = ?", (scope,))
            wait, exact = (float(paused["until"]) - now if paused else 0.0), True
            for limit, seconds in windows:
                if len(latest) >= limit:
                    counted = latest[limit - 1]
                    free = float(counted["counted_at"]) + seconds - now
                    if free > wait:
                        wait, exact = free, bool(counted["answered"])
            if wait > 0:
                return Admission(None, wait, exact)
            row = self._one(
                "INSERT INTO rate_log (scope, counted_at) VALUES (?, ?) RETURNING id",
                (scope, now + count_within),
            )
            return Admission(int(row["id"]) if row else 0)

    def rate_answered(self, entry: int) -> None:
        """The request logged as ``entry`` got its answer: it was counted by now at the latest."""
        self._execute(
            f"UPDATE rate_log SET counted_at = LEAST(counted_at, {_NOW}), answered = true "  # noqa: S608
            "WHERE id = ?",
            (entry,),
        )

    def rate_pause(self, scope: str, seconds: float) -> None:
        """No worker sends a request of ``scope`` for ``seconds`` (a 429, a reset header)."""
        self._execute(
            f"INSERT INTO rate_pause (scope, until) VALUES (?, {_NOW} + ?) "  # noqa: S608
            "ON CONFLICT (scope) DO UPDATE SET until = GREATEST(rate_pause.until, EXCLUDED.until)",
            (scope, seconds),
        )

    # -- a shared in-flight ceiling (see mediatask.batch.workers) --

    def flight_take(self, scope: str, job_id: str, ceiling: int) -> bool:
        """Take one of ``ceiling`` slots of ``scope`` (a provider and key) for ``job_id``.

        Slots are shared by every worker; one whose worker no longer holds the job's lease (it
        died, or let go) is freed here. False when all are taken.
        """
        with self._atomic():
            self._execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"flight:{scope}",))
            self._execute(
                f"""DELETE FROM flight WHERE scope = ? AND NOT EXISTS (
                    SELECT 1 FROM jobs WHERE jobs.id = flight.job_id
                    AND jobs.worker = flight.worker AND jobs.lease_until >= {_NOW})""",  # noqa: S608
                (scope,),
            )
            row = self._one("SELECT COUNT(*) AS n FROM flight WHERE scope = ?", (scope,))
            if row is not None and row["n"] >= ceiling:
                return False
            self._execute(
                "INSERT INTO flight (job_id, scope, worker) VALUES (?, ?, ?) ON CONFLICT (job_id) "
                "DO UPDATE SET scope = EXCLUDED.scope, worker = EXCLUDED.worker",
                (job_id, scope, self.worker),
            )
            return True

    def flight_release(self, job_id: str) -> None:
        """Give back the slot this worker took for ``job_id``."""
        self._execute("DELETE FROM flight WHERE job_id = ? AND worker = ?", (job_id, self.worker))


def _being_cancelled() -> bool:
    """True in a trio task that is being cancelled (unwinding after Ctrl-C, say): a statement
    then must not wait for a database that may not answer (the signal has come and gone)."""
    try:
        return trio.current_effective_deadline() == float("-inf")
    except RuntimeError:  # not in a trio task
        return False


class _StopSignal(Exception):  # noqa: N818  # a signal, not an error
    """SIGINT or SIGTERM came while a statement was waiting for the database."""


@attrs.define
class _StopWatch:
    """Sees SIGINT and SIGTERM for a journal whose statements run on the main thread.

    A worker's journal statements are synchronous on the event loop, which handles the signals
    only once they return: a database that does not answer would hold Ctrl-C for as long. So
    the handler in place (the event loop's) is wrapped: it still gets each signal, a statement
    under way is abandoned at once (psycopg waits in slices of a tenth of a second, running
    signal handlers between), and no statement starts after a signal came.
    """

    stopped: bool = False
    """A stop signal came: the process is stopping."""
    _inside: bool = False
    _handlers: dict[int, Callable[[int, FrameType | None], Any]] = attrs.field(factory=dict)

    @contextlib.contextmanager
    def statement(self) -> Iterator[None]:
        """Run a statement that a stop signal interrupts (on the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield  # off the loop: such statements are abandoned by their cancelled caller
            return
        for number in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(number)
            if callable(handler) and handler != self._stop:
                self._handlers[number] = handler
                signal.signal(number, self._stop)
        self._inside = True
        try:
            yield
        finally:
            self._inside = False

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopped = True
        self._handlers[signum](signum, frame)
        if self._inside:
            raise _StopSignal


IDLE_IN_TRANSACTION_MS = 5000
"""How long the server keeps a worker's transaction open while the worker says nothing."""
CLOSE_WAIT_SECONDS = 0.5
"""How long closing an :class:`OffLoop` waits for a statement abandoned by a cancelled caller."""


@attrs.define
class OffLoop:
    """A worker's coordination statements, run in a thread on a connection of their own.

    Claims, lease renewals and shared-limit admissions are asked for often; on the event loop, a
    slow database would hold every stream, download and Ctrl-C for as long as each round trip.
    Here a cancelled caller is let go at once (``abandon_on_cancel``): the statement finishes in
    its thread, and the next waits for it (a thread lock, not a trio one, so an abandoned
    statement still keeps its transaction to itself). A statement abandoned after it committed
    leaves what a worker killed at that moment would: a claim held until its lease runs out, or
    a rate-log entry for a request never sent (counted until ``count_within`` passes).
    """

    ledger: PostgresJournal
    """The connection the statements run on (:meth:`PostgresJournal.sibling`)."""
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    async def run(self, call: Callable[[PostgresJournal], T]) -> T:
        """``call(ledger)`` in a thread, one at a time; cancellable at any moment.

        While the ledger cannot be reached, ``call`` is tried again (on a new connection) with
        back-off (:func:`~mediatask.journal.backend.reconnecting`).
        """

        def locked() -> T:
            with self._lock:
                return call(self.ledger)

        return await reconnecting(lambda: trio.to_thread.run_sync(locked, abandon_on_cancel=True))

    @property
    def busy(self) -> bool:
        """True while a statement runs (or hangs, abandoned by its caller) on the connection."""
        return self._lock.locked()

    def close(self) -> None:
        """Close the connection once no statement runs on it; one abandoned and still running
        after :data:`CLOSE_WAIT_SECONDS` keeps it (the process's end closes it)."""
        if self._lock.acquire(timeout=CLOSE_WAIT_SECONDS):  # libpq: one thread per connection
            try:
                self.ledger.close()
            finally:
                self._lock.release()

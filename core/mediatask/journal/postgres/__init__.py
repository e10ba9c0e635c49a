"""The journal in PostgreSQL: one ledger that workers on several machines share.

Same states, records and statements as the SQLite file (:mod:`mediatask.journal.backend`), plus
what sharing needs, one concern a module:

- **The journal** (:mod:`.journal`, :class:`PostgresJournal`): the jobs and their history. Each
  write commits the state and its history event in one statement and is *fenced*: refused with
  :class:`LeaseLostError` unless this worker's claim is still the job's current one (a worker
  that paused past its lease, or whose statements were held up, cannot touch a job another
  worker has claimed since, even one that worker has finished and let go). The intent to submit
  is such a write, and the request's last byte goes out only once it has committed.
- **Claims and leases** (:mod:`.leases`): a worker takes jobs with ``FOR UPDATE SKIP LOCKED``
  and holds each under a lease it renews while it works, timed on the database's clock. A job
  whose lease ran out is *adopted* by the next worker: a submitted task is followed, never
  submitted again; a job left ``submitting`` is uncertain, as after a crash on one machine.
  Each claim raises the job's *lease epoch*, the fencing token.
- **Shared rates** (:mod:`.shared_rates`) and **in-flight ceilings** (:mod:`.in_flight`): a
  provider's request windows and its limit of tasks under way, kept for every worker at once.
- **The connection** (:mod:`.connection`): statements that reconnect, fail in one line without
  the password, and give way at once to Ctrl-C; **off the loop** (:mod:`.off_loop`): a worker's
  coordination statements (claims, renewals, shared limits) in a thread, on a connection of
  their own.

Needs the optional extra ``mediatask[postgres]`` (psycopg 3). The journal's statements are
synchronous, as for SQLite: each is one round trip on an open connection, short next to a
provider's answer (the intent to submit must be, as it is written from the submit's own
callback).
"""

from mediatask._moved import moved_names
from mediatask.journal.backend import LeaseLostError, LedgerError
from mediatask.journal.postgres.connection import (
    INSTALL_HINT,
    URL_SCHEMES,
    is_database_url,
    safe_url,
)
from mediatask.journal.postgres.journal import PostgresJournal
from mediatask.journal.postgres.leases import LEASE_SECONDS, OPEN_STATES
from mediatask.journal.postgres.off_loop import CLOSE_WAIT_SECONDS, OffLoop
from mediatask.journal.postgres.shared_rates import Admission

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

__getattr__ = moved_names(__name__)  # names the module's old path had elsewhere

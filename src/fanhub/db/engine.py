"""Engine and session factories.

SQLite is the embedded default: WAL, a busy timeout, and writes that take the write lock up front
(`BEGIN IMMEDIATE`) so concurrent writers queue instead of failing half-way. PostgreSQL is the
production database; there the worker claims rows with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from fanhub.config import Settings, get_settings


class FairLock:
    """A first-come, first-served lock.

    SQLite allows one writer; threads waiting in SQLite's busy handler sleep and retry, so a thread
    that commits and begins again at once (the worker, batch after batch) can starve the API's
    short writes for seconds. Queueing the process's writers here hands the lock over in order.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._waiting: deque[object] = deque()
        self._held = False

    def __enter__(self) -> None:
        ticket = object()
        with self._condition:
            self._waiting.append(ticket)
            while self._held or self._waiting[0] is not ticket:
                self._condition.wait()
            self._waiting.popleft()
            self._held = True

    def __exit__(self, *_: object) -> None:
        with self._condition:
            self._held = False
            self._condition.notify_all()

    @property
    def waiting(self) -> int:
        """Threads queued for the lock (a hint: read without taking the condition)."""
        return len(self._waiting)


class ProcessWriteLock:
    """SQLite's single writer, queued across processes (a sync and a `fanhub worker`, say).

    SQLite's busy handler makes a waiting process sleep and retry, up to 100 ms at a time, so a
    worker that commits and begins again at once keeps the lock for as long as it has work: a
    process that commits a sync page waited seconds. Here waiting processes block in the kernel
    on a POSIX lock of `<database>-lock` and announce themselves on a second byte, so a holder can
    see them (`others_waiting`) and step aside. SQLite's own locking stays the guarantee; this only
    orders the queue. POSIX locks never conflict within one process, where `FairLock` orders threads.
    """

    _WRITER = 0  # byte held by the process that writes
    _INTENT = 1  # byte share-locked by every process waiting to write

    def __init__(self, database_path: str) -> None:
        self._fd = os.open(database_path + "-lock", os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_SH, 1, self._INTENT)
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, self._WRITER)
        finally:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self._INTENT)

    def __exit__(self, *_: object) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self._WRITER)
        if self.others_waiting():
            # The kernel has woken the waiter; without a pause this process, already running,
            # would usually take the lock again before the waiter is scheduled.
            time.sleep(0.001)

    def others_waiting(self) -> bool:
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, self._INTENT)
        except OSError:
            return True
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self._INTENT)
        return False

    def close(self) -> None:
        os.close(self._fd)


class Database:
    """One engine per process, with read and write session factories."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # The SQLite file, when there is one (not in memory): its folder is created, its lock file sits beside it.
        database_file = make_url(url).database if self.is_sqlite else None
        if database_file == ":memory:":
            database_file = None
        if database_file:
            Path(database_file).resolve().parent.mkdir(parents=True, exist_ok=True)
        if self.is_sqlite:
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size + 10
            )
            self._configure_sqlite(self.engine, sqlite_synchronous)
        else:
            # psycopg's pipelined executemany beats multi-row VALUES texts, which it parses anew each time.
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, use_insertmanyvalues=False
            )
        self._write_lock = FairLock() if self.is_sqlite else None
        self._writers_expected: Callable[[], bool] | None = None
        self._process_lock = ProcessWriteLock(database_file) if database_file else None
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False)
        self._write_replayable = None
        if self.is_sqlite and sqlite_synchronous.upper() in ("FULL", "EXTRA"):
            self._write_replayable = sessionmaker(
                self.engine.execution_options(sqlite_immediate=True, sqlite_synchronous="NORMAL"),
                expire_on_commit=False,
            )

    @staticmethod
    def _configure_sqlite(engine: Engine, synchronous: str) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from pysqlite so BEGIN is ours to issue.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Applying a batch touches index pages all over a large file: read them through a
            # shared memory map and keep more of them per connection than SQLite's 2 MB default.
            cursor.execute("PRAGMA mmap_size=1073741824")
            cursor.execute("PRAGMA cache_size=-32768")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            options = conn.get_execution_options()
            if options.get("sqlite_immediate", False):
                # Per transaction, as pooled connections serve both kinds of writes; said only when it
                # changes (each statement is a GIL hand-off, paid while holding the write lock).
                wanted = options.get("sqlite_synchronous", synchronous)
                if conn.connection.info.get("synchronous") != wanted:
                    conn.exec_driver_sql(f"PRAGMA synchronous={wanted}")
                    conn.connection.info["synchronous"] = wanted
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

    @contextmanager
    def write(self, *, replayable: bool = False) -> Iterator[Session]:
        """A transaction that commits on success; on SQLite it holds the write lock from the start.

        `replayable`: losing this commit to a power failure (not to a killed process) is harmless
        because its work would simply be done again, as when the ingest worker applies a batch
        and marks it applied in one transaction. SQLite then skips the commit's fsync; the WAL is
        append-only, so the next durable commit makes it permanent too.
        """
        factory = self._write_replayable if replayable and self._write_replayable else self._write
        with (
            self._write_lock or nullcontext(),
            self._process_lock or nullcontext(),
            factory() as session,
            session.begin(),
        ):
            yield session

    def writers_waiting(self) -> bool:
        """True when another thread or process waits to write (SQLite's single writer), or is about to
        (`expect_writers`: an API process with requests in flight)."""
        if self._write_lock is not None and self._write_lock.waiting > 0:
            return True
        if self._writers_expected is not None and self._writers_expected():
            return True
        return self._process_lock is not None and self._process_lock.others_waiting()

    def expect_writers(self, hint: Callable[[], bool]) -> None:
        """Long writers (the ingest worker) hand over early while `hint()` says writers are coming."""
        self._writers_expected = hint

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    def warm_up(self, connections: int) -> None:
        """Open pooled connections ahead of the first requests (each runs the PRAGMAs and maps the
        file): a server's first burst of concurrent requests otherwise paid for it, ~2x its p50."""
        opened: list[Connection] = []
        try:
            for _ in range(connections):
                opened.append(self.engine.connect())
        except DBAPIError:
            pass  # best effort: a server starts (and reports 503 on /healthz) while the database is down
        finally:
            for connection in opened:
                connection.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._process_lock is not None:
            self._process_lock.close()
            self._process_lock = None


_databases: dict[str, Database] = {}


def get_database(settings: Settings | None = None) -> Database:
    """The process-wide Database for the configured URL."""
    settings = settings or get_settings()
    database = _databases.get(settings.database_url)
    if database is None:
        database = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        _databases[settings.database_url] = database
    return database


def redacted_url(database_url: str) -> str:
    """The database URL with its password hidden, for printing."""
    return make_url(database_url).render_as_string(hide_password=True)

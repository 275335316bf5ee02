"""The SQLite write queue across processes (`db.engine.ProcessWriteLock`).

These run on a SQLite file of their own whatever database the suite targets: PostgreSQL has no
single writer to queue for.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from fanhub.db.engine import Database

WRITER = """
import sys
from sqlalchemy import text
from fanhub.db.engine import Database
database = Database(sys.argv[1])
with database.write() as session:
    session.execute(text("INSERT INTO log (who) VALUES ('other process')"))
"""


def _wait_until(condition: object, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_a_process_waiting_to_write_is_seen_and_goes_next(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    database = Database(url)
    with database.write() as session:
        session.execute(text("CREATE TABLE log (id INTEGER PRIMARY KEY, who TEXT)"))
    other: subprocess.Popen[bytes] | None = None
    try:
        with database.write() as session:
            assert not database.writers_waiting()
            other = subprocess.Popen([sys.executable, "-c", WRITER, url])
            # The other process blocks on the queue (not in SQLite's sleep-and-retry) and says so.
            assert _wait_until(database.writers_waiting)
            assert other.poll() is None
            session.execute(text("INSERT INTO log (who) VALUES ('holder')"))
        assert other.wait(timeout=30) == 0
        assert not database.writers_waiting()
        with database.read() as session:
            assert list(session.scalars(text("SELECT who FROM log ORDER BY id"))) == ["holder", "other process"]
    finally:
        if other is not None and other.poll() is None:
            other.kill()
        database.dispose()

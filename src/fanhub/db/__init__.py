"""Database plumbing: engine and sessions for SQLite and PostgreSQL, the declarative base, migrations."""

from fanhub.db.base import Base
from fanhub.db.engine import Database, get_database

__all__ = ["Base", "Database", "get_database"]

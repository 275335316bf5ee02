"""Alembic environment: runs migrations against the URL given by fanhub.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from fanhub import models  # noqa: F401  (registers every table)
from fanhub.db.base import Base

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()

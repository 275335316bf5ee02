"""What every `fanhub` command shares: `--json` output, clean errors, and sessions on a migrated database.

Every command takes `--json` and then prints exactly one JSON object on stdout (errors included,
as `{"error": ...}` with a non-zero exit). Without it, output is for people, with Rich. Domain
command modules (`<domain>/cli.py`) import this, never the root `fanhub.cli`, which imports them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from fanhub.config import get_settings
from fanhub.db.engine import get_database
from fanhub.errors import FanhubError

# soft_wrap: links and tokens must stay on one line so they can be copied whole.
console = Console(stderr=False, soft_wrap=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")]


def emit(as_json: bool, payload: dict[str, Any], human: str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(payload, default=str) + "\n")
    else:
        console.print(human if human is not None else payload)


def fail(as_json: bool, message: str, code: int = 1) -> NoReturn:
    if as_json:
        sys.stdout.write(json.dumps({"error": message}) + "\n")
    else:
        Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@contextmanager
def write_session(as_json: bool) -> Iterator[Session]:
    """A committed write transaction on a migrated database; domain errors become clean CLI errors."""
    ensure_migrated()
    try:
        with get_database().write() as session:
            yield session
    except FanhubError as exc:
        fail(as_json, str(exc))


@contextmanager
def read_session(as_json: bool) -> Iterator[Session]:
    ensure_migrated()
    try:
        with get_database().read() as session:
            yield session
    except FanhubError as exc:
        fail(as_json, str(exc))


_migrated = False


def ensure_migrated() -> None:
    global _migrated
    if not _migrated:
        from fanhub.db.migrate import upgrade

        logging.getLogger("alembic").setLevel(logging.WARNING)
        upgrade(get_settings().database_url)
        _migrated = True

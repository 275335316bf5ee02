"""Queries on CSV imports start here: the organization filter (see `db/repository.py`)."""

from __future__ import annotations

from fanhub.db.repository import Repository
from fanhub.imports.models import ContactImport


class ImportRepository(Repository[ContactImport]):
    model = ContactImport
    noun = "import"

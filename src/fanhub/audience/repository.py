"""Queries on contacts, tags and lists start here: the organization filter (see `db/repository.py`)."""

from __future__ import annotations

from fanhub.audience.models import AudienceList, Contact, Tag
from fanhub.db.repository import Repository


class ContactRepository(Repository[Contact]):
    model = Contact
    noun = "contact"


class TagRepository(Repository[Tag]):
    model = Tag
    noun = "tag"


class ListRepository(Repository[AudienceList]):
    model = AudienceList
    noun = "list"

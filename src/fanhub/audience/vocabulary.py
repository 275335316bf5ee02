"""The organization's vocabulary that incoming contacts must use: tags, lists, genres and ticketers.

Tags and lists are created by staff first (as in Cymbal); genres and ticketers are deployment-wide
data files (`audience/data/*.txt`, overridable with FANHUB_GENRES_FILE / FANHUB_TICKETERS_FILE).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session

from fanhub.audience.service import existing_list_ids, tag_ids_by_name
from fanhub.config import get_settings

_DATA = Path(__file__).parent / "data"


def _read_words(path: Path) -> tuple[str, ...]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


@lru_cache
def genres() -> tuple[str, ...]:
    return _read_words(get_settings().genres_file or _DATA / "genres.txt")


@lru_cache
def ticketers() -> tuple[str, ...]:
    return _read_words(get_settings().ticketers_file or _DATA / "ticketers.txt")


class VocabularyCheck:
    """Collects `{index, field, message}` errors for values the organization does not know."""

    def __init__(self, session: Session, organization_id: int) -> None:
        self.session = session
        self.organization_id = organization_id
        self.errors: list[dict[str, object]] = []

    def check(self, items: Sequence[tuple[int | None, str, list[str], int | None, list[str], str | None]]) -> None:
        """Each item: (index, field prefix, tags, list_id, genres, ticketer)."""
        known_tags = tag_ids_by_name(self.session, self.organization_id, {t for i in items for t in i[2]})
        known_lists = existing_list_ids(self.session, self.organization_id, {i[3] for i in items if i[3] is not None})
        known_genres = set(genres())
        known_ticketers = set(ticketers())
        for index, prefix, tags, list_id, item_genres, ticketer in items:
            for position, tag in enumerate(tags):
                if tag not in known_tags:
                    self._error(
                        index,
                        f"{prefix}.tags[{position}]",
                        f"tag {tag!r} does not exist in this organization; create it first",
                    )
            if list_id is not None and list_id not in known_lists:
                self._error(index, f"{prefix}.list_id", f"list {list_id} does not exist in this organization")
            for position, genre in enumerate(item_genres):
                if genre not in known_genres:
                    self._error(
                        index,
                        f"{prefix}.genres[{position}]",
                        f"genre {genre!r} is not on the genre list (GET /v1/partners/genres)",
                    )
            if ticketer is not None and ticketer not in known_ticketers:
                self._error(
                    index,
                    "interested_in_event.ticketer" if index is None else f"{prefix}.ticketer",
                    f"ticketer {ticketer!r} is not supported; one of: {', '.join(known_ticketers)}",
                )

    def _error(self, index: int | None, field: str, message: str) -> None:
        self.errors.append({"index": index, "field": field, "message": message})
